// Internal: what the runtime and the test driver both build from a topology.
#pragma once

#include "output_buffer.hpp"
#include "stage_counters.hpp"

#include <rtcrm/core/topology.hpp>

namespace rtcrm::detail {

// The parts of a topology resolved for running: options with the shard count fixed,
// sinks per stream, source names, the store. The topology's defaults
// (topology_defaults.hpp) must be in place: a topology without a store is refused.
struct pipeline_parts {
    runtime_options options;
    std::uint32_t shards = 1;
    sink_table sinks;
    std::vector<std::string> source_names;
    std::shared_ptr<profile_store> store;
    // What the store's tallies held at the start, read once and given to every shard
    // bolt's factory (bolt_placement::stored_tallies); null if the store keeps none.
    std::shared_ptr<const std::vector<tally>> stored_tallies;

    // @throws rtcrm::error naming the store if it keeps tallies and cannot read them.
    explicit pipeline_parts(topology& topo, std::size_t source_count);

    // One bolt per factory for shard `worker`; `shard_bolts`: they get stored_tallies
    // (ingest bolts get null: they run before profiles, and their tallies are not taken).
    std::vector<std::unique_ptr<bolt>> make_bolts(const std::vector<bolt_factory>& factories, std::uint32_t worker,
                                                  std::uint32_t workers, bool shard_bolts) const;
    // Sums the counters of the given stages.
    template <typename Stages>
    static void sum(const Stages& stages, runtime_stats& s, std::array<std::uint64_t, stage_counters::reasons>& reasons) {
        for (const auto& st : stages) {
            st->counters().add_to(s, reasons);
        }
    }
    static void finish_reasons(runtime_stats& s, const std::array<std::uint64_t, stage_counters::reasons>& reasons);
};

}  // namespace rtcrm::detail
