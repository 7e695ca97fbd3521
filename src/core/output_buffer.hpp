// Internal: the outputs a shard collects while it processes a batch, handed to the
// sinks of their streams once per batch (one virtual call per sink and batch).
#pragma once

#include "shard_activity.hpp"
#include "stage_counters.hpp"

#include <rtcrm/core/output.hpp>
#include <rtcrm/core/sink.hpp>

#include <array>
#include <memory>
#include <vector>

namespace rtcrm::detail {

// The sinks bound to each stream.
using sink_table = std::array<std::vector<std::shared_ptr<sink>>, stream_count>;

// Outputs collected while a batch is processed, handed to the sinks once per batch.
class output_buffer {
public:
    output_buffer(const sink_table& sinks, stage_counters& counters, shard_activity* activity = nullptr)
        : sinks_(&sinks), counters_(&counters), activity_(activity) {}
    void add(output out) { pending_[static_cast<std::size_t>(out.stream)].push_back(std::move(out)); }
    // Hands every pending output to the sinks of its stream (a share of the ack per extra sink).
    void dispatch();

private:
    const sink_table* sinks_;
    stage_counters* counters_;
    shard_activity* activity_;  // names the sink being called, if set
    std::array<std::vector<output>, stream_count> pending_;
    std::vector<output> copies_;
};

}  // namespace rtcrm::detail
