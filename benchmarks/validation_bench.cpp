// JSON Schema validation: one validation_bolt (its own compiled schemas and reused
// validators, as each shard has) over a batch of 256 parsed events, with a bolt_context
// test double that counts rejects. Items are events.
#include <rtcrm/core/generator_source.hpp>
#include <rtcrm/core/validation_bolt.hpp>

#include "bench_context.hpp"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <string>
#include <vector>

namespace {

constexpr std::size_t batch_events = 256;
constexpr const char* schema_dir = RTCRM_SOURCE_DIR "/examples/schemas";

std::vector<rtcrm::event> parse_all(const std::vector<std::string>& texts) {
    std::vector<rtcrm::event> out;
    out.reserve(texts.size());
    for (const auto& t : texts) {
        out.push_back(std::move(rtcrm::parse_event(t, {}).value()));
    }
    return out;
}

// Validates `batch` once per iteration; fails the benchmark unless exactly
// `expected_rejects` events per batch were rejected.
void run(benchmark::State& state, std::vector<rtcrm::event>& batch, std::size_t expected_rejects) {
    rtcrm::validation_bolt bolt{rtcrm::validation_bolt::load({.schema_dir = schema_dir})};
    rtcrm::bench::bench_context ctx;
    for (auto _ : state) {
        bolt.process(batch, ctx);
    }
    const auto batches = static_cast<std::uint64_t>(state.iterations());
    if (ctx.rejected != expected_rejects * batches) {
        state.SkipWithError(fmt::format("{} rejects, expected {}", ctx.rejected, expected_rejects * batches).c_str());
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch.size()));
    state.counters["rejects_per_batch"] = static_cast<double>(expected_rejects);
}

// The typical event: a valid fight.
void validate_fight_events(benchmark::State& state) {
    std::vector<std::string> texts;
    for (std::size_t i = 0; i < batch_events; ++i) {
        texts.push_back(fmt::format(
            R"({{"id":"e-{}","player_id":{},"type":"fight","ts":{},"game":"foe","market":"de","data":{{"result":"{}","opponent":17}}}})",
            i, 1 + i % 1000, 1763800000000 + i, i % 2 == 0 ? "loss" : "win"));
    }
    auto batch = parse_all(texts);
    run(state, batch, 0);
}
BENCHMARK(validate_fight_events);

// The synthetic game's mix of types (each with its own schema), all valid.
void validate_generator_mix(benchmark::State& state) {
    rtcrm::generator_source gen{{.events = batch_events, .players = 100'000, .seed = 1}};
    std::vector<rtcrm::record> records;
    while (gen.poll(records, batch_events, std::chrono::milliseconds(0)) == rtcrm::poll_status::more) {
    }
    std::vector<std::string> texts;
    for (auto& r : records) {
        texts.push_back(std::move(r.bytes));
    }
    auto batch = parse_all(texts);
    run(state, batch, 0);
}
BENCHMARK(validate_generator_mix);

// Every event violates its schema (`data.result` outside the enum): the validator's
// failure path, including the reason with its JSON pointers.
void reject_invalid_fights(benchmark::State& state) {
    std::vector<std::string> texts;
    for (std::size_t i = 0; i < batch_events; ++i) {
        texts.push_back(fmt::format(
            R"({{"id":"e-{}","player_id":{},"type":"fight","ts":{},"game":"foe","data":{{"result":"draw","opponent":17}}}})", i,
            1 + i % 1000, 1763800000000 + i));
    }
    auto batch = parse_all(texts);
    run(state, batch, batch_events);
}
BENCHMARK(reject_invalid_fights);

}  // namespace

BENCHMARK_MAIN();
