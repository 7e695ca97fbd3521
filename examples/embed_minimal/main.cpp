// rtcrm-embed-minimal: rtcrm inside a host process, in twenty lines. A topology built in
// C++, one Lua campaign, events submitted in-process, triggers printed by a callback.
#include <rtcrm/core/callback_sink.hpp>
#include <rtcrm/core/event_builder.hpp>
#include <rtcrm/core/runtime.hpp>
#include <rtcrm/lua/lua_engine.hpp>

#include <cstdio>

int main() {
    auto engine = std::make_shared<rtcrm::lua_engine>(rtcrm::lua_options{});
    auto loaded = engine->put_script({"tanks.lua", R"(
        crm.updater{ id = "streak", on = "fight", fn = function(e, p)
            if e.data.result == "loss" then p:incr("losses") else p:set("losses", 0) end end }
        crm.campaign{ id = "tanks", on = "fight", content = { offer = "tanks-10" },
            segment = function(p) return p:get("losses") == 3 end })"});
    if (!loaded) {
        return std::fprintf(stderr, "%s\n", loaded.error().reason.c_str()), 1;  // file:line: message
    }
    rtcrm::topology t;
    t.add_shard_bolt(engine->make_bolt_factory())
        .add_sink(rtcrm::stream::main, std::make_shared<rtcrm::callback_sink>([](std::span<const rtcrm::output> batch) {
            for (const auto& out : batch) {  // on a shard thread; rtcrm::uv_bridge brings it to your loop
                std::printf("trigger: %s\n", out.body.c_str());
            }
        }))
        .with_options({.shards = 2, .submit_capacity = 1024});
    rtcrm::runtime rt{std::move(t)};
    rt.start();
    for (const char* result : {"win", "loss", "loss", "loss"}) {
        if (rt.submit(rtcrm::event_builder{}.player(4242).type("fight").field("result", result).build())
            != rtcrm::submit_status::accepted) {
            std::puts("queue full: dropped");  // or retry, or pass a timeout to wait
        }
    }
    rt.stop();  // drains: every accepted event is processed before it returns
}
