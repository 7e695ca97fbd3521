// Internal: what a runtime owns, for the files that implement it: runtime.cpp (building,
// starting, stopping, joining, stats), stop_report.cpp (what a stop left undone) and
// profile_reads.cpp (other threads reading the shards' profiles). Each thread's body
// lives in its own file: source_runner, shard_runner, watchdog, ttl_sweeper; the
// store_committer starts its own.
#pragma once

#include "ingest_stage.hpp"
#include "pipeline.hpp"
#include "router.hpp"
#include "run_state.hpp"
#include "shard_health.hpp"
#include "shard_mailbox.hpp"
#include "shard_stage.hpp"
#include "source_runner.hpp"
#include "store_committer.hpp"
#include "submit_source.hpp"
#include "ttl_sweeper.hpp"
#include "watchdog.hpp"

#include <rtcrm/core/runtime.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace rtcrm {

struct runtime::impl {
    detail::submit_source* submit = nullptr;  // owned by topo (its last source), or none
    topology topo;
    detail::pipeline_parts parts;
    std::vector<std::unique_ptr<detail::ingest_stage>> ingests;  // one per source
    // With a durable store, write-backs and their acks go through one committer thread
    // (group commit over all shards). Declared before the shards, which point to it.
    std::unique_ptr<detail::store_committer> committer;
    std::vector<std::unique_ptr<detail::shard_stage>> shards;
    std::unique_ptr<detail::router> queues;
    std::vector<std::unique_ptr<detail::shard_mailbox>> mailboxes;  // one per shard
    detail::run_state state;
    std::vector<std::unique_ptr<detail::source_runner>> sources;  // one per source
    detail::shard_inspector inspector;

    // The threads come last: they use everything above, and whatever is still joinable
    // when the impl goes is joined before the rest.
    detail::ttl_sweeper sweeper;
    detail::watchdog watchdog;
    std::vector<std::jthread> threads;  // the shards', then the sources'
    // Run stop() for stop_async callers; joined by the destructor.
    std::mutex stoppers_mutex;
    std::vector<std::jthread> stoppers;  // guarded by stoppers_mutex

    explicit impl(topology t);
    // Ends the committer first: its thread asks `state` (declared after it, so destroyed
    // before it) for the drain deadline.
    ~impl();
    impl(const impl&) = delete;
    impl& operator=(const impl&) = delete;

    // Runs `task` on shard `index`'s thread, or here when that thread is not running (not
    // started, or finished: nothing else touches the stage then). Waits at most `timeout`.
    bool on_shard(std::uint32_t index, const detail::shard_mailbox::task& task, std::chrono::milliseconds timeout);
    // Every shard writes back and drops the profiles it caches for events of source
    // `source`'s `partitions` (source_control::forget_profiles). False if a shard did not
    // answer within `timeout`.
    bool forget_profiles(std::uint32_t source, std::span<const std::int32_t> partitions,
                         std::chrono::milliseconds timeout);
    // Once every thread ended: stops the helpers, joins the threads, closes the sinks.
    void join();
    // The destructor's way out when threads are still running after stop(): they keep
    // using this object, so it must outlive them (it is never freed).
    void abandon();
    // What stop() reports (stop_report.cpp).
    stop_report report(bool stopped);
};

}  // namespace rtcrm
