#include "lua_calls.hpp"

#include <stdexcept>

namespace rtcrm::testing::lua_calls {
namespace {

// See load_harness in the header.
constexpr const char* harness = R"lua(
local pack, concat, format, mtype, tostring, type, pcall = table.pack, table.concat, string.format, math.type, tostring, type, pcall
local log = {}

local function show(x)
  local t = type(x)
  if t == "string" then return format("%q", x) end
  if t == "number" then return mtype(x) .. ":" .. tostring(x) end
  if t == "table" then return "table" end
  return t .. ":" .. tostring(x)
end

local function show_all(r)
  local out = {}
  for i = 1, r.n do out[i] = show(r[i]) end
  return "(" .. concat(out, ", ") .. ")"
end

local function outcome(ok, r)
  local text = ok and ("ok " .. show_all(r)) or ("error " .. tostring(r))
  if #log > 0 then text = text .. " calls " .. concat(log, " ") end
  return text
end

local function invoke(f, ...)
  local r = pack(f(...))
  return r
end

local function collect(f, ...)
  local it = f(...)
  local out = {}
  for _ = 1, 100 do
    local v = pack(it())
    if v.n == 0 then break end
    out[#out + 1] = show_all(v)
  end
  return pack(concat(out, " "))
end

local function collect_for(f, ...)
  local out = {}
  for a, b in f(...) do
    out[#out + 1] = show(a) .. "=" .. show(b)
    if #out > 100 then break end
  end
  return pack(concat(out, " "))
end

function run(f, ...) log = {} return outcome(pcall(invoke, f, ...)) end
function run_collect(f, ...) log = {} return outcome(pcall(collect, f, ...)) end
function run_for(f, ...) log = {} return outcome(pcall(collect_for, f, ...)) end

-- gsub's function replacement: records its arguments and answers each kind of value,
-- derived from them so both implementations get the same answers.
function repl_fn(...)
  local d = show_all(pack(...))
  log[#log + 1] = d
  local h = #d % 6
  if h == 0 then return nil end
  if h == 1 then return false end
  if h == 2 then return "<" .. d .. ">" end
  if h == 3 then return #d end
  if h == 4 then return (...) end
  return 1.5
end
function repl_table_fn() return {} end
repl_table = { a = "A", b = false, ab = "AB", ["("] = 7, [1] = "one", [2] = 2.5, x = true, [""] = "E" }

local makers = {
  numbers = function() return {10, 20, 30, 40, 50} end,
  empty = function() return {} end,
  words = function() return {"d", "a", "c", "b"} end,
  mixed = function() return {1, "x", {}, 4} end,
  proxy = function()
    local store = {5, 4, 3, 2, 1}
    return setmetatable({}, {__index = store, __newindex = store, __len = function() return #store end})
  end,
}
function run_table(f, maker, ...)
  log = {}
  local t = makers[maker]()
  local text = outcome(pcall(invoke, f, t, ...))
  local cells = {}
  for i = 0, 7 do cells[#cells + 1] = show(t[i]) end
  return text .. " table " .. concat(cells, ",")
end
function greater(a, b) return a > b end
)lua";

}  // namespace

std::string escaped(std::string_view text) {
    std::string out = "\"";
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u < 0x20 || u >= 0x7F) {
            out += "\\x";
            out += "0123456789abcdef"[u >> 4U];
            out += "0123456789abcdef"[u & 15U];
        } else {
            out += c;
        }
    }
    return out + "\"";
}

void load_harness(lua_State* L) {
    if (luaL_loadbuffer(L, harness, std::strlen(harness), "=harness") != LUA_OK || lua_pcall(L, 0, 0, 0) != LUA_OK) {
        throw std::runtime_error(lua_tostring(L, -1));
    }
}

arg str(std::string s) {
    auto text = escaped(s);
    return {std::move(text), [s = std::move(s)](lua_State* L) { lua_pushlstring(L, s.data(), s.size()); }};
}
arg integer(lua_Integer i) {
    return {std::to_string(i), [i](lua_State* L) { lua_pushinteger(L, i); }};
}
arg number(double d) {
    return {std::to_string(d), [d](lua_State* L) { lua_pushnumber(L, d); }};
}
arg boolean(bool b) {
    return {b ? "true" : "false", [b](lua_State* L) { lua_pushboolean(L, b ? 1 : 0); }};
}
arg nil() {
    return {"nil", [](lua_State* L) { lua_pushnil(L); }};
}
arg global(std::string name) {
    return {name, [name](lua_State* L) { lua_getglobal(L, name.c_str()); }};
}

std::string run(lua_State* L, const char* runner, const std::vector<arg>& args) {
    lua_getglobal(L, runner);
    lua_insert(L, -2);
    for (const auto& a : args) {
        a.push(L);
    }
    if (lua_pcall(L, static_cast<int>(args.size()) + 1, 1, 0) != LUA_OK) {
        std::string failure = std::string{"harness failed: "} + lua_tostring(L, -1);
        lua_pop(L, 1);
        return failure;
    }
    std::size_t len = 0;
    const char* text = lua_tolstring(L, -1, &len);
    std::string out{text, len};
    lua_pop(L, 1);
    return out;
}

std::string describe(std::string_view runner, std::string_view name, const std::vector<arg>& args) {
    std::string out{runner};
    out += " ";
    out += name;
    out += "(";
    for (std::size_t i = 0; i < args.size(); ++i) {
        out += (i == 0 ? "" : ", ") + args[i].text;
    }
    return out + ")";
}

}  // namespace rtcrm::testing::lua_calls
