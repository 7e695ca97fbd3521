#include "vm.hpp"

#include <rtcrm/error.hpp>

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>

namespace rtcrm::detail::lua {
namespace {

// Library functions a handler may use. Everything else (io, os but time/clock/date,
// require, load, dofile, debug, collectgarbage, rawset, string.dump) stays out of reach.
constexpr const char* safe_globals[] = {"assert", "error",    "ipairs",       "next",         "pairs",
                                        "pcall",  "select",   "tonumber",     "tostring",     "type",
                                        "xpcall", "rawequal", "rawlen",       "rawget",       "setmetatable",
                                        "getmetatable", "print", "_VERSION"};
constexpr const char* copied_libraries[] = {"string", "table", "math", "utf8"};
constexpr const char* safe_os[] = {"time", "clock", "date"};

// Raised from the count hook. Inside a hook, stack level 0 is the Lua function being run,
// so its position is taken from there (luaL_error would name its caller).
//
// Once the budget is spent the hook fires at every instruction, until the call is re-armed
// (vm::call): a handler that catches the error with pcall/xpcall gets it again at its next
// instruction, so it can only unwind, never run on.
void budget_hook(lua_State* L, lua_Debug*) {
    lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
    lua_Debug ar{};
    if (lua_getstack(L, 0, &ar) != 0 && lua_getinfo(L, "Sl", &ar) != 0 && ar.currentline > 0) {
        lua_pushfstring(L, "%s:%d: instruction budget exceeded (endless loop?)", ar.short_src, ar.currentline);
    } else {
        lua_pushliteral(L, "instruction budget exceeded (endless loop?)");
    }
    lua_error(L);
}

// __newindex of a frozen script environment: handlers may not create or change globals,
// so no state leaks from one event (or player) to the next through them.
int frozen_global(lua_State* L) {
    return luaL_error(L, "global '%s' is read-only while handling events (use a local, or the profile)",
                      luaL_tolstring(L, 2, nullptr));
}

// __newindex of the read-only view of `crm`.
int read_only(lua_State* L) { return luaL_error(L, "crm is read-only"); }

// print goes nowhere useful in a server; keep it harmless and cheap.
int quiet_print(lua_State*) { return 0; }

std::string pop_message(lua_State* L) {
    std::size_t len = 0;
    const char* msg = lua_tolstring(L, -1, &len);
    std::string out = msg != nullptr ? std::string{msg, len} : std::string{"(error object is not a string)"};
    lua_pop(L, 1);
    return out;
}

// Copies table `src` (at index) into a new table left on the stack, minus `skip`.
void push_copy(lua_State* L, int src, const char* skip) {
    src = lua_absindex(L, src);
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, src) != 0) {
        if (skip != nullptr && lua_type(L, -2) == LUA_TSTRING && std::strcmp(lua_tostring(L, -2), skip) == 0) {
            lua_pop(L, 1);
            continue;
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_settable(L, -4);
    }
}

// Pushes a fresh sandbox environment for one script: safe functions, copies of the safe
// libraries (so one script's changes stay its own), `os` reduced, and a read-only `crm`.
void push_environment(lua_State* L) {
    lua_newtable(L);
    const int env = lua_gettop(L);
    for (const char* name : safe_globals) {
        lua_getglobal(L, name);
        lua_setfield(L, env, name);
    }
    lua_pushcfunction(L, quiet_print);
    lua_setfield(L, env, "print");
    for (const char* lib : copied_libraries) {
        lua_getglobal(L, lib);
        push_copy(L, -1, std::strcmp(lib, "string") == 0 ? "dump" : nullptr);
        lua_setfield(L, env, lib);
        lua_pop(L, 1);
    }
    lua_getglobal(L, "os");
    lua_newtable(L);
    for (const char* fn : safe_os) {
        lua_getfield(L, -2, fn);
        lua_setfield(L, -2, fn);
    }
    lua_setfield(L, env, "os");
    lua_pop(L, 1);
    // crm: a proxy whose reads go to the real table and whose writes fail.
    lua_newtable(L);
    lua_newtable(L);
    lua_getglobal(L, "crm");
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, read_only);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_setfield(L, env, "crm");
    lua_pushvalue(L, env);
    lua_setfield(L, env, "_G");
}

void load_chunk(lua_State* L, std::string_view name, std::string_view source) {
    const std::string chunkname = "@" + std::string{name};
    // Mode "t": text only, never precompiled bytecode (which can break the VM's safety).
    if (luaL_loadbufferx(L, source.data(), source.size(), chunkname.c_str(), "t") != LUA_OK) {
        throw script_error(pop_message(L));
    }
}

std::string string_field(lua_State* L, int table, const char* field) {
    lua_getfield(L, table, field);
    std::string out;
    if (lua_type(L, -1) == LUA_TSTRING) {
        out = lua_tostring(L, -1);
    }
    lua_pop(L, 1);
    return out;
}

std::vector<std::string> string_list(lua_State* L, int table, const char* field) {
    std::vector<std::string> out;
    lua_getfield(L, table, field);
    const auto n = static_cast<lua_Integer>(lua_rawlen(L, -1));
    for (lua_Integer i = 1; i <= n; ++i) {
        lua_rawgeti(L, -1, i);
        out.emplace_back(lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return out;
}

int function_ref(lua_State* L, int table, const char* field) {
    lua_getfield(L, table, field);
    if (lua_isfunction(L, -1)) {
        return luaL_ref(L, LUA_REGISTRYINDEX);
    }
    lua_pop(L, 1);
    return LUA_NOREF;
}

void read_cap_and_rate(lua_State* L, int spec, campaign_spec& c) {
    const auto fail = [&](const std::string& what) {
        throw script_error(fmt::format("{}: campaign '{}': {}", c.where, c.id, what));
    };
    lua_getfield(L, spec, "cap");
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "per_player");
        int ok = 0;
        c.cap_per_player = lua_tointegerx(L, -1, &ok);
        if (ok == 0 || c.cap_per_player < 1) {
            fail("cap.per_player must be a positive integer");
        }
        lua_pop(L, 1);
        lua_getfield(L, -1, "every");
        if (!lua_isnil(L, -1)) {
            c.cap_every_ms = lua_type(L, -1) == LUA_TSTRING ? parse_duration_ms(lua_tostring(L, -1)) : -1;
            if (c.cap_every_ms <= 0) {
                fail("cap.every must be a duration like \"1d\", \"6h\", \"30m\" or \"10s\"");
            }
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    lua_getfield(L, spec, "rate");
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "per_second");
        int ok = 0;
        c.rate_per_second = lua_tonumberx(L, -1, &ok);
        if (ok == 0 || !(c.rate_per_second > 0)) {
            fail("rate.per_second must be a positive number");
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

}  // namespace

std::int64_t parse_duration_ms(std::string_view text) noexcept {
    std::size_t i = 0;
    std::int64_t n = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        if (n > 1'000'000'000'000) {
            return -1;
        }
        n = n * 10 + (text[i] - '0');
        ++i;
    }
    if (i == 0) {
        return -1;
    }
    const auto unit = text.substr(i);
    std::int64_t scale = 0;
    if (unit == "ms") {
        scale = 1;
    } else if (unit == "s") {
        scale = 1000;
    } else if (unit == "m") {
        scale = 60'000;
    } else if (unit == "h") {
        scale = 3'600'000;
    } else if (unit == "d") {
        scale = 86'400'000;
    } else if (unit == "w") {
        scale = 7 * 86'400'000LL;
    } else {
        return -1;
    }
    return n * scale;
}

void* vm::allocate(void* ud, void* ptr, std::size_t osize, std::size_t nsize) noexcept {
    auto* budget = static_cast<memory_budget*>(ud);
    // For a new block Lua passes the object's type in osize, not a size.
    const std::size_t old_size = ptr != nullptr ? osize : 0;
    if (nsize == 0) {
        budget->used -= old_size;
        std::free(ptr);
        return nullptr;
    }
    if (nsize > old_size && budget->used + (nsize - old_size) > budget->limit) {
        return nullptr;  // Lua raises "not enough memory" inside the protected call
    }
    void* block = std::realloc(ptr, nsize);
    if (block != nullptr) {
        budget->used = budget->used - old_size + nsize;
    }
    return block;
}

std::unique_ptr<vm> vm::build(const std::vector<lua_script>& scripts, const lua_options& options) {
    std::unique_ptr<vm> self{new vm};
    self->memory_.limit = options.memory_limit;
    self->instruction_budget_ = options.instruction_budget;
    lua_State* L = lua_newstate(&vm::allocate, &self->memory_);
    if (L == nullptr) {
        throw script_error("cannot create a Lua state (memory limit too small?)");
    }
    self->state_ = L;
    luaL_openlibs(L);
    // Strings share one metatable; hide it so no script can change string methods for others.
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);

    // The prelude is trusted: it runs with the whole library and returns the registry.
    load_chunk(L, "prelude.lua", prelude_source);
    if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
        throw script_error(pop_message(L));
    }
    const int registry = lua_gettop(L);
    open_bindings(L, &self->binding_, self->event_ref_, self->profile_ref_);

    // Each script runs in an environment of its own; after every script has loaded, the
    // environments are frozen.
    lua_newtable(L);
    const int envs = lua_gettop(L);
    for (const auto& s : scripts) {
        load_chunk(L, s.name, s.source);
        push_environment(L);
        lua_pushvalue(L, -1);
        lua_rawseti(L, envs, static_cast<lua_Integer>(lua_rawlen(L, envs)) + 1);
        lua_setupvalue(L, -2, 1);  // the chunk's _ENV
        lua_sethook(L, budget_hook, LUA_MASKCOUNT, static_cast<int>(std::min<std::uint64_t>(options.instruction_budget * 10, INT32_MAX)));
        const int status = lua_pcall(L, 0, 0, 0);
        lua_sethook(L, nullptr, 0, 0);
        if (status != LUA_OK) {
            throw script_error(pop_message(L));
        }
    }
    // Frozen: every global moves to a backing table the environment reads through, so
    // assigning any global, new or defined by the top level, reaches __newindex and fails.
    const auto env_count = static_cast<lua_Integer>(lua_rawlen(L, envs));
    for (lua_Integer i = 1; i <= env_count; ++i) {
        lua_rawgeti(L, envs, i);
        const int env = lua_gettop(L);
        lua_newtable(L);
        const int backing = lua_gettop(L);
        lua_pushnil(L);
        while (lua_next(L, env) != 0) {
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, backing);  // backing[key] = value; the key stays for lua_next
        }
        lua_pushnil(L);
        while (lua_next(L, env) != 0) {
            lua_pop(L, 1);
            lua_pushvalue(L, -1);
            lua_pushnil(L);
            lua_rawset(L, env);  // clearing a field while traversing is allowed
        }
        lua_newtable(L);  // the environment's metatable
        lua_pushvalue(L, backing);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, frozen_global);
        lua_setfield(L, -2, "__newindex");
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
        lua_setmetatable(L, env);
        lua_pop(L, 2);  // env, backing
    }
    lua_pop(L, 1);  // envs (they stay reachable through the chunks' functions)

    // Read what the scripts registered.
    lua_getfield(L, registry, "updaters");
    const auto updaters = static_cast<lua_Integer>(lua_rawlen(L, -1));
    for (lua_Integer i = 1; i <= updaters; ++i) {
        lua_rawgeti(L, -1, i);
        const int spec = lua_gettop(L);
        updater_spec u;
        u.id = string_field(L, spec, "id");
        u.where = string_field(L, spec, "where");
        u.on = string_list(L, spec, "on");
        u.fn = function_ref(L, spec, "fn");
        self->updaters_.push_back(std::move(u));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);

    lua_getfield(L, registry, "campaigns");
    const auto campaigns = static_cast<lua_Integer>(lua_rawlen(L, -1));
    for (lua_Integer i = 1; i <= campaigns; ++i) {
        lua_rawgeti(L, -1, i);
        const int spec = lua_gettop(L);
        campaign_spec c;
        lua_getfield(L, spec, "id");
        c.numeric_id = lua_isinteger(L, -1) != 0;
        c.id = lua_tostring(L, -1);
        lua_pop(L, 1);
        c.where = string_field(L, spec, "where");
        c.on = string_list(L, spec, "on");
        c.when = function_ref(L, spec, "when");
        c.segment = function_ref(L, spec, "segment");
        lua_getfield(L, spec, "dry_run");
        c.dry_run = lua_toboolean(L, -1) != 0;
        lua_pop(L, 1);
        lua_getfield(L, spec, "content");
        try {
            c.content_json = to_json(L, -1);
        } catch (const script_error& e) {
            throw script_error(fmt::format("{}: campaign '{}': content: {}", c.where, c.id, e.what()));
        }
        lua_pop(L, 1);
        read_cap_and_rate(L, spec, c);
        self->campaigns_.push_back(std::move(c));
        lua_pop(L, 1);
    }
    lua_pop(L, 2);  // campaigns, registry
    lua_gc(L, LUA_GCCOLLECT);
    return self;
}

vm::~vm() {
    if (state_ != nullptr) {
        lua_close(state_);
    }
}

void vm::bind(const event& ev, profile& prof, const profile_limits& limits) noexcept {
    binding_.ev = &ev;
    binding_.prof = &prof;
    binding_.limits = &limits;
    binding_.now_ms = ev.ts();
    ++binding_.generation;
}

void vm::bind_profile(profile& prof, const profile_limits& limits, std::int64_t now_ms) noexcept {
    binding_.ev = nullptr;
    binding_.prof = &prof;
    binding_.limits = &limits;
    binding_.now_ms = now_ms;
    ++binding_.generation;
}

bool vm::call(int ref, bool with_event, std::string_view where, bool& truthy, std::string& error) {
    lua_State* L = state_;
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
    int nargs = 1;
    if (with_event) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, event_ref_);
        ++nargs;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, profile_ref_);
    // The count hook is re-armed per call, so every call gets the whole budget.
    lua_sethook(L, budget_hook, LUA_MASKCOUNT, static_cast<int>(std::min<std::uint64_t>(instruction_budget_, INT32_MAX)));
    const int status = lua_pcall(L, nargs, 1, 0);
    if (status == LUA_ERRMEM) {
        // Lua gives memory errors no position (no message handler runs for them), so name
        // the handler's definition instead.
        lua_pop(L, 1);
        error = fmt::format("{}: memory limit of {} bytes exceeded", where, memory_.limit);
        return false;
    }
    if (status != LUA_OK) {
        error = pop_message(L);
        return false;
    }
    truthy = lua_toboolean(L, -1) != 0;
    lua_pop(L, 1);
    return true;
}

}  // namespace rtcrm::detail::lua
