// Lua dispatch: per-event cost of two updaters and one campaign (when + segment) on the
// fight events of a batch, through the shard bolt that the runtime uses.
#include <rtcrm/lua/lua_engine.hpp>

#include "bench_context.hpp"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

namespace {

const char* handlers = R"(
crm.updater{ id = "fight-stats", on = "fight", fn = function(event, profile)
    if event.data.result == "loss" then
        profile:incr("fights_lost", 1, "1d")
        profile:incr("loss_streak")
    else
        profile:set("loss_streak", 0)
    end
end }
crm.updater{ id = "count-fights", on = "fight", fn = function(event, profile) profile:incr("fights") end }
crm.campaign{ id = 3, content = { game = "foe", markets = {"de"}, offer = "tanks-10" }, on = "fight",
    when = function(event, profile) return event.data.result == "loss" end,
    segment = function(profile)
        return not profile:get("is_payer") and (profile:get("level") or 0) < 100
           and (profile:get("loss_streak") or 0) >= 3 end,
    cap = { per_player = 1, every = "1d" } }
)";

void two_updaters_and_a_campaign_per_event(benchmark::State& state) {
    rtcrm::lua_engine engine{{}};
    if (!engine.load({{"bench.lua", handlers}})) {
        state.SkipWithError("handlers do not load");
        return;
    }
    auto bolt = engine.make_bolt_factory()({0, 1});
    std::vector<rtcrm::event> batch;
    for (int i = 0; i < 256; ++i) {
        batch.push_back(std::move(rtcrm::parse_event(
            fmt::format(R"({{"id":"g-{}","player_id":{},"type":"fight","ts":{},"data":{{"result":"{}","opponent":17}}}})", i, i % 1000,
                        1763800000000 + i, i % 2 == 0 ? "loss" : "win"),
            {}).value()));
    }
    rtcrm::bench::bench_context ctx;
    for (auto _ : state) {
        bolt->process(batch, ctx);
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch.size()));
    for (const auto& h : engine.stats()) {
        if (h.errors > 0) {
            state.SkipWithError(h.last_error.c_str());
        }
    }
}
BENCHMARK(two_updaters_and_a_campaign_per_event);

void a_type_without_handlers_never_enters_lua(benchmark::State& state) {
    rtcrm::lua_engine engine{{}};
    (void)engine.load({{"bench.lua", handlers}});
    auto bolt = engine.make_bolt_factory()({0, 1});
    std::vector<rtcrm::event> batch;
    for (int i = 0; i < 256; ++i) {
        batch.push_back(std::move(rtcrm::parse_event(fmt::format(R"({{"player_id":{},"type":"build","ts":1}})", i), {}).value()));
    }
    rtcrm::bench::bench_context ctx;
    for (auto _ : state) {
        bolt->process(batch, ctx);
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch.size()));
}
BENCHMARK(a_type_without_handlers_never_enters_lua);

}  // namespace

BENCHMARK_MAIN();
