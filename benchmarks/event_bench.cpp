// Events: parsing one event (RapidJSON DOM, key, type, ts and id extraction) and reading
// its fields, as bolts and scripts do. Items are events.
#include <rtcrm/core/event.hpp>
#include <rtcrm/core/event_builder.hpp>
#include <rtcrm/core/generator_source.hpp>

#include <benchmark/benchmark.h>

#include <string>
#include <string_view>
#include <vector>

namespace {

// The default wire format, as a game sends it.
constexpr std::string_view typical =
    R"({"id":"e-1","player_id":42,"type":"fight","ts":1763800000000,"game":"foe","market":"de","data":{"result":"loss","opponent":17}})";

void count(benchmark::State& state, std::size_t bytes_per_item) {
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes_per_item));
}

// The runtime's path: a record's bytes move into the event (the copy into the record is
// included, as a source makes one per event anyway).
void parse_typical_event(benchmark::State& state) {
    const rtcrm::parse_options options;
    for (auto _ : state) {
        auto ev = rtcrm::parse_event(rtcrm::record{std::string{typical}, std::nullopt, {}}, options);
        benchmark::DoNotOptimize(ev.value().ts());
    }
    count(state, typical.size());
}
BENCHMARK(parse_typical_event);

// The synthetic game's mix (login, fight, build, purchase, level_up), cycling through
// 4096 pre-generated events, so the parser sees varied types and sizes.
void parse_generator_mix(benchmark::State& state) {
    rtcrm::generator_source gen{{.events = 4096, .players = 100'000, .seed = 1}};
    std::vector<rtcrm::record> records;
    while (gen.poll(records, 4096, std::chrono::milliseconds(0)) == rtcrm::poll_status::more) {
    }
    std::size_t bytes = 0;
    for (const auto& r : records) {
        bytes += r.bytes.size();
    }
    const rtcrm::parse_options options;
    std::size_t i = 0;
    for (auto _ : state) {
        auto ev = rtcrm::parse_event(std::string_view{records[i].bytes}, options);
        benchmark::DoNotOptimize(ev.value().ts());
        i = (i + 1) % records.size();
    }
    count(state, bytes / records.size());
    state.counters["avg_bytes"] = static_cast<double>(bytes) / static_cast<double>(records.size());
}
BENCHMARK(parse_generator_mix);

// The failure path: a record without the key field becomes a `missing_field` failure
// (what a dead-letter costs before its record is written).
void refuse_event_without_key(benchmark::State& state) {
    constexpr std::string_view no_key = R"({"id":"e-1","type":"fight","ts":1763800000000,"data":{"result":"loss"}})";
    const rtcrm::parse_options options;
    for (auto _ : state) {
        auto ev = rtcrm::parse_event(no_key, options);
        benchmark::DoNotOptimize(ev.ok());
    }
    count(state, no_key.size());
}
BENCHMARK(refuse_event_without_key);

// The fields the runtime extracted at parse time: key, type, ts, id (no look-up).
void read_header_fields(benchmark::State& state) {
    const auto ev = rtcrm::parse_event(typical, {});
    for (auto _ : state) {
        benchmark::DoNotOptimize(ev->player().hash());
        benchmark::DoNotOptimize(ev->type().size());
        benchmark::DoNotOptimize(ev->ts());
        benchmark::DoNotOptimize(ev->id().size());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(read_header_fields);

// A top-level member by name: a linear scan of the object's members.
void read_a_top_level_field(benchmark::State& state) {
    const auto ev = rtcrm::parse_event(typical, {});
    for (auto _ : state) {
        const auto* market = ev->field("market");
        benchmark::DoNotOptimize(market->GetStringLength());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(read_a_top_level_field);

// `data.result`, as a "frustrated fighter" rule reads it.
void read_a_nested_field(benchmark::State& state) {
    const auto ev = rtcrm::parse_event(typical, {});
    for (auto _ : state) {
        const auto* data = ev->field("data");
        benchmark::DoNotOptimize((*data)["result"].GetStringLength());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(read_a_nested_field);

}  // namespace

// A host building events without JSON text (event_builder), as rtcrm-embed-bench's host
// thread does: one reused builder, a player, a type, a time, an id and one data field.
void build_an_event_with_the_builder(benchmark::State& state) {
    rtcrm::event_builder b;
    std::int64_t i = 0;
    for (auto _ : state) {
        ++i;
        auto rec = b.player(i % 10'000 + 1)
                       .type("fight")
                       .ts(1'763'800'000'000 + i)
                       .id("t1765040000000000000")
                       .field("result", "loss")
                       .build();
        benchmark::DoNotOptimize(rec.bytes.data());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(build_an_event_with_the_builder);

BENCHMARK_MAIN();
