#include "stage.hpp"

#include "key_scan.hpp"
#include "logging.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <fmt/format.h>

namespace rtcrm::detail {
namespace {

bool valid_utf8(std::string_view s) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();
    while (p < end) {
        const unsigned char c = *p;
        std::size_t len = 0;
        std::uint32_t cp = 0;
        if (c < 0x80) {
            ++p;
            continue;
        }
        if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (static_cast<std::size_t>(end - p) < len) {
            return false;
        }
        for (std::size_t i = 1; i < len; ++i) {
            if ((p[i] & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        p += len;
    }
    return true;
}

std::string base64(std::string_view in) {
    static constexpr char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    std::size_t i = 0;
    const auto* d = reinterpret_cast<const unsigned char*>(in.data());
    for (; i + 2 < in.size(); i += 3) {
        const std::uint32_t v = (d[i] << 16) | (d[i + 1] << 8) | d[i + 2];
        out += table[(v >> 18) & 63];
        out += table[(v >> 12) & 63];
        out += table[(v >> 6) & 63];
        out += table[v & 63];
    }
    if (i < in.size()) {
        std::uint32_t v = d[i] << 16;
        if (i + 1 < in.size()) {
            v |= d[i + 1] << 8;
        }
        out += table[(v >> 18) & 63];
        out += table[(v >> 12) & 63];
        out += i + 1 < in.size() ? table[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

// Keeps the events for which `keep(event&, index)` is true, in order (the predicate may
// complete the others: reject, ack).
template <typename Keep>
void retain_if(std::vector<event>& batch, Keep&& keep) {
    std::size_t kept = 0;
    for (std::size_t i = 0; i < batch.size(); ++i) {
        if (!keep(batch[i], i)) {
            continue;
        }
        if (kept != i) {
            batch[kept] = std::move(batch[i]);
        }
        ++kept;
    }
    batch.resize(kept);
}

}  // namespace

void stage_counters::add_to(runtime_stats& s, std::array<std::uint64_t, reasons>& reasons_sum) const {
    s.events_in += events_in.load(std::memory_order_relaxed);
    s.processed += processed.load(std::memory_order_relaxed);
    s.dropped += dropped.load(std::memory_order_relaxed);
    s.replayed += replayed.load(std::memory_order_relaxed);
    s.dead_lettered += dead_lettered.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < reasons; ++i) {
        reasons_sum[i] += by_reason[i].load(std::memory_order_relaxed);
    }
    for (std::size_t i = 0; i < stream_count; ++i) {
        s.outputs[i] += outputs[i].load(std::memory_order_relaxed);
    }
    s.handler_errors += handler_errors.load(std::memory_order_relaxed);
    s.store_errors += store_errors.load(std::memory_order_relaxed);
    s.cached_profiles += cached.load(std::memory_order_relaxed);
    s.evicted_profiles += evicted.load(std::memory_order_relaxed);
    s.expired_profiles += expired.load(std::memory_order_relaxed);
    event_latency.add_to(s.event_latency);
    s.trimmed_profiles += trimmed.load(std::memory_order_relaxed);
}

void output_buffer::dispatch() {
    for (std::size_t s = 0; s < stream_count; ++s) {
        auto& pending = pending_[s];
        if (pending.empty()) {
            continue;
        }
        const auto& sinks = (*sinks_)[s];
        if (sinks.empty()) {
            // Nobody listens on this stream: the outputs are done with.
            for (auto& out : pending) {
                out.ack.ack();
            }
            pending.clear();
            continue;
        }
        // Every sink but the last gets copies with their own ack shares; the last takes
        // the originals. An output is complete when every sink acked its copy.
        for (std::size_t k = 0; k < sinks.size(); ++k) {
            const bool last = k + 1 == sinks.size();
            if (!last) {
                copies_.clear();
                copies_.reserve(pending.size());
                for (const auto& out : pending) {
                    copies_.push_back(output{out.stream, out.player, out.body, out.ack.share(), out.ingest_ns});
                }
            }
            auto& batch = last ? pending : copies_;
            const activity_scope in_sink(activity_, shard_activity::part::sink, shard_activity::sink_index(s, k));
            try {
                sinks[k]->consume(batch);
            } catch (const std::exception& e) {
                // Outputs the sink did not take are nacked when `batch` is cleared below,
                // so their events are not committed; the pipeline goes on.
                stage_counters::bump(counters_->handler_errors);
                log_fmt(log_level::error, "runtime", "sink {} failed: {}", sinks[k]->name(), e.what());
            }
            batch.clear();
        }
    }
}

std::string dead_letter_body(errc code, std::string_view reason, std::string_view source_name, const origin& where,
                             std::string_view raw) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    auto str = [&](std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); };
    w.StartObject();
    w.Key("reason");
    str(errc_name(code));
    w.Key("detail");
    str(reason);
    w.Key("source");
    str(source_name);
    w.Key("partition");
    w.Int(where.partition);
    w.Key("offset");
    w.Int64(where.offset);
    if (valid_utf8(raw)) {
        w.Key("raw");
        str(raw);
    } else {
        w.Key("raw_base64");
        str(base64(raw));
    }
    w.EndObject();
    return {buf.GetString(), buf.GetSize()};
}

void dead_letter_record(record& rec, const failure& why, ack_token ack, const std::vector<std::string>& source_names,
                        output_buffer& outputs, stage_counters& counters) {
    const auto code = static_cast<errc>(why.code.value());
    const std::string_view source_name =
        rec.origin.source < source_names.size() ? std::string_view{source_names[rec.origin.source]} : "";
    // The transport key (a Kafka message key) still names the player when the bytes do not.
    player_key player = rec.key ? player_key{*rec.key} : player_key{};
    outputs.add(output{stream::dead_letter, std::move(player),
                       dead_letter_body(code, why.reason, source_name, rec.origin, rec.bytes), std::move(ack),
                       steady_now_ns()});
    stage_counters::bump(counters.dead_lettered);
    stage_counters::bump(counters.by_reason[stage_counters::reason_slot(code)]);
    stage_counters::bump(counters.outputs[static_cast<std::size_t>(stream::dead_letter)]);
}

void stage_context::emit(event& cause, stream to, std::string body) {
    outputs_->add(output{to, cause.player(), std::move(body), cause.ack().share(), cause.ingest_ns()});
    stage_counters::bump(counters_->outputs[static_cast<std::size_t>(to)]);
}

void stage_context::reject(event& ev, errc code, std::string_view reason) {
    if (current_ != nullptr) {
        const auto i = index_of(ev);
        if (i >= fates_.size() || fates_[i] != fate::live) {
            return;  // not in this batch, or already rejected or dropped
        }
        fates_[i] = fate::rejected;
        ++removed_;
    }
    const auto& names = *source_names_;
    const std::string_view source_name = ev.origin().source < names.size() ? std::string_view{names[ev.origin().source]} : "";
    outputs_->add(output{stream::dead_letter, ev.player(), dead_letter_body(code, reason, source_name, ev.origin(), ev.raw()),
                         ev.ack().share(), ev.ingest_ns()});
    stage_counters::bump(counters_->dead_lettered);
    stage_counters::bump(counters_->by_reason[stage_counters::reason_slot(code)]);
    stage_counters::bump(counters_->outputs[static_cast<std::size_t>(stream::dead_letter)]);
    ev.ack().ack();
}

void stage_context::drop(event& ev) {
    if (current_ != nullptr) {
        const auto i = index_of(ev);
        if (i >= fates_.size() || fates_[i] != fate::live) {
            return;
        }
        fates_[i] = fate::dropped;
        ++removed_;
    }
    stage_counters::bump(counters_->dropped);
    ev.ack().ack();
}

void stage_context::run(std::vector<std::unique_ptr<bolt>>& bolts, std::vector<event>& batch,
                        shard_activity::part group) {
    for (std::size_t k = 0; k < bolts.size(); ++k) {
        auto& b = bolts[k];
        if (batch.empty()) {
            return;
        }
        const activity_scope in_bolt(group == shard_activity::part::none ? nullptr : activity_, group,
                                     static_cast<std::uint32_t>(k));
        current_ = batch.data();
        fates_.assign(batch.size(), fate::live);
        removed_ = 0;
        try {
            b->process(std::span<event>{batch}, *this);
        } catch (const std::exception& e) {
            stage_counters::bump(counters_->handler_errors);
            const auto reason = fmt::format("bolt {} threw: {}", b->name(), e.what());
            for (auto& ev : batch) {
                reject(ev, errc::handler_failed, reason);
            }
        } catch (...) {
            stage_counters::bump(counters_->handler_errors);
            const auto reason = fmt::format("bolt {} threw a non-standard exception", b->name());
            for (auto& ev : batch) {
                reject(ev, errc::handler_failed, reason);
            }
        }
        current_ = nullptr;
        if (removed_ > 0) {
            retain_if(batch, [&](const event&, std::size_t i) { return fates_[i] == fate::live; });
        }
    }
}

// ---------------------------------------------------------------------------------------

ingest_stage::ingest_stage(std::uint32_t source_index, const runtime_options& options,
                           const std::vector<std::string>& source_names, std::uint32_t shards, bool resumable)
    : source_index_(source_index), options_(&options), source_names_(&source_names), shards_(shards), resumable_(resumable) {}

std::uint32_t shard_of_record(const record& rec, const parse_options& parse, std::uint32_t shards) {
    auto shard_of_text = [&](std::string_view text) { return (murmur2(text) & 0x7fffffffU) % shards; };
    if (rec.key && !rec.key->empty()) {
        return shard_of_text(*rec.key);
    }
    if (rec.bytes.size() <= parse.max_size) {
        const auto key = scan_key(rec.bytes, parse.key_field);
        if (key.what != scanned_key::kind::unknown) {
            return shard_of_text(key.text);
        }
        // Escaped strings and other rare shapes: ask the real parser.
        if (auto parsed = parse_event(std::string_view{rec.bytes}, parse)) {
            return parsed->player().shard(shards);
        }
    }
    // Bytes that will not parse: any shard will dead-letter them; spread them out.
    return shard_of_text(rec.bytes);
}

std::uint32_t ingest_stage::shard_of(const record& rec) const {
    return shard_of_record(rec, options_->parse, shards_);
}

std::size_t ingest_stage::process(std::vector<record>& records, std::size_t first, std::vector<router::batch>& per_shard) {
    std::size_t i = first;
    for (; i < records.size(); ++i) {
        record& rec = records[i];
        rec.origin.source = source_index_;
        auto& part = partitions_[rec.origin.partition];
        if (!part.tracker) {
            part.tracker = std::make_unique<offset_tracker>(options_->max_in_flight);
        }
        // Sources without positions still get a sequence, so every event is tracked.
        const std::int64_t offset = rec.origin.offset >= 0 ? rec.origin.offset : part.next_sequence;
        auto token = part.tracker->track(offset);
        if (!token) {
            break;  // this partition has max_in_flight events in flight: let the caller wait
        }
        if (rec.origin.offset < 0) {
            rec.origin.offset = offset;
            ++part.next_sequence;
            rec.origin.resumable = false;  // a sequence number of this run, not a position
        } else {
            rec.origin.resumable = resumable_;
        }
        stage_counters::bump(counters_.events_in);
        const auto shard = shard_of(rec);
        per_shard[shard].push_back(routed_record{std::move(rec), std::move(*token)});
    }
    return i;
}

std::vector<source_position> ingest_stage::advance() {
    std::vector<source_position> moved;
    std::uint64_t failed = released_failed_;
    for (auto& [partition, part] : partitions_) {
        // Read after advance(): every event it retired has its nack counted by then (the
        // count is bumped before the event's slot is released), so none is missed.
        const auto pos = part.tracker->advance();
        failed += part.tracker->failed();
        if (pos && pos != part.reported) {
            moved.push_back(source_position{(*source_names_)[source_index_], partition, *pos});
            part.reported = pos;
        }
    }
    // Released trackers: free those whose last token completed.
    std::erase_if(released_, [&](std::unique_ptr<offset_tracker>& t) {
        t->advance();
        if (t->in_flight() > 0) {
            failed += t->failed();
            return false;
        }
        released_failed_ += t->failed();
        failed += t->failed();
        return true;
    });
    counters_.nacked.store(failed, std::memory_order_relaxed);
    return moved;
}

std::vector<source_position> ingest_stage::safe_positions() {
    std::vector<source_position> out;
    for (auto& [partition, part] : partitions_) {
        if (const auto pos = part.tracker->advance()) {
            out.push_back(source_position{(*source_names_)[source_index_], partition, *pos});
        }
    }
    return out;
}

std::size_t ingest_stage::in_flight(std::int32_t partition) {
    const auto it = partitions_.find(partition);
    if (it == partitions_.end()) {
        return 0;
    }
    it->second.tracker->advance();
    return it->second.tracker->in_flight();
}

void ingest_stage::release(std::int32_t partition) {
    const auto it = partitions_.find(partition);
    if (it == partitions_.end()) {
        return;
    }
    it->second.tracker->advance();
    if (it->second.tracker->in_flight() > 0) {
        released_.push_back(std::move(it->second.tracker));
    } else {
        released_failed_ += it->second.tracker->failed();
    }
    partitions_.erase(it);
}

std::optional<std::int64_t> ingest_stage::position(std::int32_t partition) const {
    const auto it = partitions_.find(partition);
    return it == partitions_.end() ? std::nullopt : it->second.reported;
}

std::size_t ingest_stage::in_flight() {
    std::size_t n = 0;
    for (const auto& [partition, part] : partitions_) {
        n += part.tracker->in_flight();
    }
    for (auto& t : released_) {
        t->advance();
        n += t->in_flight();
    }
    return n;
}

// ---------------------------------------------------------------------------------------

class shard_stage::context final : public stage_context {
public:
    context(shard_stage& owner, const std::vector<std::string>& source_names)
        : stage_context(owner.index_, *owner.options_, source_names, owner.outputs_, owner.counters_, &owner.activity_),
          owner_(&owner) {}

    profile* profile_of(const event& ev) override {
        if (!profiles_open_) {
            return nullptr;  // ingest bolts run before profiles are loaded
        }
        const auto it = owner_->cache_.find(ev.player());
        if (it == owner_->cache_.end()) {
            return nullptr;  // not an event of this shard's batch
        }
        owner_->mark_dirty(it->second);
        return &it->second.p;
    }

    // Ingest bolts get no profiles (as documented), even for players already cached.
    void open_profiles(bool open) noexcept { profiles_open_ = open; }

private:
    shard_stage* owner_;
    bool profiles_open_ = true;
};

shard_stage::shard_stage(std::uint32_t index, const runtime_options& options,
                         std::vector<std::unique_ptr<bolt>> ingest_bolts, std::vector<std::unique_ptr<bolt>> bolts,
                         const sink_table& sinks, const std::vector<std::string>& source_names,
                         std::shared_ptr<profile_store> store, store_committer* committer)
    : index_(index),
      options_(&options),
      ingest_bolts_(std::move(ingest_bolts)),
      bolts_(std::move(bolts)),
      sinks_(&sinks),
      source_names_(&source_names),
      store_(std::move(store)),
      outputs_(sinks, counters_, &activity_),
      context_(std::make_unique<context>(*this, source_names)),
      committer_(committer),
      durable_(store_->durable()) {
    next_write_back_ = std::chrono::steady_clock::now() + (durable_ ? options.durable_store_interval : options.store_interval);
}

shard_stage::~shard_stage() = default;

// Profiles copied into a volatile store per write-back step, while the shard is idle (see
// write_back_while_idle) or at a tick (see maybe_write_back). A copy costs ~1-3 us (the
// history ring included), so a step holds an event that arrives meanwhile ~0.1-0.2 ms.
constexpr std::size_t idle_write_back_chunk = 32;
constexpr std::size_t tick_write_back_chunk = 64;

void shard_stage::mark_dirty(cached& c) {
    if (!c.dirty) {
        c.dirty = true;
        dirty_.push_back(&c);
    }
}

void shard_stage::load_profiles(std::vector<event>& batch) {
    missing_.clear();
    for (const auto& ev : batch) {
        auto [it, inserted] = cache_.try_emplace(ev.player());
        if (inserted) {
            it->second.loading = true;
            missing_.push_back(ev.player());
            lru_.push_front(&it->first);
            it->second.lru = lru_.begin();
        } else {
            lru_.splice(lru_.begin(), lru_, it->second.lru);  // most recently used
        }
    }
    if (missing_.empty()) {
        return;
    }
    loaded_.assign(missing_.size(), std::nullopt);
    std::error_code ec;
    {
        const activity_scope in_store(&activity_, shard_activity::part::loading_profiles);
        ec = store_->get(missing_, loaded_);
    }
    if (ec) {
        // Never invent empty profiles over stored ones: the events of these players are
        // dead-lettered (retriable store errors can be replayed from there).
        stage_counters::bump(counters_.store_errors);
        const auto reason = fmt::format("profile store {}: {}", store_->name(), ec.message());
        retain_if(batch, [&](event& ev, std::size_t) {
            if (cache_.find(ev.player())->second.loading) {
                context_->reject(ev, errc::store_error, reason);
                return false;
            }
            return true;
        });
        for (const auto& key : missing_) {
            forget(key);
        }
        outputs_.dispatch();
        return;
    }
    for (std::size_t i = 0; i < missing_.size(); ++i) {
        auto& entry = cache_.find(missing_[i])->second;
        entry.loading = false;
        entry.p = loaded_[i] ? std::move(*loaded_[i]) : profile{missing_[i]};
    }
}

void shard_stage::expire_profiles(const std::vector<event>& batch) {
    std::int64_t newest = counters_.newest_event_ts.load(std::memory_order_relaxed);
    for (const auto& ev : batch) {
        newest = std::max(newest, ev.ts());
    }
    counters_.newest_event_ts.store(newest, std::memory_order_relaxed);
    if (!options_->expiry.enabled()) {
        return;
    }
    // Judged at the event's own time, once per player per batch (by its first event), so
    // the answer does not depend on when the background sweep last ran.
    for (const auto& ev : batch) {
        auto& entry = cache_.find(ev.player())->second;
        if (entry.p.last_event_ts() == 0 || entry.p.last_event_ts() >= ev.ts()) {
            continue;  // new, or already judged in this batch (or an out-of-order event)
        }
        if (apply_expiry(entry.p, options_->expiry, ev.ts()) == expiry_verdict::expired) {
            entry.p = profile{ev.player()};
            stage_counters::bump(counters_.expired);
        }
    }
}

void shard_stage::process(router::batch& records) {
    const activity_scope step(&activity_, shard_activity::part::batch);
    auto& batch = events_;
    batch.clear();
    for (auto& r : records) {
        auto parsed = parse_event(std::move(r.rec), options_->parse);
        if (!parsed) {
            dead_letter_record(r.rec, parsed.error(), std::move(r.ack), *source_names_, outputs_, counters_);
            continue;
        }
        parsed->set_ack(std::move(r.ack));
        batch.push_back(std::move(parsed).value());
    }
    records.clear();
    context_->open_profiles(false);
    // Validation and filters: no profile needed yet.
    context_->run(ingest_bolts_, batch, shard_activity::part::ingest_bolt);
    context_->open_profiles(true);
    load_profiles(batch);
    expire_profiles(batch);
    skip_applied(batch);
    context_->run(bolts_, batch, shard_activity::part::shard_bolt);
    for (auto& ev : batch) {
        auto& entry = cache_.find(ev.player())->second;
        if (options_->record_history) {
            entry.p.record_event(ev.type(), ev.ts(), ev.id(), options_->limits);
        } else {
            entry.p.touch(ev.ts());
        }
        if (ev.origin().resumable) {
            entry.p.mark_applied((*source_names_)[ev.origin().source], ev.origin().partition, ev.origin().offset);
        }
        mark_dirty(entry);
    }
    stage_counters::bump(counters_.processed, batch.size());
    outputs_.dispatch();
    const auto handed_over = steady_now_ns();  // one clock read per batch
    for (const auto& ev : batch) {
        counters_.event_latency.record(handed_over - ev.ingest_ns());
    }
    // Outputs hold their own shares now; the events' own shares complete them, at once
    // with a volatile store, or once the group commit holding their effects is durable.
    for (auto& ev : batch) {
        if (durable_) {
            pending_acks_.push_back(std::move(ev.ack()));
        } else {
            ev.ack().ack();
        }
    }
    batch.clear();
    // A durable store writes them all (acks wait for it). A volatile one never writes
    // after a batch, and store_max_batch does not apply to it: its rounds come every
    // store_interval and are copied while the shard idles and a chunk per tick
    // (write_back_while_idle, maybe_write_back). Writing past store_max_batch dirty
    // profiles, as before, meant copying without pause once more players than that were
    // active (about a profile copy per processed event, more than the event itself), and
    // held the events behind each copy (benchmarks/RESULTS.md, "Embedding").
    if (durable_ && dirty_.size() >= options_->store_max_batch) {
        write_back();
    }
    evict_to_bound();
    stage_counters::set(counters_.cached, cache_.size());
}

void shard_stage::forget(const player_key& key) {
    const auto it = cache_.find(key);
    if (it != cache_.end()) {
        lru_.erase(it->second.lru);
        cache_.erase(it);
    }
}

void shard_stage::evict_to_bound() {
    const auto bound = options_->cache_max_profiles;
    if (bound == 0 || cache_.size() <= bound) {
        return;
    }
    // Only clean profiles may leave: write the dirty ones first (one group commit). Evict
    // down to 90% of the bound, so a full cache does not cost a write-back per batch.
    write_back();
    const auto target = bound - bound / 10;
    while (cache_.size() > target && !lru_.empty()) {
        const player_key* key = lru_.back();
        const auto it = cache_.find(*key);
        if (it->second.dirty || it->second.loading ||
            (committer_ != nullptr && it->second.commit_seq > committer_->durable_through())) {
            break;  // not in the store yet: keep everything from here until it is
        }
        lru_.pop_back();
        cache_.erase(it);
        stage_counters::bump(counters_.evicted);
    }
}

void shard_stage::skip_applied(std::vector<event>& batch) {
    // After a crash, a resumable source replays from its last stored position; events
    // that already reached a stored profile are skipped, so no update is applied twice.
    retain_if(batch, [&](event& ev, std::size_t) {
        if (ev.origin().resumable &&
            cache_.find(ev.player())->second.p.applied((*source_names_)[ev.origin().source], ev.origin().partition,
                                                       ev.origin().offset)) {
            stage_counters::bump(counters_.replayed);
            ev.ack().ack();
            return false;
        }
        return true;
    });
}

void shard_stage::tick(std::chrono::steady_clock::time_point now) {
    const activity_scope step(&activity_, shard_activity::part::bolt_tick);
    std::uint32_t k = 0;
    for (auto* group : {&ingest_bolts_, &bolts_}) {
        for (auto& b : *group) {
            activity_.at(shard_activity::part::bolt_tick, k++);
            b->tick();
        }
    }
    outputs_.dispatch();
    for (std::size_t stream = 0; stream < sinks_->size(); ++stream) {
        const auto& sinks = (*sinks_)[stream];
        for (std::size_t i = 0; i < sinks.size(); ++i) {
            activity_.at(shard_activity::part::sink_flush, shard_activity::sink_index(stream, i));
            sinks[i]->flush();
        }
    }
    maybe_write_back(now);
}

void shard_stage::maybe_write_back(std::chrono::steady_clock::time_point now) {
    if (durable_) {
        if (now >= next_write_back_) {
            write_back();
            next_write_back_ = now + options_->durable_store_interval;
        }
        return;
    }
    // A volatile store gets each round (what was dirty when it began) spread evenly over
    // the first half of the interval, in small chunks: while the shard has nothing else
    // to do (write_back_while_idle), or at a tick if the round is behind, so it also ends
    // under full load. Copying a round at once (or 256 profiles per tick) held the events
    // behind it ~0.7 ms; copying it as fast as idle moments allowed kept a core busy for
    // ~15 ms a second, which the host's threads waited for (benchmarks/RESULTS.md,
    // "Embedding").
    if (round_left_ == 0) {
        if (now < next_write_back_) {
            return;
        }
        begin_round(now);
    }
    write_round_chunk(std::min(round_owed(now), tick_write_back_chunk));
}

void shard_stage::begin_round(std::chrono::steady_clock::time_point now) {
    round_size_ = round_left_ = dirty_.size();
    round_started_ = now;
}

std::size_t shard_stage::round_owed(std::chrono::steady_clock::time_point now) const {
    const auto spread = std::chrono::duration<double>(options_->store_interval) / 2;
    const auto elapsed = std::chrono::duration<double>(now - round_started_);
    const auto due = elapsed >= spread
                         ? round_size_
                         : static_cast<std::size_t>(static_cast<double>(round_size_) * (elapsed / spread));
    const auto written = round_size_ - round_left_;
    return due > written ? due - written : 0;
}

void shard_stage::write_round_chunk(std::size_t chunk) {
    const auto n = std::min({round_left_, chunk, dirty_.size()});
    write_dirty(n);
    round_left_ = n < round_left_ && !dirty_.empty() ? round_left_ - n : 0;
    if (round_left_ == 0) {
        next_write_back_ = round_started_ + options_->store_interval;
    }
}

bool shard_stage::write_back_while_idle() {
    if (durable_ || round_left_ == 0) {
        return false;
    }
    const activity_scope step(&activity_, shard_activity::part::storing);
    const auto now = std::chrono::steady_clock::now();
    const auto owed = round_owed(now);
    if (owed == 0) {
        return false;  // ahead of the round's schedule
    }
    write_round_chunk(std::min(owed, idle_write_back_chunk));
    return round_left_ > 0 && round_owed(now) > 0;
}

void shard_stage::write_back() {
    if (committer_ != nullptr) {
        // Off this thread: the committer writes (merging the shards' batches), then acks.
        if (dirty_.empty() && pending_acks_.empty()) {
            return;
        }
        const activity_scope in_store(&activity_, shard_activity::part::storing);
        write_batch batch;
        batch.profiles.reserve(dirty_.size());
        for (auto* c : dirty_) {
            batch.profiles.push_back(c->p);
        }
        last_submitted_ = committer_->submit(std::move(batch), std::move(pending_acks_));
        for (auto* c : dirty_) {
            c->dirty = false;
            c->commit_seq = last_submitted_;
        }
        dirty_.clear();
        pending_acks_.clear();
        return;
    }
    write_dirty(dirty_.size());
}

void shard_stage::write_dirty(std::size_t n) {
    if (n > 0) {
        const auto first = dirty_.begin();
        const auto last = first + static_cast<std::ptrdiff_t>(n);
        write_batch batch;
        batch.profiles.reserve(n);
        for (auto it = first; it != last; ++it) {
            batch.profiles.push_back((*it)->p);
        }
        const activity_scope in_store(&activity_, shard_activity::part::storing);
        if (const auto ec = store_->write(batch); ec) {
            // Keep them dirty: the next write-back retries.
            stage_counters::bump(counters_.store_errors);
            return;
        }
        for (auto it = first; it != last; ++it) {
            (*it)->dirty = false;
        }
        dirty_.erase(first, last);  // the oldest first: the order they became dirty
    }
    if (dirty_.empty()) {
        // Every pending event's effects were in the profiles written. (Only a durable
        // store without a committer has pending acks, and it always writes them all.)
        for (auto& ack : pending_acks_) {
            ack.ack();
        }
        pending_acks_.clear();
    }
}

void shard_stage::finish() {
    const activity_scope step(&activity_, shard_activity::part::finishing);
    tick(std::chrono::steady_clock::now());
    write_back();
    activity_.at(shard_activity::part::finishing);
    if (committer_ != nullptr && !committer_->wait_for(last_submitted_, options_->drain_timeout)) {
        stage_counters::bump(counters_.store_errors);
    }
    activity_.at(shard_activity::part::storing);
    if (const auto ec = store_->flush(); ec) {
        stage_counters::bump(counters_.store_errors);
    }
}

void shard_stage::for_each_cached(const std::function<bool(const profile&)>& visit) const {
    for (const auto& [key, entry] : cache_) {
        if (!entry.loading && !visit(entry.p)) {
            return;
        }
    }
}

const profile* shard_stage::find(const player_key& key) const {
    const auto it = cache_.find(key);
    return it == cache_.end() || it->second.loading ? nullptr : &it->second.p;
}

}  // namespace rtcrm::detail
