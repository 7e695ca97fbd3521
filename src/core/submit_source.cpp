#include "submit_source.hpp"

#include "logging.hpp"
#include "record_routing.hpp"

namespace rtcrm {

std::string_view submit_status_name(submit_status s) noexcept {
    switch (s) {
        case submit_status::accepted: return "accepted";
        case submit_status::full: return "full";
        case submit_status::stopped: return "stopped";
    }
    return "unknown";
}

}  // namespace rtcrm

namespace rtcrm::detail {

using clock = std::chrono::steady_clock;

void submit_source::bind(std::uint32_t source_index, std::uint32_t shards, const runtime_options& options,
                         std::function<void(std::uint32_t)> wake_shard) {
    source_index_ = source_index;
    options_ = &options;
    wake_shard_ = std::move(wake_shard);
    lanes_.clear();
    // submit_capacity bounds what all lanes hold together: each lane gets its share (a
    // hot shard is the bottleneck anyway).
    const auto per_lane = (capacity_ + shards - 1) / shards;
    for (std::uint32_t s = 0; s < shards; ++s) {
        lanes_.push_back(std::make_unique<lane>(per_lane, options.max_in_flight));
    }
}

std::uint32_t submit_source::shard_of(const record& rec) const {
    return shard_of_record(rec, options_->parse, static_cast<std::uint32_t>(lanes_.size()));
}

bool submit_source::finished() const noexcept {
    // Only once closed with no push in flight can "empty" mean "empty for good".
    return closed_.load(std::memory_order_seq_cst) && pushing_.load(std::memory_order_seq_cst) == 0;
}

int submit_source::try_push(record& rec, std::uint32_t shard) {
    // Announce the push before looking at closed_: either close() sees it in flight (and
    // the shards wait for it to land), or this push sees the close and refuses.
    pushing_.fetch_add(1, std::memory_order_seq_cst);
    if (closed_.load(std::memory_order_seq_cst)) {
        pushing_.fetch_sub(1, std::memory_order_seq_cst);
        return -1;
    }
    const bool pushed = lanes_[shard]->ring.try_push(rec);
    pushing_.fetch_sub(1, std::memory_order_seq_cst);
    if (pushed) {
        // After the push: a shard that parked before seeing it is woken (the parker's
        // fences pair with this), one that did not park finds it.
        wake_shard_(shard);
    }
    return pushed ? 1 : 0;
}

submit_status submit_source::push(record& rec, std::chrono::milliseconds timeout) {
    const auto shard = shard_of(rec);
    int r = try_push(rec, shard);
    if (r == 0 && timeout.count() > 0) {
        const auto deadline = clock::now() + timeout;
        room_.wait_until([&] { return (r = try_push(rec, shard)) != 0; }, deadline);
    }
    if (r == 1) {
        return submit_status::accepted;
    }
    return r == 0 ? submit_status::full : submit_status::stopped;
}

std::size_t submit_source::push(std::span<record> recs, std::chrono::milliseconds timeout) {
    const auto deadline = clock::now() + timeout;
    std::size_t done = 0;
    while (done < recs.size()) {
        const auto shard = shard_of(recs[done]);
        int r = try_push(recs[done], shard);
        if (r == 1) {
            ++done;
            continue;
        }
        if (r < 0 || clock::now() >= deadline) {
            break;
        }
        if (!room_.wait_until([&] { return (r = try_push(recs[done], shard)) != 0; }, deadline) || r < 0) {
            break;
        }
        ++done;
    }
    return done;
}

void submit_source::close() {
    closed_.store(true, std::memory_order_seq_cst);
    room_.notify_all();
    closing_.notify_all();
    for (std::uint32_t s = 0; s < lanes_.size(); ++s) {
        wake_shard_(s);  // a parked shard re-checks whether its lane is drained
    }
}

poll_status submit_source::poll(std::vector<record>& out, std::size_t max, std::chrono::milliseconds timeout) {
    (void)out;
    (void)max;
    if (!finished()) {
        closing_.wait_until([&] { return closed_.load(std::memory_order_seq_cst); }, clock::now() + timeout);
    }
    return finished() ? poll_status::end : poll_status::more;
}

std::size_t submit_source::take(std::uint32_t shard, router::batch& out, std::size_t max) {
    auto& l = *lanes_[shard];
    std::size_t n = 0;
    l.held_back = false;
    record rec;
    bool advanced = false;
    while (n < max) {
        if (l.tracker.in_flight() >= options_->max_in_flight) {
            if (advanced) {
                l.held_back = !l.ring.empty();
                break;
            }
            l.tracker.advance();  // retire what completed; only when it could matter
            advanced = true;
            continue;
        }
        if (!l.ring.try_pop(rec)) {
            break;
        }
        rec.origin.source = source_index_;
        rec.origin.partition = static_cast<std::int32_t>(shard);
        rec.origin.offset = l.next_offset;
        rec.origin.resumable = false;  // a sequence number of this run, not a position
        rec.origin.sequenced = true;
        auto token = l.tracker.track(l.next_offset);  // room checked above
        ++l.next_offset;
        out.push_back(routed_record{std::move(rec), std::move(*token)});
        ++n;
    }
    if (n > 0) {
        l.taken.store(l.taken.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
        room_.notify_all();
    }
    return n;
}

bool submit_source::has_work(std::uint32_t shard) const {
    const auto& l = *lanes_[shard];
    return !l.held_back && !l.ring.empty();
}

bool submit_source::drained(std::uint32_t shard) {
    auto& l = *lanes_[shard];
    if (!finished() || !l.ring.empty()) {
        return false;
    }
    l.tracker.advance();
    if (l.tracker.in_flight() == 0) {
        return true;
    }
    const auto now = clock::now();
    if (!l.draining) {
        l.draining = true;
        l.drain_deadline = now + options_->drain_timeout;
    }
    if (now < l.drain_deadline) {
        return false;
    }
    log_fmt(log_level::error, "runtime", "source submit: {} events of shard {} still unacked after the drain timeout",
            l.tracker.in_flight(), shard);
    return true;
}

std::size_t submit_source::queued() const noexcept {
    std::size_t n = 0;
    for (const auto& l : lanes_) {
        n += l->ring.size();
    }
    return n;
}

std::uint64_t submit_source::taken() const noexcept {
    std::uint64_t n = 0;
    for (const auto& l : lanes_) {
        n += l->taken.load(std::memory_order_relaxed);
    }
    return n;
}

std::uint64_t submit_source::nacked() const noexcept {
    std::uint64_t n = 0;
    for (const auto& l : lanes_) {
        n += l->tracker.failed();
    }
    return n;
}

}  // namespace rtcrm::detail
