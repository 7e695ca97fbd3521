#include <rtcrm/runtime.hpp>

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
    std::mutex state_mutex;
    std::condition_variable state_cv;
    std::uint32_t running = 0;  // threads not yet finished (guarded by state_mutex)
    std::vector<bool> shard_done;  // per shard: its thread finished (guarded by state_mutex)
    bool started = false;
    bool joined = false;

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
                    fmt::print(stderr, "rtcrm: the TTL sweep of store {} failed: {}\n", parts.store->name(), ec.message());
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
            fmt::print(stderr, "rtcrm: source {} failed to commit: {}\n", src.name(), e.what());
        }
        // A durable store also keeps the positions, so a restart resumes after them. (Acks
        // wait for the profiles' group commit, so every event up to them is stored.)
        if (src.resumable() && parts.store->durable()) {
            write_batch positions;
            positions.positions = std::move(moved);
            if (const auto ec = parts.store->write(positions); ec) {
                fmt::print(stderr, "rtcrm: storing the positions of {} failed: {}\n", src.name(), ec.message());
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
                fmt::print(stderr, "rtcrm: source {} failed while idle: {}\n", src.name(), e.what());
            }
        };
        auto push_all = [&] {
            for (std::uint32_t s = 0; s < parts.shards; ++s) {
                if (!per_shard[s].empty()) {
                    queues->push(index, s, per_shard[s], idle);
                }
            }
        };
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
                fmt::print(stderr, "rtcrm: source {} failed: {}; stopping it\n", src.name(), e.what());
                status = poll_status::end;
            }
            std::size_t next = 0;
            while (next < records.size()) {
                next = ingest.process(records, next, per_shard);
                push_all();
                if (next < records.size()) {
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

        // Drain: everything read is in the queues; wait until it is acked, then commit.
        const auto deadline = clock::now() + opt.drain_timeout;
        commit(src, ingest);
        while (ingest.in_flight() > 0 && clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
            commit(src, ingest);
        }
        if (ingest.in_flight() > 0) {
            fmt::print(stderr, "rtcrm: source {}: {} events still unacked after the drain timeout; not committed\n",
                       src.name(), ingest.in_flight());
        }
        try {
            src.close();
        } catch (const std::exception& e) {
            fmt::print(stderr, "rtcrm: source {} failed to close: {}\n", src.name(), e.what());
        }
        queues->close(index);
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
                        fmt::print(stderr, "rtcrm: sink {} failed to close: {}\n", snk->name(), e.what());
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
    stop();
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
    for (std::uint32_t i = 0; i < impl_->parts.shards; ++i) {
        impl_->threads.emplace_back([this, i] {
            name_this_thread(fmt::format("rtcrm-shard{}", i));
            try {
                apply_to_this_thread(impl_->parts.options.shard_scheduling);
            } catch (const std::exception& e) {
                // start()'s probe was allowed; the limits changed since. Run as created.
                fmt::print(stderr, "rtcrm: shard {}: {}; running with the inherited scheduling\n", i, e.what());
            }
            impl_->run_shard(i);
        });
    }
    for (std::uint32_t i = 0; i < sources; ++i) {
        impl_->threads.emplace_back([this, i] {
            name_this_thread(fmt::format("rtcrm-src{}", i));
            impl_->run_source(i);
        });
    }
    if (impl_->parts.options.expiry.enabled()) {
        impl_->sweeper = std::thread([this] { impl_->run_sweeper(); });
    }
}

void runtime::stop() {
    if (impl_->submit != nullptr) {
        impl_->submit->close();  // refuse from now on; what it holds is drained
    }
    impl_->stop_requested.store(true, std::memory_order_release);
    for (auto& src : impl_->topo.sources()) {
        src->wakeup();
    }
    wait();
}

void runtime::wait() {
    {
        std::lock_guard lock(impl_->state_mutex);
        if (!impl_->started) {
            return;
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
        if (!impl_->state_cv.wait_for(lock, timeout, [&] { return impl_->running == 0; })) {
            return false;
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
