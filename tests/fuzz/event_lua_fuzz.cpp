// Event parsing and the Lua event view. The input is one event's bytes: parse_event, and
// when it accepts them, a handler reads the event through the `event` object scripts get
// (src/lua/bindings.cpp): the fixed fields, then members and array elements down to a
// few levels through the JSON proxies, with keys of every type, and writes what it read
// to the profile. Reading an event must never raise an error in the handler, and the
// profile must then hold the type and player the event has.
#include "fuzz_check.hpp"
#include "lua/vm.hpp"

#include <rtcrm/core/event.hpp>
#include <rtcrm/core/profile.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <variant>

namespace {

using rtcrm::fuzz::check;
namespace lua = rtcrm::detail::lua;

// Every read of a member or element makes a proxy or pushes a scalar; a fan-out of 7 over
// 4 levels stays far below the call's work budget.
constexpr const char* script = R"lua(
local names = { "data", "a", "0", "" }
local function walk(v, depth)
  if type(v) ~= "userdata" or depth > 4 then return 0 end
  local n = #v
  assert(math.type(n) == "integer" and n >= 0, "# of a JSON value")
  local visited = 1
  for i = 1, math.min(n, 3) do visited = visited + walk(v[i], depth + 1) end
  for _, k in ipairs(names) do visited = visited + walk(v[k], depth + 1) end
  local _ = { v[0], v[-1], v[n + 1], v[1.5], v[true], v[math.maxinteger], v[math.mininteger] }
  return visited
end

crm.updater{ id = "read-event", on = "*", fn = function(event, profile)
  local player, t, ts, id = event.player, event.type, event.ts, event.id
  assert(math.type(player) == "integer" or (type(player) == "string" and #player > 0), "event.player")
  assert(type(t) == "string" and #t > 0, "event.type")
  assert(math.type(ts) == "integer", "event.ts")
  assert(id == nil or type(id) == "string", "event.id")
  local visited = 0
  for _, k in ipairs({ "data", "player_id", "type", "ts", "id", "a", "0", "" }) do
    visited = visited + walk(event[k], 1)
  end
  local d = event.data
  if type(d) == "string" or type(d) == "number" or type(d) == "boolean" then profile:set("data", d) end
  profile:set("type", t)
  profile:set("player", player)
  profile:incr("visited", visited)
  return true
end }
)lua";

struct reader_state {
    std::unique_ptr<lua::vm> vm;
    int handler = 0;
};

reader_state& reader() {
    static reader_state state = [] {
        rtcrm::lua_options options;
        options.call_deadline = std::chrono::seconds{30};  // sanitizers are slow; the work budget bounds the call
        reader_state s;
        s.vm = lua::vm::build({rtcrm::lua_script{"read_event.lua", script}}, options);
        check(s.vm->updaters().size() == 1, "the reading script registered no updater");
        s.handler = s.vm->updaters().front().fn;
        return s;
    }();
    return state;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto& r = reader();
    auto ev = rtcrm::parse_event(rtcrm::fuzz::text_of(data, size), rtcrm::parse_options{});
    if (!ev) {
        check(!ev.error().reason.empty(), "parse_event failed without a reason");
        return 0;
    }
    check(!ev->player().empty() && !ev->type().empty(), "parse_event accepted an event without player or type");
    rtcrm::profile prof{ev->player()};
    const rtcrm::profile_limits limits;
    r.vm->bind(ev.value(), prof, limits);
    bool truthy = false;
    std::string error;
    if (!r.vm->call(r.handler, true, "read_event.lua", truthy, error)) {
        rtcrm::fuzz::fail("reading the event raised an error: " + error);
    }
    check(truthy, "the reading handler did not finish");
    const auto* type = prof.get("type");
    check(type != nullptr && std::holds_alternative<std::string>(*type) && std::get<std::string>(*type) == ev->type(),
          "the profile does not hold the event's type as Lua read it");
    const auto* player = prof.get("player");
    check(player != nullptr, "the profile does not hold the player as Lua read it");
    if (const auto i = ev->player().integer()) {
        check(std::holds_alternative<std::int64_t>(*player) && std::get<std::int64_t>(*player) == *i,
              "Lua read an integer player key as another value");
    } else {
        check(std::holds_alternative<std::string>(*player) && std::get<std::string>(*player) == ev->player().text(),
              "Lua read a string player key as another value");
    }
    return 0;
}
