#include "pipeline.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace rtcrm::detail {

pipeline_parts::pipeline_parts(topology& topo, std::size_t source_count)
    : options(topo.options()), shards(topo.options().resolved_shards()), store(topo.store()) {
    options.validate();
    if (options.timer_clock == timer_clock_mode::automatic) {
        // Event time when all input ends by itself (replays, files, tests: exact); the wall
        // clock as well when events may stop coming for a while.
        const bool bounded = options.submit_capacity == 0 &&
                             std::all_of(topo.sources().begin(), topo.sources().end(),
                                         [](const auto& src) { return src->bounded(); });
        options.timer_clock = bounded ? timer_clock_mode::event : timer_clock_mode::wall;
    }
    if (!store) {
        throw error(errc::invalid_config, "runtime: the topology has no store (apply detail::with_defaults first)");
    }
    if (store->keeps_tallies()) {
        auto read = store->tallies();
        if (!read) {
            throw error(read.error().code,
                        fmt::format("runtime: cannot read the tallies (the counters kept with the profiles) of the {} "
                                    "store, so the counters built on them cannot go on from where they were: {}",
                                    store->name(), read.error().reason));
        }
        stored_tallies = std::make_shared<const std::vector<tally>>(std::move(read).value());
    }
    for (const auto& [s, snk] : topo.sinks()) {
        sinks[static_cast<std::size_t>(s)].push_back(snk);
    }
    for (std::size_t i = 0; i < source_count; ++i) {
        source_names.emplace_back(i < topo.sources().size() ? std::string{topo.sources()[i]->name()} : fmt::format("source{}", i));
    }
}

std::vector<std::unique_ptr<bolt>> pipeline_parts::make_bolts(const std::vector<bolt_factory>& factories,
                                                              std::uint32_t worker, std::uint32_t workers,
                                                              bool shard_bolts) const {
    std::vector<std::unique_ptr<bolt>> bolts;
    for (const auto& f : factories) {
        auto b = f(bolt_placement{worker, workers, shard_bolts ? stored_tallies : nullptr});
        if (!b) {
            throw error(errc::invalid_config, "topology: a bolt factory returned null");
        }
        bolts.push_back(std::move(b));
    }
    return bolts;
}

void pipeline_parts::finish_reasons(runtime_stats& s, const std::array<std::uint64_t, stage_counters::reasons>& reasons) {
    for (std::size_t i = 1; i < reasons.size(); ++i) {
        if (reasons[i] > 0) {
            s.dead_lettered_by_reason.emplace_back(stage_counters::slot_codes[i], reasons[i]);
        }
    }
}

}  // namespace rtcrm::detail
