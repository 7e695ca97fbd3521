// Parsing one event: RapidJSON DOM, key, type, ts and id extraction.
#include <rtcrm/event.hpp>

#include <benchmark/benchmark.h>

namespace {

constexpr const char* typical =
    R"({"id":"g-123456","player_id":4242,"type":"fight","ts":1763800000000,"game":"foe","market":"de","data":{"result":"loss","opponent":17}})";

void parse_typical_event(benchmark::State& state) {
    const rtcrm::parse_options options;
    for (auto _ : state) {
        auto ev = rtcrm::parse_event(typical, options);
        benchmark::DoNotOptimize(ev.value().ts());
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(std::char_traits<char>::length(typical)));
}
BENCHMARK(parse_typical_event);

void read_a_nested_field(benchmark::State& state) {
    auto ev = rtcrm::parse_event(typical, {});
    for (auto _ : state) {
        const auto* data = ev->field("data");
        benchmark::DoNotOptimize((*data)["result"].GetStringLength());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(read_a_nested_field);

}  // namespace

BENCHMARK_MAIN();
