// Uses the installed rtcrm (rtcrm::rtcrm: every component that was built) as a host
// application would: a topology with a C++ shard bolt and, when rtcrm::lua was built, a
// Lua updater; one event piped through the topology test driver, and the player's profile
// checked. Exits 1 if anything is off.
#include <rtcrm/rtcrm.hpp>
#if RTCRM_CONSUMER_WITH_LUA
#include <rtcrm/lua/lua_engine.hpp>
#endif

#include <cstdio>
#include <exception>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace {

class count_events final : public rtcrm::bolt {
public:
    [[nodiscard]] std::string_view name() const noexcept override { return "count_events"; }
    void process(std::span<rtcrm::event> batch, rtcrm::bolt_context& ctx) override {
        for (auto& ev : batch) {
            if (auto* p = ctx.profile_of(ev)) {
                p->incr("events");
            }
        }
    }
};

#if RTCRM_CONSUMER_WITH_LUA
constexpr std::string_view count_logins = R"(
crm.updater{ id = "count-logins", on = "login", fn = function(event, profile) profile:incr("logins") end }
)";
#endif

int run() {
    rtcrm::topology topo;
    topo.add_shard_bolt([](const rtcrm::bolt_placement&) { return std::make_unique<count_events>(); })
        .with_options({.shards = 1});
#if RTCRM_CONSUMER_WITH_LUA
    rtcrm::lua_engine engine{rtcrm::lua_options{}};
    if (auto loaded = engine.load({rtcrm::lua_script{"count_logins.lua", std::string{count_logins}}}); !loaded) {
        std::fprintf(stderr, "consumer: the Lua script did not load: %s\n", loaded.error().reason.c_str());
        return 1;
    }
    topo.add_shard_bolt(engine.make_bolt_factory());
    const bool with_lua = true;
#else
    const bool with_lua = false;
#endif
    rtcrm::topology_test_driver driver{std::move(topo)};
    driver.pipe(R"({"id":"e-1","player_id":42,"type":"login","ts":1763800000000,"data":{}})");

    const auto profile = driver.profile_of(rtcrm::player_key{42});
    if (!profile) {
        std::fprintf(stderr, "consumer: no profile for player 42\n");
        return 1;
    }
    if (profile->get("events") == nullptr || (with_lua && profile->get("logins") == nullptr)) {
        std::fprintf(stderr, "consumer: a bolt did not run: %s\n", profile->to_json().c_str());
        return 1;
    }
    std::printf("consumer: %s\n", profile->to_json().c_str());
    return 0;
}

}  // namespace

int main() {
    try {
        return run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "consumer: %s\n", e.what());
        return 1;
    }
}
