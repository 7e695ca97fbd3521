// Internal: the functions of the string, table and utf8 libraries whose work grows with their
// arguments, replaced by versions that charge that work to the call's budget (budget.hpp)
// before they do it.
//
// A designer's script runs under a per-call budget counted by the VM's count hook, but a
// single instruction that calls `s:upper()` on 16 MB, `("x"):rep(1e9)`, `table.sort` on a
// million entries or a backtracking pattern does unbounded work the hook never sees. After
// open_bounded_library those calls raise "file:line: instruction budget exceeded ..." once
// their share of work is spent, like a Lua loop would.
//
// Results and error messages are those of Lua 5.4.4. Most replacements keep the original C
// function as an upvalue and run it in their own frame after charging, so argument errors
// still name the function as the script called it. Pattern matching (find, match, gmatch,
// gsub; pattern.hpp), table.concat, insert, remove and unpack and utf8.offset are
// implemented here, as their work is only known while it is done.
//
// Caveats:
// - Costs are estimates in "instructions" (see budget.hpp): one unit per 64 bytes copied or
//   scanned (per 4 bytes for the loops that treat each byte: case mapping, reversal, UTF-8
//   decoding), per value read or pushed, per matcher step, per element moved or compared.
// - table.sort charges n*ceil(log2 n) comparisons up front; comparisons made by Lua code
//   (a comparator, __lt) count themselves, comparisons of long strings by `<` do not.
// - Only the global tables are changed: a script environment that copies them must copy
//   them after this call (the string metatable's __index is the global `string` table, so
//   `s:upper()` is covered).
#pragma once

#include <lua.hpp>

namespace rtcrm::detail::lua {

// Replaces the functions of the global `string`, `table` and `utf8` tables of `L` with their
// budgeted versions. Call once on a fresh state, after luaL_openlibs and before scripts run
// or copy the tables; calling it again does nothing. A state with no armed budget is never
// charged, so the replaced functions then behave exactly like the originals.
void open_bounded_library(lua_State* L);

}  // namespace rtcrm::detail::lua
