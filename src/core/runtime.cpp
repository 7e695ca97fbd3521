#include <rtcrm/core/runtime.hpp>

#include "logging.hpp"
#include "pipeline.hpp"
#include "router.hpp"
#include "stage.hpp"
#include "submit_source.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <functional>
#include <future>
#include <unordered_set>
#include <mutex>
#include <thread>

#include <pthread.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

namespace rtcrm {

using clock = std::chrono::steady_clock;

namespace {

// A source's view of its ingest stage (source thread only; see source.hpp).
class ingest_control final : public source_control {
public:
    explicit ingest_control(detail::ingest_stage& ingest) : ingest_(&ingest) {}
    std::vector<source_position> safe_positions() override { return ingest_->safe_positions(); }
    std::size_t in_flight(std::int32_t partition) override { return ingest_->in_flight(partition); }
    void release(std::int32_t partition) override { ingest_->release(partition); }

private:
    detail::ingest_stage* ingest_;
};

// Names the calling thread (as top -H, perf and /proc show it); at most 15 characters.
void name_this_thread(const std::string& name) {
    pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

// How long a stop() goes on waiting after the drain timeout for the sources to commit and
// close and for the shards that are not stuck to finish.
constexpr auto stop_settle = std::chrono::seconds(1);

// "25 ms" or "7.5 s", for reports.
std::string duration_text(std::chrono::nanoseconds d) {
    if (d < std::chrono::seconds(1)) {
        return fmt::format("{} ms", std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
    }
    return fmt::format("{:.1f} s", std::chrono::duration<double>(d).count());
}

std::int64_t to_ns(clock::time_point t) noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

clock::time_point from_ns(std::int64_t ns) noexcept {
    return clock::time_point{std::chrono::duration_cast<clock::duration>(std::chrono::nanoseconds(ns))};
}

// With submission on, the submit source joins the topology as its last source.
topology with_submit_source(topology t, detail::submit_source*& submit) {
    submit = nullptr;
    if (const auto capacity = t.options().submit_capacity; capacity > 0) {
        auto src = std::make_unique<detail::submit_source>(capacity);
        submit = src.get();
        t.add_source(std::move(src));
    }
    return t;
}

}  // namespace

std::string_view submit_status_name(submit_status s) noexcept {
    switch (s) {
        case submit_status::accepted: return "accepted";
        case submit_status::full: return "full";
        case submit_status::stopped: return "stopped";
    }
    return "unknown";
}

struct runtime::impl {
    detail::submit_source* submit = nullptr;  // owned by topo (its last source), or none
    topology topo;
    detail::pipeline_parts parts;
    std::vector<std::unique_ptr<detail::ingest_stage>> ingests;
    std::vector<std::unique_ptr<ingest_control>> controls;  // one per source, over its ingest stage
    // With a durable store, write-backs and their acks go through one committer thread
    // (group commit over all shards). Declared before the shards, which point to it.
    std::unique_ptr<detail::store_committer> committer;
    std::vector<std::unique_ptr<detail::shard_stage>> shards;
    std::unique_ptr<detail::router> queues;
    std::vector<std::thread> threads;

    // The TTL sweep (runtime_options::expiry): deletes expired profiles from the store in
    // the background, with the newest event time the shards have seen as "now".
    std::thread sweeper;
    std::mutex sweeper_mutex;
    std::condition_variable sweeper_cv;
    bool sweeper_stop = false;  // guarded by sweeper_mutex
    std::atomic<std::uint64_t> swept_expired{0};
    std::atomic<std::uint64_t> swept_trimmed{0};

    // Work for a shard's thread from other threads (admin reads of its profiles), run
    // between two batches.
    struct mailbox {
        std::mutex mutex;
        std::vector<std::function<void(detail::shard_stage&)>> tasks;  // guarded by mutex
        std::atomic<bool> pending{false};
    };
    std::vector<std::unique_ptr<mailbox>> mailboxes;

    std::atomic<bool> stop_requested{false};
    // When the first stop() stops waiting for in-flight events (to_ns(clock)); 0 before.
    std::atomic<std::int64_t> stop_deadline_ns{0};
    std::mutex state_mutex;
    std::condition_variable state_cv;
    std::uint32_t running = 0;  // threads not yet finished (guarded by state_mutex)
    std::vector<bool> shard_done;  // per shard: its thread finished (guarded by state_mutex)
    std::vector<bool> source_done;  // per source: its thread finished (guarded by state_mutex)
    bool started = false;
    bool joined = false;
    bool gave_up = false;  // a stop() returned with threads still running (guarded by state_mutex)
    // Per source, set by its thread before it ends: events still in flight when it stopped
    // waiting, and records it read at stop but never handed on (no room, then no time).
    struct source_end {
        std::atomic<std::uint64_t> unacked{0};
        std::atomic<std::uint64_t> abandoned{0};
    };
    std::unique_ptr<source_end[]> source_ends;

    // The watchdog: notices shards whose step runs past stuck_after and reports each episode.
    std::thread watchdog;
    std::mutex watchdog_mutex;
    std::condition_variable watchdog_cv;
    bool watchdog_stop = false;  // guarded by watchdog_mutex
    std::atomic<std::uint64_t> stuck_count{0};

    // Runs stop() for stop_async callers; joined by the destructor.
    std::mutex stoppers_mutex;
    std::vector<std::thread> stoppers;  // guarded by stoppers_mutex

    explicit impl(topology t)
        : topo(with_submit_source(std::move(t), submit)), parts(topo, topo.sources().size()) {
        if (topo.sources().empty()) {
            throw error(errc::invalid_config, "runtime: the topology has no source");
        }
        const auto sources = static_cast<std::uint32_t>(topo.sources().size());
        for (std::uint32_t i = 0; i < sources; ++i) {
            ingests.push_back(std::make_unique<detail::ingest_stage>(i, parts.options, parts.source_names, parts.shards,
                                                                     topo.sources()[i]->resumable() && parts.store->durable()));
            controls.push_back(std::make_unique<ingest_control>(*ingests.back()));
        }
        if (parts.store->durable()) {
            // Two submissions per shard may wait: one being written, one filling up.
            committer = std::make_unique<detail::store_committer>(parts.store, 2 * parts.shards, parts.options.drain_timeout);
        }
        for (std::uint32_t i = 0; i < parts.shards; ++i) {
            shards.push_back(std::make_unique<detail::shard_stage>(
                i, parts.options, parts.make_bolts(topo.ingest_bolts(), i, parts.shards),
                parts.make_bolts(topo.shard_bolts(), i, parts.shards), parts.sinks, parts.source_names, parts.store,
                committer.get()));
        }
        queues = std::make_unique<detail::router>(parts.shards, sources, parts.options.queue_batches);
        if (submit != nullptr) {
            // Host threads hand submitted records straight to the shards' lanes and wake
            // the shard (see submit_source.hpp).
            submit->bind(sources - 1, parts.shards, parts.options, [this](std::uint32_t s) { queues->nudge(s); });
        }
        for (std::uint32_t i = 0; i < parts.shards; ++i) {
            mailboxes.push_back(std::make_unique<mailbox>());
        }
        shard_done.assign(parts.shards, false);
        source_done.assign(sources, false);
        source_ends = std::make_unique<source_end[]>(sources);
    }

    // Past the first stop()'s drain deadline: sources stop waiting for the shards.
    bool past_stop_deadline() const noexcept {
        const auto deadline = stop_deadline_ns.load(std::memory_order_acquire);
        return deadline != 0 && to_ns(clock::now()) >= deadline;
    }

    // What shard `s` is doing now: the part of its step and the first bolt's activity.
    std::string describe(std::uint32_t s) const {
        using part = detail::shard_activity::part;
        const auto& stage = *shards[s];
        const auto where = stage.activity().now();
        const auto& ingest = stage.ingest_bolts();
        const auto& bolts = stage.shard_bolts();
        auto bolt_name = [](const std::vector<std::unique_ptr<bolt>>& group, std::uint32_t k) {
            return k < group.size() ? std::string{group[k]->name()} : std::string{"?"};
        };
        auto sink_name = [&](std::uint32_t index) {
            const auto stream_index = index >> 16;
            const auto k = index & 0xffffU;
            if (stream_index >= parts.sinks.size() || k >= parts.sinks[stream_index].size()) {
                return std::string{"sink ?"};
            }
            return fmt::format("sink '{}' (stream {})", parts.sinks[stream_index][k]->name(),
                               stream_name(static_cast<stream>(stream_index)));
        };
        const bolt* in_bolt = nullptr;
        std::string text;
        switch (where.what) {
        case part::none:
        case part::batch: text = "the runtime's own work on a batch (parsing, history, acks)"; break;
        case part::ingest_bolt:
            text = fmt::format("ingest bolt '{}'", bolt_name(ingest, where.index));
            in_bolt = where.index < ingest.size() ? ingest[where.index].get() : nullptr;
            break;
        case part::loading_profiles: text = fmt::format("reading profiles from store '{}'", parts.store->name()); break;
        case part::shard_bolt:
            text = fmt::format("shard bolt '{}'", bolt_name(bolts, where.index));
            in_bolt = where.index < bolts.size() ? bolts[where.index].get() : nullptr;
            break;
        case part::sink: text = sink_name(where.index); break;
        case part::storing: text = fmt::format("writing profiles to store '{}'", parts.store->name()); break;
        case part::bolt_tick:
            text = fmt::format("tick of bolt '{}'",
                               where.index < ingest.size()
                                   ? bolt_name(ingest, where.index)
                                   : bolt_name(bolts, static_cast<std::uint32_t>(where.index - ingest.size())));
            break;
        case part::sink_flush: text = "flush of " + sink_name(where.index); break;
        case part::admin_task: text = "an admin request (a profile read or an audience scan)"; break;
        case part::finishing: text = "the final flush (waiting for the store's group commit)"; break;
        }
        // The first bolt with something to say; it may not be the part above (a Lua bolt
        // names the handler a tick or a scan is in).
        for (const auto* group : {&ingest, &bolts}) {
            for (const auto& b : *group) {
                std::string says;
                try {
                    says = b->activity();
                } catch (const std::exception& e) {
                    says = fmt::format("(activity() threw: {})", e.what());
                }
                if (says.empty()) {
                    continue;
                }
                if (b.get() == in_bolt) {
                    return fmt::format("{}: {}", text, says);
                }
                return fmt::format("{}; bolt '{}': {}", text, b->name(), says);
            }
        }
        return text;
    }

    bool stuck(std::uint32_t s, std::int64_t now_ns) const noexcept {
        const auto since = shards[s]->activity().since_ns();
        const auto limit = parts.options.stuck_after;
        return since != 0 && limit.count() > 0 && std::chrono::nanoseconds(now_ns - since) >= limit;
    }

    rtcrm::shard_health health_of(std::uint32_t s, bool done, std::int64_t now_ns) const {
        rtcrm::shard_health h;
        h.shard = s;
        h.finished = done;
        const auto since = shards[s]->activity().since_ns();
        if (since == 0 || now_ns <= since) {
            return h;
        }
        const auto busy = std::chrono::nanoseconds(now_ns - since);
        h.busy_for = std::chrono::duration_cast<std::chrono::milliseconds>(busy);
        const auto limit = parts.options.stuck_after;
        h.stuck = limit.count() > 0 && busy >= limit;
        h.doing = describe(s);
        return h;
    }

    void run_watchdog() {
        const auto limit = parts.options.stuck_after;
        const auto limit_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(limit).count();
        const auto period = std::clamp<std::chrono::milliseconds>(limit / 4, std::chrono::milliseconds(1),
                                                                  std::chrono::milliseconds(250));
        // Per shard: when the step reported stuck began (its since_ns), 0 when none is.
        std::vector<std::int64_t> reported(parts.shards, 0);
        std::unique_lock lock(watchdog_mutex);
        while (!watchdog_cv.wait_for(lock, period, [&] { return watchdog_stop; })) {
            lock.unlock();
            const auto now = steady_now_ns();
            for (std::uint32_t s = 0; s < parts.shards; ++s) {
                const auto since = shards[s]->activity().since_ns();
                // The end of an episode at the episode's level: a log read from `warning`
                // up must not show a shard stuck for ever.
                if (reported[s] != 0 && since != reported[s]) {
                    detail::log_fmt(log_level::warning, "runtime",
                                    "shard {} recovered: its stuck step ended after about {}", s,
                                    duration_text(std::chrono::nanoseconds(now - reported[s])));
                    reported[s] = 0;
                }
                if (since != 0 && reported[s] == 0 && now - since >= limit_ns) {
                    reported[s] = since;
                    stuck_count.fetch_add(1, std::memory_order_relaxed);
                    detail::log_fmt(log_level::warning, "runtime",
                                    "shard {} stuck: one step has run {} (stuck_after {} ms), in {}", s,
                                    duration_text(std::chrono::nanoseconds(now - since)), limit.count(), describe(s));
                }
            }
            lock.lock();
        }
    }

    void stop_watchdog() {
        {
            std::lock_guard lock(watchdog_mutex);
            watchdog_stop = true;
        }
        watchdog_cv.notify_all();
        if (watchdog.joinable()) {
            watchdog.join();
        }
    }

    // Waits until every thread has ended (true), or, once `deadline_ns` has passed, until
    // the sources have ended and every shard still running is stuck, or `stop_settle`
    // more has passed (false: some thread goes on running). A call after the deadline
    // (a second stop()) gets its own settle time.
    bool await_threads(std::int64_t deadline_ns) {
        const auto deadline = from_ns(deadline_ns);
        const auto settled = std::max(deadline, clock::now()) + stop_settle;
        std::unique_lock lock(state_mutex);
        for (;;) {
            if (running == 0) {
                return true;
            }
            const auto now = clock::now();
            if (now < deadline) {
                state_cv.wait_until(lock, deadline);
                continue;
            }
            bool only_stuck_left = std::all_of(source_done.begin(), source_done.end(), [](bool done) { return done; });
            for (std::uint32_t s = 0; only_stuck_left && s < parts.shards; ++s) {
                only_stuck_left = shard_done[s] || stuck(s, to_ns(now));
            }
            if (only_stuck_left || now >= settled) {
                gave_up = true;
                state_cv.notify_all();  // wait() returns too
                return false;
            }
            state_cv.wait_for(lock, std::chrono::milliseconds(10));
        }
    }

    stop_report report(bool stopped) {
        stop_report r;
        r.stopped = stopped;
        std::vector<bool> sources_ended;
        std::vector<bool> shards_ended;
        bool was_started = false;
        {
            std::lock_guard lock(state_mutex);
            sources_ended = source_done;
            shards_ended = shard_done;
            was_started = started;
        }
        for (std::size_t i = 0; i < topo.sources().size(); ++i) {
            const auto& src = topo.sources()[i];
            source_drain d;
            d.name = std::string{src->name()};
            d.closed = sources_ended[i] || !was_started;
            if (src.get() == submit) {
                d.read = submit->taken();
                d.unacked = submit->queued();
                d.nacked = submit->nacked();
            } else {
                d.read = ingests[i]->counters().events_in.load(std::memory_order_relaxed) +
                         source_ends[i].abandoned.load(std::memory_order_relaxed);
                d.unacked = sources_ended[i] ? source_ends[i].unacked.load(std::memory_order_relaxed) : 0;
                d.nacked = ingests[i]->counters().nacked.load(std::memory_order_relaxed);
            }
            r.sources.push_back(std::move(d));
        }
        const auto now = steady_now_ns();
        for (std::uint32_t s = 0; s < parts.shards; ++s) {
            if (was_started && !shards_ended[s]) {
                r.unfinished.push_back(health_of(s, false, now));
            }
        }
        runtime_stats totals;
        std::array<std::uint64_t, detail::stage_counters::reasons> reasons{};
        detail::pipeline_parts::sum(ingests, totals, reasons);
        detail::pipeline_parts::sum(shards, totals, reasons);
        if (submit != nullptr) {
            totals.events_in += submit->taken();
        }
        const auto finished = totals.processed + totals.dropped + totals.dead_lettered + totals.replayed;
        r.in_flight = totals.events_in > finished ? totals.events_in - finished : 0;
        return r;
    }

    // The destructor's way out when threads are still running after stop(): they keep
    // using this object, so it must outlive them (it is never freed).
    void abandon() {
        stop_watchdog();
        {
            std::lock_guard lock(sweeper_mutex);
            sweeper_stop = true;
        }
        sweeper_cv.notify_all();
        if (sweeper.joinable()) {
            sweeper.detach();  // it may be waiting for the same stuck store
        }
        for (auto& t : threads) {
            if (t.joinable()) {
                t.detach();
            }
        }
    }

    void run_sweeper() {
        const auto& opt = parts.options;
        std::unique_lock lock(sweeper_mutex);
        while (!sweeper_cv.wait_for(lock, opt.ttl_sweep_interval, [&] { return sweeper_stop; })) {
            lock.unlock();
            std::int64_t now = 0;
            for (const auto& shard : shards) {
                now = std::max(now, shard->counters().newest_event_ts.load(std::memory_order_relaxed));
            }
            if (now > 0) {
                expiry_result result;
                if (const auto ec = parts.store->expire(opt.expiry, now, result); ec) {
                    detail::log_fmt(log_level::warning, "store", "the TTL sweep of store {} failed: {}",
                                    parts.store->name(), ec.message());
                }
                swept_expired.fetch_add(result.expired, std::memory_order_relaxed);
                swept_trimmed.fetch_add(result.trimmed, std::memory_order_relaxed);
            }
            lock.lock();
        }
    }

    void stop_sweeper() {
        {
            std::lock_guard lock(sweeper_mutex);
            sweeper_stop = true;
        }
        sweeper_cv.notify_all();
        if (sweeper.joinable()) {
            sweeper.join();
        }
    }

    void thread_done() {
        std::lock_guard lock(state_mutex);
        --running;
        state_cv.notify_all();
    }

    void commit(source& src, detail::ingest_stage& ingest) {
        auto moved = ingest.advance();
        if (moved.empty()) {
            return;
        }
        try {
            src.commit(moved);
        } catch (const std::exception& e) {
            detail::log_fmt(log_level::warning, "runtime", "source {} failed to commit: {}", src.name(), e.what());
        }
        // A durable store also keeps the positions, so a restart resumes after them. (Acks
        // wait for the profiles' group commit, so every event up to them is stored.)
        if (src.resumable() && parts.store->durable()) {
            write_batch positions;
            positions.positions = std::move(moved);
            if (const auto ec = parts.store->write(positions); ec) {
                detail::log_fmt(log_level::warning, "store", "storing the positions of {} failed: {}", src.name(),
                                ec.message());
            }
        }
    }

    void run_source(std::uint32_t index) {
        source& src = *topo.sources()[index];
        detail::ingest_stage& ingest = *ingests[index];
        const auto& opt = parts.options;
        std::vector<record> records;
        records.reserve(opt.batch_size);
        std::vector<detail::router::batch> per_shard(parts.shards);
        auto next_commit = clock::now() + opt.commit_interval;

        // While the runtime cannot take records, the source still gets to talk to its
        // server (a group member's heartbeats and rebalances), about every 10 ms.
        const std::function<void()> idle = [&] {
            try {
                src.idle();
            } catch (const std::exception& e) {
                detail::log_fmt(log_level::warning, "runtime", "source {} failed while idle: {}", src.name(), e.what());
            }
        };
        // Once stop()'s drain deadline has passed, a shard that still has not made room is
        // stuck: its events are given up (nacked: not committed) so this thread can end.
        const std::function<bool()> keep_waiting = [&] {
            idle();
            return !past_stop_deadline();
        };
        auto push_all = [&] {
            for (std::uint32_t s = 0; s < parts.shards; ++s) {
                if (!per_shard[s].empty() && !queues->push(index, s, per_shard[s], keep_waiting)) {
                    for (auto& r : per_shard[s]) {
                        r.ack.nack(make_error_code(errc::stopped));
                    }
                    per_shard[s].clear();
                }
            }
        };
        std::uint64_t abandoned = 0;  // read at stop and never tracked (not committed either)
        auto last_idle = clock::now();

        // The submit source is polled on after stop() until it ends (no push can still
        // land): the shards drain its lanes and know from its end that nothing follows.
        const bool drains_itself = &src == submit;
        while (drains_itself || !stop_requested.load(std::memory_order_acquire)) {
            records.clear();
            poll_status status = poll_status::more;
            try {
                status = src.poll(records, opt.batch_size, std::chrono::milliseconds(50));
            } catch (const std::exception& e) {
                detail::log_fmt(log_level::error, "runtime", "source {} failed: {}; stopping it", src.name(), e.what());
                status = poll_status::end;
            }
            std::size_t next = 0;
            while (next < records.size()) {
                next = ingest.process(records, next, per_shard);
                push_all();
                if (next < records.size()) {
                    if (past_stop_deadline()) {
                        abandoned += records.size() - next;
                        break;
                    }
                    // A partition has max_in_flight events in flight: wait for acks.
                    commit(src, ingest);
                    std::this_thread::sleep_for(std::chrono::microseconds(200));
                    if (const auto now = clock::now(); now - last_idle >= std::chrono::milliseconds(10)) {
                        idle();
                        last_idle = now;
                    }
                }
            }
            const auto now = clock::now();
            if (now >= next_commit) {
                commit(src, ingest);
                next_commit = now + opt.commit_interval;
            }
            if (status == poll_status::end) {
                break;
            }
        }

        // Drain: everything read is in the queues; wait until it is acked, then commit. A
        // stop() bounds the wait from when it was called, however long this thread took
        // to get here.
        auto deadline = clock::now() + opt.drain_timeout;
        if (const auto stop_deadline = stop_deadline_ns.load(std::memory_order_acquire); stop_deadline != 0) {
            deadline = std::min(deadline, from_ns(stop_deadline));
        }
        commit(src, ingest);
        while (ingest.in_flight() > 0 && clock::now() < deadline && !past_stop_deadline()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
            commit(src, ingest);
        }
        const auto unacked = ingest.in_flight();
        source_ends[index].unacked.store(unacked + abandoned, std::memory_order_relaxed);
        source_ends[index].abandoned.store(abandoned, std::memory_order_relaxed);
        if (unacked > 0) {
            detail::log_fmt(log_level::error, "runtime",
                            "source {}: {} events still unacked after the drain timeout; not committed", src.name(),
                            unacked);
        }
        try {
            src.close();
        } catch (const std::exception& e) {
            detail::log_fmt(log_level::warning, "runtime", "source {} failed to close: {}", src.name(), e.what());
        }
        queues->close(index);
        {
            std::lock_guard lock(state_mutex);
            source_done[index] = true;
        }
        thread_done();
    }

    void run_shard(std::uint32_t index) {
        detail::shard_stage& stage = *shards[index];
        detail::router::batch batch;
        const auto& opt = parts.options;
        auto next_tick = clock::now() + opt.flush_interval;
        auto lane_has_work = [&] { return submit != nullptr && submit->has_work(index); };
        for (;;) {
            run_tasks(index);
            bool worked = false;
            // Bounded, so ticks (flushes, write-back) happen even under full load. The
            // sources' queues and the submit lane take turns, a batch each.
            for (int k = 0; k < 64; ++k) {
                bool got = false;
                if (queues->pop(index, batch)) {
                    stage.process(batch);
                    got = true;
                }
                if (submit != nullptr && submit->take(index, batch, opt.batch_size) > 0) {
                    stage.process(batch);
                    got = true;
                }
                if (!got) {
                    break;
                }
                worked = true;
            }
            const auto now = clock::now();
            if (now >= next_tick) {
                stage.tick(now);
                next_tick = now + opt.flush_interval;
            }
            if (!worked) {
                if (stage.write_back_while_idle()) {
                    // One small chunk copied. Let any thread waiting for this core run
                    // first (a host's loop or submitter: idle work must not delay them),
                    // then look for events before the next chunk.
                    std::this_thread::yield();
                    continue;
                }
                const bool sources_done = queues->drained(index);
                if (sources_done && (submit == nullptr || submit->drained(index))) {
                    break;
                }
                if (sources_done || (submit != nullptr && submit->held_back(index))) {
                    // Waiting for acks (the submit lane's drain, or max_in_flight): they
                    // come from other threads and wake nobody; look again shortly, ticking
                    // meanwhile so batching sinks flush.
                    std::this_thread::sleep_for(std::chrono::microseconds(200));
                    continue;
                }
                queues->wait_for_work(index, next_tick, lane_has_work);
            }
        }
        stage.finish();
        {
            std::lock_guard lock(state_mutex);
            shard_done[index] = true;
        }
        run_tasks(index);  // anything posted before the flag was seen
        thread_done();
    }

    void run_tasks(std::uint32_t index) {
        auto& box = *mailboxes[index];
        if (!box.pending.load(std::memory_order_acquire)) {
            return;
        }
        std::vector<std::function<void(detail::shard_stage&)>> tasks;
        {
            std::lock_guard lock(box.mutex);
            tasks.swap(box.tasks);
            box.pending.store(false, std::memory_order_relaxed);
        }
        const detail::activity_scope step(&shards[index]->activity(), detail::shard_activity::part::admin_task);
        for (auto& task : tasks) {
            task(*shards[index]);
        }
    }

    // Runs `task` on shard `index`'s thread, or here when that thread is not running (not
    // started, or finished: nothing else touches the stage then). Waits at most `timeout`.
    bool on_shard(std::uint32_t index, const std::function<void(detail::shard_stage&)>& task,
                  std::chrono::milliseconds timeout) {
        {
            std::lock_guard lock(state_mutex);
            if (!started || shard_done[index]) {
                task(*shards[index]);
                return true;
            }
        }
        auto done = std::make_shared<std::promise<void>>();
        auto future = done->get_future();
        {
            auto& box = *mailboxes[index];
            std::lock_guard lock(box.mutex);
            box.tasks.push_back([task, done](detail::shard_stage& stage) {
                task(stage);
                done->set_value();
            });
            box.pending.store(true, std::memory_order_release);
        }
        queues->nudge(index);
        return future.wait_for(timeout) == std::future_status::ready;
    }

    void join() {
        std::unique_lock lock(state_mutex);
        state_cv.wait(lock, [&] { return running == 0; });
        if (joined) {
            return;
        }
        joined = true;
        lock.unlock();
        stop_watchdog();
        stop_sweeper();
        if (committer) {
            committer->stop();  // the shards waited for their last write-backs already
        }
        for (auto& t : threads) {
            if (t.joinable()) {
                t.join();
            }
        }
        // Every shard is done: sinks complete what they still hold while the trackers live.
        std::vector<sink*> closed;
        for (const auto& bound : parts.sinks) {
            for (const auto& snk : bound) {
                if (std::find(closed.begin(), closed.end(), snk.get()) == closed.end()) {
                    closed.push_back(snk.get());
                    try {
                        snk->close();
                    } catch (const std::exception& e) {
                        detail::log_fmt(log_level::warning, "runtime", "sink {} failed to close: {}", snk->name(),
                                        e.what());
                    }
                }
            }
        }
    }
};

runtime::runtime(topology topo) : impl_(std::make_unique<impl>(std::move(topo))) {}

runtime::~runtime() {
    std::vector<std::thread> stoppers;
    {
        std::lock_guard lock(impl_->stoppers_mutex);
        stoppers.swap(impl_->stoppers);
    }
    for (auto& t : stoppers) {
        t.join();
    }
    if (!stop().stopped) {
        impl_->abandon();
#if defined(__SANITIZE_ADDRESS__)
        __lsan_ignore_object(impl_.get());  // kept on purpose, not leaked by mistake
#endif
        (void)impl_.release();  // see the header: a stuck thread still uses it
    }
}

void runtime::start() {
    if (const auto& sched = impl_->parts.options.shard_scheduling; sched.policy != thread_policy::inherit) {
        // Ask the kernel on a thread of its own first, so a refusal (no privilege for
        // SCHED_FIFO) is this call's error, before anything runs.
        std::exception_ptr refused;
        std::thread([&] {
            try {
                apply_to_this_thread(sched);
            } catch (...) {
                refused = std::current_exception();
            }
        }).join();
        if (refused) {
            std::rethrow_exception(refused);
        }
    }
    {
        std::lock_guard lock(impl_->state_mutex);
        if (impl_->started) {
            throw error(errc::invalid_config, "runtime: start() called twice");
        }
        impl_->started = true;
    }
    auto& store = *impl_->parts.store;
    for (auto& src : impl_->topo.sources()) {
        if (src->resumable() && store.durable()) {
            std::vector<source_position> mine;
            for (auto& pos : store.positions()) {
                if (pos.source == src->name()) {
                    mine.push_back(std::move(pos));
                }
            }
            if (!mine.empty()) {
                src->resume(mine);
            }
        }
        const auto i = static_cast<std::size_t>(&src - impl_->topo.sources().data());
        src->attach(*impl_->controls[i]);
        src->open();  // throws: nothing is running yet
    }
    const auto sources = static_cast<std::uint32_t>(impl_->topo.sources().size());
    {
        std::lock_guard lock(impl_->state_mutex);
        impl_->running = sources + impl_->parts.shards;
    }
    // The threads hold the impl, not `this`: a stuck one may outlive the runtime object
    // (see ~runtime).
    auto* d = impl_.get();
    for (std::uint32_t i = 0; i < d->parts.shards; ++i) {
        d->threads.emplace_back([d, i] {
            name_this_thread(fmt::format("rtcrm-shard{}", i));
            try {
                apply_to_this_thread(d->parts.options.shard_scheduling);
            } catch (const std::exception& e) {
                // start()'s probe was allowed; the limits changed since. Run as created.
                detail::log_fmt(log_level::warning, "runtime", "shard {}: {}; running with the inherited scheduling", i,
                                e.what());
            }
            d->run_shard(i);
        });
    }
    for (std::uint32_t i = 0; i < sources; ++i) {
        d->threads.emplace_back([d, i] {
            name_this_thread(fmt::format("rtcrm-src{}", i));
            d->run_source(i);
        });
    }
    if (d->parts.options.expiry.enabled()) {
        d->sweeper = std::thread([d] { d->run_sweeper(); });
    }
    if (d->parts.options.stuck_after.count() > 0) {
        d->watchdog = std::thread([d] {
            name_this_thread("rtcrm-watchdog");
            d->run_watchdog();
        });
    }
}

stop_report runtime::stop() {
    auto& d = *impl_;
    if (d.submit != nullptr) {
        d.submit->close();  // refuse from now on; what it holds is drained
    }
    std::int64_t unset = 0;
    d.stop_deadline_ns.compare_exchange_strong(unset, to_ns(clock::now() + d.parts.options.drain_timeout),
                                               std::memory_order_acq_rel);
    d.stop_requested.store(true, std::memory_order_release);
    for (auto& src : d.topo.sources()) {
        src->wakeup();
    }
    bool started = false;
    {
        std::lock_guard lock(d.state_mutex);
        started = d.started;
    }
    if (!started) {
        return d.report(true);
    }
    if (!d.await_threads(d.stop_deadline_ns.load(std::memory_order_acquire))) {
        return d.report(false);
    }
    d.join();
    return d.report(true);
}

void runtime::wait() {
    {
        std::unique_lock lock(impl_->state_mutex);
        if (!impl_->started) {
            return;
        }
        impl_->state_cv.wait(lock, [&] { return impl_->running == 0 || impl_->gave_up; });
        if (impl_->running > 0) {
            return;  // stop() gave up on a stuck thread
        }
    }
    impl_->join();
}

bool runtime::wait_for(std::chrono::milliseconds timeout) {
    {
        std::unique_lock lock(impl_->state_mutex);
        if (!impl_->started) {
            return true;
        }
        if (!impl_->state_cv.wait_for(lock, timeout, [&] { return impl_->running == 0 || impl_->gave_up; })) {
            return false;
        }
        if (impl_->running > 0) {
            return true;  // stop() gave up on a stuck thread
        }
    }
    impl_->join();
    return true;
}

void runtime::run() {
    start();
    wait();
}

void runtime::stop_async(std::function<void()> on_stopped) {
    std::lock_guard lock(impl_->stoppers_mutex);
    impl_->stoppers.emplace_back([this, done = std::move(on_stopped)] {
        stop();
        if (done) {
            done();
        }
    });
}

namespace {
detail::submit_source& submit_source_of(detail::submit_source* submit) {
    if (submit == nullptr) {
        throw error(errc::invalid_config, "runtime::submit: submission is off (set runtime_options::submit_capacity)");
    }
    return *submit;
}
}  // namespace

submit_status runtime::submit(record& rec, std::chrono::milliseconds timeout) {
    return submit_source_of(impl_->submit).push(rec, timeout);
}

submit_status runtime::submit(std::string json, std::chrono::milliseconds timeout) {
    record rec{std::move(json), std::nullopt, {}};
    return submit(rec, timeout);
}

std::size_t runtime::submit(std::span<record> records, std::chrono::milliseconds timeout) {
    return submit_source_of(impl_->submit).push(records, timeout);
}

std::size_t runtime::submit_queue_depth() const noexcept { return impl_->submit != nullptr ? impl_->submit->queued() : 0; }

runtime_stats runtime::stats() const {
    runtime_stats s;
    std::array<std::uint64_t, detail::stage_counters::reasons> reasons{};
    detail::pipeline_parts::sum(impl_->ingests, s, reasons);
    detail::pipeline_parts::sum(impl_->shards, s, reasons);
    detail::pipeline_parts::finish_reasons(s, reasons);
    for (const auto& ingest : impl_->ingests) {
        s.nacked += ingest->counters().nacked.load(std::memory_order_relaxed);
    }
    if (impl_->submit != nullptr) {
        // Submitted records skip the ingest stages: their lanes count them.
        s.events_in += impl_->submit->taken();
        s.nacked += impl_->submit->nacked();
    }
    if (impl_->committer) {
        s.store_errors += impl_->committer->errors();
        impl_->committer->commit_latency().add_to(s.store_commit);
    }
    s.expired_profiles += impl_->swept_expired.load(std::memory_order_relaxed);
    s.trimmed_profiles += impl_->swept_trimmed.load(std::memory_order_relaxed);
    s.shards = impl_->parts.shards;
    for (std::uint32_t i = 0; i < impl_->parts.shards; ++i) {
        s.queue_depth.push_back(impl_->queues->depth(i));
    }
    return s;
}

std::uint32_t runtime::shards() const noexcept { return impl_->parts.shards; }

std::vector<rtcrm::shard_health> runtime::shard_health() const {
    std::vector<bool> done;
    {
        std::lock_guard lock(impl_->state_mutex);
        done = impl_->shard_done;
    }
    const auto now = steady_now_ns();
    std::vector<rtcrm::shard_health> out;
    out.reserve(impl_->parts.shards);
    for (std::uint32_t s = 0; s < impl_->parts.shards; ++s) {
        out.push_back(impl_->health_of(s, done[s], now));
    }
    return out;
}

std::uint64_t runtime::stuck_episodes() const noexcept { return impl_->stuck_count.load(std::memory_order_relaxed); }

bool stop_report::clean() const noexcept {
    return stopped && std::all_of(sources.begin(), sources.end(),
                                  [](const source_drain& s) { return s.closed && s.unacked == 0 && s.nacked == 0; });
}

std::string stop_report::summary() const {
    std::string out;
    auto line = std::back_inserter(out);
    for (const auto& h : unfinished) {
        fmt::format_to(line, "shard {} did not finish{}: {}\n", h.shard,
                       h.stuck ? ", stuck for " + duration_text(h.busy_for) : "",
                       h.doing.empty() ? "waiting for work" : h.doing);
    }
    if (!stopped && in_flight > 0) {
        fmt::format_to(line, "{} events read and not processed (in the shards' queues or their current step)\n",
                       in_flight);
    }
    for (const auto& s : sources) {
        if (!s.closed) {
            fmt::format_to(
                line,
                "source {}: {} read; its thread did not end (in poll, commit or close): what it committed is unknown\n",
                s.name, s.read);
        } else if (s.unacked > 0 || s.nacked > 0) {
            fmt::format_to(line,
                           "source {}: {} read; not committed: {} still in flight at the drain timeout, {} failed\n",
                           s.name, s.read, s.unacked, s.nacked);
        }
    }
    return out;
}

const std::shared_ptr<profile_store>& runtime::store() const noexcept { return impl_->parts.store; }

std::optional<profile> runtime::profile_of(const player_key& key, std::chrono::milliseconds timeout) {
    auto& d = *impl_;
    // A shared result: a late answer (after the timeout) must not write to a dead frame.
    struct answer {
        std::mutex mutex;
        std::optional<profile> p;
        bool cached = false;
    };
    auto result = std::make_shared<answer>();
    if (!d.on_shard(key.shard(d.parts.shards),
                    [result, key](detail::shard_stage& stage) {
                        if (const auto* p = stage.find(key)) {
                            std::lock_guard lock(result->mutex);
                            result->p = *p;
                            result->cached = true;
                        }
                    },
                    timeout)) {
        throw error(errc::timeout, fmt::format("runtime: shard {} did not answer within {} ms", key.shard(d.parts.shards),
                                               timeout.count()));
    }
    std::lock_guard lock(result->mutex);
    if (result->cached) {
        return std::move(result->p);
    }
    std::vector<player_key> keys{key};
    std::vector<std::optional<profile>> out(1);
    if (const auto ec = d.parts.store->get(keys, out); ec) {
        throw error(errc::store_error, fmt::format("runtime: store {}: {}", d.parts.store->name(), ec.message()));
    }
    return std::move(out[0]);
}

std::error_code runtime::scan_profiles(const visitor_factory& make, std::size_t store_workers, std::chrono::milliseconds timeout) {
    auto& d = *impl_;
    const auto shards = d.parts.shards;
    // The shards' own profiles first, each on its thread; note which keys they hold.
    std::vector<std::shared_ptr<std::vector<player_key>>> held(shards);
    for (std::uint32_t s = 0; s < shards; ++s) {
        held[s] = std::make_shared<std::vector<player_key>>();
        auto keys = held[s];
        auto visit = make(s);
        if (!d.on_shard(s,
                        [keys, visit](detail::shard_stage& stage) {
                            bool more = true;
                            stage.for_each_cached([&](const profile& p) {
                                keys->push_back(p.key());
                                more = more && visit(p);
                                return true;  // keep collecting keys: the store part must skip them all
                            });
                        },
                        timeout)) {
            return make_error_code(errc::timeout);
        }
    }
    std::unordered_set<player_key> cached;
    for (const auto& keys : held) {
        cached.insert(keys->begin(), keys->end());
    }
    return d.parts.store->scan_parallel(store_workers, [&](std::size_t w) -> profile_visitor {
        auto visit = make(shards + w);
        return [&cached, visit](const profile& p) { return cached.contains(p.key()) || visit(p); };
    });
}

}  // namespace rtcrm
