// Internal: the body of a source thread "rtcrm-src<i>", one per source.
//
// It polls its source, tracks and routes each record (ingest_stage) and hands each
// shard's batch to the router: a full queue makes it wait (backpressure), calling
// source::idle meanwhile so a group member keeps its session. Every commit_interval it
// gives the source the positions that became safe (and a durable store too). Once the
// source ends or stop() is requested, it drains: it waits until what it read is acked
// (at most the drain timeout, never past the first stop()'s deadline), commits, closes
// the source and tells the router and run_state that it ended.
//
// The stop reaches it through run_state's stop token; a stop callback wakes a blocking
// poll (source::wakeup). The submit source is polled on after the stop until it ends:
// no submit can land after that, so the shards know nothing follows.
#pragma once

#include "ingest_stage.hpp"
#include "router.hpp"
#include "run_state.hpp"

#include <rtcrm/core/profile_store.hpp>
#include <rtcrm/core/source.hpp>
#include <rtcrm/core/topology.hpp>

#include <atomic>
#include <cstdint>
#include <string>

namespace rtcrm::detail {

class source_runner {
public:
    // Every argument outlives the runner. `drains_itself`: the submit source (see above).
    // `forget`: drops the shards' cached profiles of this source's partitions
    // (source_control::forget_profiles).
    source_runner(std::uint32_t index, source& src, ingest_stage& ingest, const runtime_options& options,
                  std::uint32_t shards, router& queues, profile_store& store, run_state& state, bool drains_itself,
                  ingest_control::forget_fn forget)
        : index_(index),
          src_(&src),
          ingest_(&ingest),
          control_(ingest, std::move(forget)),
          options_(&options),
          shards_(shards),
          queues_(&queues),
          store_(&store),
          state_(&state),
          drains_itself_(drains_itself) {}

    // The source thread: until the source ended and drained (see above).
    void run();

    // What the source gets to see of its ingest stage (source::attach).
    [[nodiscard]] source_control& control() noexcept { return control_; }
    // Set before the thread ends: events still in flight when it stopped waiting, and
    // records it read at stop but never handed on (no room, then no time). Any thread.
    [[nodiscard]] std::uint64_t unacked() const noexcept { return unacked_.load(std::memory_order_relaxed); }
    [[nodiscard]] std::uint64_t abandoned() const noexcept { return abandoned_.load(std::memory_order_relaxed); }
    // Why the source ended early ("" if it did not fail). Read it once run_state says the
    // thread ended (source_ended orders the write before that).
    [[nodiscard]] const std::string& failure() const noexcept { return failure_; }

private:
    // Reads the records until the source ends or the stop; returns those given up.
    std::uint64_t poll_until_end();
    // Hands the safe positions that moved to the source (and a durable store).
    void commit();
    void idle();

    std::uint32_t index_;
    source* src_;
    ingest_stage* ingest_;
    ingest_control control_;
    const runtime_options* options_;
    std::uint32_t shards_;
    router* queues_;
    profile_store* store_;
    run_state* state_;
    bool drains_itself_;
    std::atomic<std::uint64_t> unacked_{0};
    std::atomic<std::uint64_t> abandoned_{0};
    std::string failure_;  // written on the source thread before state_->source_ended
};

}  // namespace rtcrm::detail
