#include <rtcrm/runtime.hpp>

#include "pipeline.hpp"
#include "router.hpp"
#include "stage.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

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

}  // namespace

struct runtime::impl {
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

    std::atomic<bool> stop_requested{false};
    std::mutex state_mutex;
    std::condition_variable state_cv;
    std::uint32_t running = 0;  // threads not yet finished (guarded by state_mutex)
    bool started = false;
    bool joined = false;

    explicit impl(topology t)
        : topo(std::move(t)), parts(topo, topo.sources().size()) {
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

        while (!stop_requested.load(std::memory_order_acquire)) {
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
        auto next_tick = clock::now() + parts.options.flush_interval;
        for (;;) {
            bool worked = false;
            // Bounded, so ticks (flushes, write-back) happen even under full load.
            for (int k = 0; k < 64 && queues->pop(index, batch); ++k) {
                stage.process(batch);
                worked = true;
            }
            const auto now = clock::now();
            if (now >= next_tick) {
                stage.tick(now);
                next_tick = now + parts.options.flush_interval;
            }
            if (!worked) {
                if (queues->drained(index)) {
                    break;
                }
                queues->wait_for_work(index, next_tick);
            }
        }
        stage.finish();
        thread_done();
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

runtime::~runtime() { stop(); }

void runtime::start() {
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
        impl_->threads.emplace_back([this, i] { impl_->run_shard(i); });
    }
    for (std::uint32_t i = 0; i < sources; ++i) {
        impl_->threads.emplace_back([this, i] { impl_->run_source(i); });
    }
    if (impl_->parts.options.expiry.enabled()) {
        impl_->sweeper = std::thread([this] { impl_->run_sweeper(); });
    }
}

void runtime::stop() {
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

runtime_stats runtime::stats() const {
    runtime_stats s;
    std::array<std::uint64_t, detail::stage_counters::reasons> reasons{};
    detail::pipeline_parts::sum(impl_->ingests, s, reasons);
    detail::pipeline_parts::sum(impl_->shards, s, reasons);
    detail::pipeline_parts::finish_reasons(s, reasons);
    for (const auto& ingest : impl_->ingests) {
        s.nacked += ingest->counters().nacked.load(std::memory_order_relaxed);
    }
    if (impl_->committer) {
        s.store_errors += impl_->committer->errors();
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

}  // namespace rtcrm
