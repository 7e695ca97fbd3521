#include "source_runner.hpp"

#include "logging.hpp"

#include <algorithm>
#include <functional>
#include <stop_token>
#include <thread>
#include <vector>

namespace rtcrm::detail {

using clock = std::chrono::steady_clock;

void source_runner::run() {
    const auto abandoned = poll_until_end();

    // Drain: everything read is in the queues; wait until it is acked, then commit. A
    // stop() bounds the wait from when it was called, however long this thread took
    // to get here.
    auto deadline = clock::now() + options_->drain_timeout;
    if (const auto stop_deadline = state_->stop_deadline()) {
        deadline = std::min(deadline, *stop_deadline);
    }
    state_->source_draining(index_, deadline);
    commit();
    while (ingest_->in_flight() > 0 && clock::now() < deadline && !state_->past_stop_deadline()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        commit();
    }
    const auto unacked = ingest_->in_flight();
    unacked_.store(unacked + abandoned, std::memory_order_relaxed);
    abandoned_.store(abandoned, std::memory_order_relaxed);
    if (unacked > 0) {
        log_fmt(log_level::error, "runtime", "source {}: {} events still unacked after the drain timeout; not committed",
                src_->name(), unacked);
    }
    try {
        src_->close();
    } catch (const std::exception& e) {
        log_fmt(log_level::warning, "runtime", "source {} failed to close: {}", src_->name(), e.what());
    }
    queues_->close(index_);
    state_->source_ended(index_);
    state_->thread_done();
}

std::uint64_t source_runner::poll_until_end() {
    const auto& opt = *options_;
    std::vector<record> records;
    records.reserve(opt.batch_size);
    std::vector<router::batch> per_shard(shards_);
    auto next_commit = clock::now() + opt.commit_interval;

    // Once stop()'s drain deadline has passed, a shard that still has not made room is
    // stuck: its events are given up (nacked: not committed) so this thread can end.
    const std::function<bool()> keep_waiting = [&] {
        idle();
        return !state_->past_stop_deadline();
    };
    auto push_all = [&] {
        for (std::uint32_t s = 0; s < shards_; ++s) {
            if (!per_shard[s].empty() && !queues_->push(index_, s, per_shard[s], keep_waiting)) {
                for (auto& r : per_shard[s]) {
                    r.ack.nack(make_error_code(errc::stopped));
                }
                per_shard[s].clear();
            }
        }
    };
    std::uint64_t abandoned = 0;  // read at stop and never tracked (not committed either)
    auto last_idle = clock::now();

    const auto stop = state_->stop_token();
    // A poll that blocks (on its server, on stdin, on a queue) returns early at stop().
    const std::stop_callback wake(stop, [this] {
        try {
            src_->wakeup();
        } catch (const std::exception& e) {
            log_fmt(log_level::warning, "runtime", "source {} failed to wake up: {}", src_->name(), e.what());
        }
    });
    while (drains_itself_ || !stop.stop_requested()) {
        records.clear();
        poll_status status = poll_status::more;
        try {
            status = src_->poll(records, opt.batch_size, std::chrono::milliseconds(50));
        } catch (const std::exception& e) {
            log_fmt(log_level::error, "runtime", "source {} failed: {}; stopping it", src_->name(), e.what());
            failure_ = e.what();
            status = poll_status::end;
        }
        std::size_t next = 0;
        while (next < records.size()) {
            next = ingest_->process(records, next, per_shard);
            push_all();
            if (next < records.size()) {
                if (state_->past_stop_deadline()) {
                    abandoned += records.size() - next;
                    break;
                }
                // A partition has max_in_flight events in flight: wait for acks.
                commit();
                std::this_thread::sleep_for(std::chrono::microseconds(200));
                if (const auto now = clock::now(); now - last_idle >= std::chrono::milliseconds(10)) {
                    idle();
                    last_idle = now;
                }
            }
        }
        const auto now = clock::now();
        if (now >= next_commit) {
            commit();
            next_commit = now + opt.commit_interval;
        }
        if (status == poll_status::end) {
            break;
        }
    }
    return abandoned;
}

// While the runtime cannot take records, the source still gets to talk to its server (a
// group member's heartbeats and rebalances), about every 10 ms.
void source_runner::idle() {
    try {
        src_->idle();
    } catch (const std::exception& e) {
        log_fmt(log_level::warning, "runtime", "source {} failed while idle: {}", src_->name(), e.what());
    }
}

void source_runner::commit() {
    auto moved = ingest_->advance();
    if (moved.empty()) {
        return;
    }
    try {
        src_->commit(moved);
    } catch (const std::exception& e) {
        log_fmt(log_level::warning, "runtime", "source {} failed to commit: {}", src_->name(), e.what());
    }
    // A durable store also keeps the positions, so a restart resumes after them. (Acks
    // wait for the profiles' group commit, so every event up to them is stored.)
    if (src_->resumable() && store_->durable()) {
        write_batch positions;
        positions.positions = std::move(moved);
        if (const auto stored = store_->write(positions); !stored) {
            log_fmt(log_level::warning, "store", "storing the positions of {} failed: {}", src_->name(),
                    stored.error().reason);
        }
    }
}

}  // namespace rtcrm::detail
