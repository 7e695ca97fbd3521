#include "ingest_stage.hpp"

#include "record_routing.hpp"

namespace rtcrm::detail {

ingest_stage::ingest_stage(std::uint32_t source_index, const runtime_options& options,
                           const std::vector<std::string>& source_names, std::uint32_t shards, bool resumable)
    : source_index_(source_index), options_(&options), source_names_(&source_names), shards_(shards), resumable_(resumable) {}

void ingest_stage::observe(partition_state& part, std::int64_t ts, std::chrono::steady_clock::time_point now) {
    if (ts <= part.max_ts) {
        return;
    }
    part.max_ts = ts;
    part.last_ts_at = now;
    // The lowest of the partitions' highest times, leaving out partitions that read no
    // time yet or none new for idle_partition (they would hold every timer back).
    std::int64_t lowest = ts;
    for (const auto& [partition, other] : partitions_) {
        if (other.max_ts != no_watermark && other.max_ts < lowest &&
            now - other.last_ts_at < options_->idle_partition) {
            lowest = other.max_ts;
        }
    }
    const auto candidate = lowest - std::min<std::int64_t>(options_->timer_lateness.count(), lowest - INT64_MIN / 2);
    watermark_ = std::max(watermark_, candidate);
}

std::size_t ingest_stage::process(std::vector<record>& records, std::size_t first, std::vector<router::batch>& per_shard) {
    if (told_.size() != shards_) {
        told_.assign(shards_, no_watermark);
    }
    const auto now = std::chrono::steady_clock::now();
    // The same window parse_event applies: a `ts` it would refuse does not move the clock.
    const auto wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
    const auto latest_ts = std::min(max_event_ts, wall_ms + options_->parse.max_lead.count());
    const auto earliest_ts = options_->parse.max_age ? std::max<std::int64_t>(0, wall_ms - options_->parse.max_age->count()) : 0;
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
            rec.origin.sequenced = true;
        } else {
            rec.origin.resumable = resumable_;
        }
        stage_counters::bump(counters_.events_in);
        const auto route = route_record(rec, options_->parse, shards_);
        if (route.ts && *route.ts >= earliest_ts && *route.ts <= latest_ts) {
            observe(part, *route.ts, now);
        }
        per_shard[route.shard].push_back(routed_record{std::move(rec), std::move(*token), watermark_});
        told_[route.shard] = watermark_;
    }
    for (std::uint32_t s = 0; s < shards_; ++s) {
        if (told_[s] < watermark_) {
            per_shard[s].push_back(routed_record{record{}, ack_token{}, watermark_, true});
            told_[s] = watermark_;
        }
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
    it->second.tracker->give_up();
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

}  // namespace rtcrm::detail
