// JSON Schema validation of a batch of typical events (one validator per schema, reused).
#include <rtcrm/bolt/validation_bolt.hpp>

#include "bench_context.hpp"

#include <benchmark/benchmark.h>

namespace {

void validate_fight_events(benchmark::State& state) {
    const auto schemas = rtcrm::validation_bolt::load({.schema_dir = RTCRM_SOURCE_DIR "/examples/schemas"});
    rtcrm::validation_bolt bolt{schemas};
    std::vector<rtcrm::event> batch;
    for (int i = 0; i < 256; ++i) {
        batch.push_back(std::move(rtcrm::parse_event(
            R"({"id":"g-1","player_id":42,"type":"fight","ts":1763800000000,"game":"foe","market":"de","data":{"result":"loss","opponent":17}})",
            {}).value()));
    }
    rtcrm::bench::bench_context ctx;
    for (auto _ : state) {
        bolt.process(batch, ctx);
    }
    if (ctx.rejected != 0) {
        state.SkipWithError("events were rejected");
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch.size()));
}
BENCHMARK(validate_fight_events);

}  // namespace

BENCHMARK_MAIN();
