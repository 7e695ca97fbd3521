// Internal: the body of a shard thread "rtcrm-shard<i>", one per shard.
//
// It takes batches from the sources' queues (router::pop) and from its submit lane in
// turn, at most 64 rounds before it ticks (sink flushes, write-back) every
// flush_interval, runs the tasks other threads post to its mailbox, copies a volatile
// store's write-back while idle, and parks on the router when there is nothing to do.
// It ends once every source closed and its queues and lane are drained, with
// shard_stage::finish (the final write-back and flush).
#pragma once

#include "router.hpp"
#include "run_state.hpp"
#include "shard_mailbox.hpp"
#include "shard_stage.hpp"
#include "submit_source.hpp"

#include <rtcrm/core/topology.hpp>

#include <cstdint>

namespace rtcrm::detail {

// The shard thread for shard `index`; every argument outlives it, `submit` may be null
// (submission off).
void run_shard(std::uint32_t index, shard_stage& stage, router& queues, submit_source* submit, shard_mailbox& mailbox,
               const runtime_options& options, run_state& state);

}  // namespace rtcrm::detail
