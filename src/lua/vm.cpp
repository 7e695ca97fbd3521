#include "vm.hpp"

#include "bounded_library.hpp"
#include "campaign_options.hpp"

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

// xpcall for scripts. Lua runs a message handler at the point of the error, and when the
// error comes from the budget's count hook it runs it with hooks off: a handler that
// loops would never be stopped. This one unwinds first (pcall), then calls the handler as
// ordinary code under the budget; if the budget is spent, the handler's first instruction
// raises again. Differences from the stock xpcall: the handler sees the error after the
// stack has unwound (no debug library here to look at it anyway), and an error inside the
// handler is returned as the result instead of "error in error handling".
int budgeted_xpcall(lua_State* L) {
    const int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushboolean(L, 1);  // n + 1: the status
    lua_pushvalue(L, 1);
    for (int i = 3; i <= n; ++i) {
        lua_pushvalue(L, i);
    }
    const int status = lua_pcall(L, n - 2, LUA_MULTRET, 0);
    if (status == LUA_OK) {
        return lua_gettop(L) - n;
    }
    lua_pushboolean(L, 0);
    lua_replace(L, n + 1);
    if (status != LUA_ERRMEM) {  // as in Lua, memory errors skip the handler
        lua_pushvalue(L, 2);
        lua_insert(L, -2);
        lua_pcall(L, 1, 1, 0);
    }
    return 2;
}

// setmetatable for scripts: refuses finalizers. Lua runs __gc with hooks off, at any
// allocation or when the state closes, so no budget could stop one. (A __gc field added
// to the metatable later never marks the object for finalization, so checking here is
// enough.)
int no_gc_setmetatable(lua_State* L) {
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL) {
            return luaL_error(L, "setmetatable: __gc finalizers are not allowed in scripts (they would run outside the budget)");
        }
        lua_pop(L, 1);
    }
    lua_settop(L, 2);
    lua_pushvalue(L, lua_upvalueindex(1));  // the stock setmetatable
    lua_insert(L, 1);
    lua_call(L, 2, 1);
    return 1;
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
    lua_pushcfunction(L, budgeted_xpcall);
    lua_setfield(L, env, "xpcall");
    lua_getglobal(L, "setmetatable");
    lua_pushcclosure(L, no_gc_setmetatable, 1);
    lua_setfield(L, env, "setmetatable");
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

// Compiles a script onto the stack. Mode "t": text only, never precompiled bytecode
// (which can break the VM's safety). Raises the compiler's "file:line: message".
void load_chunk(lua_State* L, std::string_view name, std::string_view source) {
    const std::string chunkname = "@" + std::string{name};
    if (luaL_loadbufferx(L, source.data(), source.size(), chunkname.c_str(), "t") != LUA_OK) {
        lua_error(L);
    }
}

}  // namespace

void* vm::allocate(void* ud, void* ptr, std::size_t osize, std::size_t nsize) noexcept {
    auto* self = static_cast<vm*>(ud);
    // For a new block Lua passes the object's type in osize, not a size.
    const std::size_t old_size = ptr != nullptr ? osize : 0;
    if (nsize == 0) {
        self->memory_used_ -= old_size;
        std::free(ptr);
        return nullptr;
    }
    if (nsize > old_size) {
        const std::size_t growth = nsize - old_size;
        if (self->memory_used_ + growth > self->memory_limit_) {
            return nullptr;  // Lua collects garbage, retries, then raises "not enough memory"
        }
        if (!self->budget_.may_allocate(self->memory_used_, growth)) {
            self->call_allocation_refused_ = true;
            return nullptr;
        }
    }
    void* block = std::realloc(ptr, nsize);
    if (block != nullptr) {
        self->memory_used_ = self->memory_used_ - old_size + nsize;
    }
    return block;
}

struct vm::build_context {
    vm* self;
    const std::vector<lua_script>* scripts;
};

// Everything that touches the new state runs here, inside lua_pcall: a Lua error anywhere
// (a script's, or "not enough memory" from the API itself) comes back as a status, never as
// an unprotected error. C++ exceptions are turned into Lua errors at this boundary, since
// Lua's own handler would swallow their message.
int vm::build_protected(lua_State* L) {
    auto* ctx = static_cast<build_context*>(lua_touserdata(L, 1));
    lua_settop(L, 0);
    std::string failure;
    try {
        ctx->self->load(L, *ctx->scripts);
        return 0;
    } catch (const std::exception& e) {
        failure = e.what();
    }
    lua_pushlstring(L, failure.data(), failure.size());
    return lua_error(L);
}

void vm::load(lua_State* L, const std::vector<lua_script>& scripts) {
    luaL_openlibs(L);
    open_bounded_library(L);
    // Strings share one metatable; hide it so no script can change string methods for others.
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);

    // The prelude is trusted: it runs with the whole library and returns the registry.
    load_chunk(L, "prelude.lua", prelude_source);
    lua_call(L, 0, 1);
    const int registry = lua_gettop(L);
    open_bindings(L, &binding_, event_ref_, profile_ref_);

    // Each script runs in an environment of its own, its top level under the load budget;
    // after every script has loaded, the environments are frozen.
    lua_newtable(L);
    const int envs = lua_gettop(L);
    for (const auto& s : scripts) {
        load_chunk(L, s.name, s.source);
        push_environment(L);
        lua_pushvalue(L, -1);
        lua_rawseti(L, envs, static_cast<lua_Integer>(lua_rawlen(L, envs)) + 1);
        lua_setupvalue(L, -2, 1);  // the chunk's _ENV
        call_allocation_refused_ = false;
        budget_.arm(L, load_limits_, memory_used_);
        const int status = lua_pcall(L, 0, 0, 0);
        budget_.disarm(L);
        if (status == LUA_ERRMEM) {
            lua_pop(L, 1);
            lua_pushfstring(L, "%s: memory limit of %d bytes exceeded while loading", s.name.c_str(),
                            static_cast<int>(std::min<std::size_t>(memory_limit_, INT32_MAX)));
            lua_error(L);
        }
        if (status != LUA_OK) {
            if (lua_type(L, -1) != LUA_TSTRING) {
                const char* type = luaL_typename(L, -1);  // a literal: valid after the pop
                lua_pop(L, 1);
                lua_pushfstring(L, "%s: error object is a %s", s.name.c_str(), type);
            }
            lua_error(L);
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
    read_handlers(L, registry);
    lua_pop(L, 1);  // registry
}

void vm::read_handlers(lua_State* L, int registry) {
    raw_field(L, registry, "updaters");
    const auto updaters = static_cast<lua_Integer>(lua_rawlen(L, -1));
    for (lua_Integer i = 1; i <= updaters; ++i) {
        lua_rawgeti(L, -1, i);
        const int spec = lua_gettop(L);
        updater_spec u;
        u.id = string_field(L, spec, "id");
        u.where = string_field(L, spec, "where");
        u.on = string_list(L, spec, "on", u.where);
        u.fn = function_ref(L, spec, "fn");
        updaters_.push_back(std::move(u));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);

    raw_field(L, registry, "campaigns");
    const auto campaigns = static_cast<lua_Integer>(lua_rawlen(L, -1));
    for (lua_Integer i = 1; i <= campaigns; ++i) {
        lua_rawgeti(L, -1, i);
        campaigns_.push_back(read_campaign(L, lua_gettop(L)));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    fatigue_ = read_fatigue(L, registry);
}

std::unique_ptr<vm> vm::build(const std::vector<lua_script>& scripts, const lua_options& options) {
    std::unique_ptr<vm> self{new vm};
    self->memory_limit_ = options.memory_limit;
    self->call_limits_ = {.work = options.instruction_budget,
                          .deadline = options.call_deadline,
                          .allocation = std::min(options.call_memory_budget, options.memory_limit)};
    // A top level builds the script's tables once: ten calls' work, and the state's memory.
    self->load_limits_ = {.work = options.instruction_budget * 10,
                          .deadline = options.load_deadline,
                          .allocation = options.memory_limit};
    lua_State* L = lua_newstate(&vm::allocate, self.get());
    if (L == nullptr) {
        throw script_error("cannot create a Lua state (memory limit too small?)");
    }
    self->state_ = L;
    self->budget_.attach(L);
    build_context ctx{self.get(), &scripts};
    lua_pushcfunction(L, &vm::build_protected);
    lua_pushlightuserdata(L, &ctx);
    const int status = lua_pcall(L, 1, 0, 0);
    if (status == LUA_ERRMEM) {
        throw script_error(fmt::format("memory limit of {} bytes exceeded while loading the scripts", self->memory_limit_));
    }
    if (status != LUA_OK) {
        throw script_error(pop_message(L));
    }
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
    call_allocation_refused_ = false;
    budget_.arm(L, call_limits_, memory_used_);
    const int status = lua_pcall(L, nargs, 1, 0);
    budget_.disarm(L);
    // The call's profile writes stand only if it returned normally.
    if (status == LUA_OK) {
        binding_.journal.commit();
    } else if (binding_.prof != nullptr) {
        binding_.journal.rollback(*binding_.prof);
    }
    if (status == LUA_OK) {
        truthy = lua_toboolean(L, -1) != 0;
        lua_pop(L, 1);
        return true;
    }
    if (status == LUA_ERRMEM) {
        // Lua gives memory errors no position (no message handler runs for them), so name
        // the handler's definition instead.
        lua_pop(L, 1);
        error = call_allocation_refused_
                    ? fmt::format("{}: memory budget of {} bytes per call exceeded", where, call_limits_.allocation)
                    : fmt::format("{}: memory limit of {} bytes exceeded", where, memory_limit_);
        return false;
    }
    if (lua_type(L, -1) == LUA_TSTRING) {
        error = pop_message(L);
    } else {
        error = fmt::format("{}: error object is a {}", where, luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    return false;
}

}  // namespace rtcrm::detail::lua
