/// @file segment.hpp
/// An audience segment: a Lua predicate over profiles ("players below level 10 who lost
/// three fights today"), evaluated in the same sandbox as handlers (instruction budget per
/// call, memory cap). `rtcrm-profiles --where` and audience queries use it.
///
/// The text is either a chunk that returns a function of the profile,
/// @code{.lua}
///   return function(profile) return (profile:get("level") or 0) < 10 end
/// @endcode
/// or an expression over `p`: `p:get("level") > 10`. The profile API is the handlers'
/// (`get`, `count`, `recent`, `last_trigger`, `player`); a predicate sees a copy, so
/// `set` and `incr` change nothing stored.
///
/// A `segment` is a `profile_predicate` (rtcrm/core/segment_compiler.hpp);
/// `lua_segment_compiler` makes them for audience queries when there is no `lua_engine`
/// whose guards should apply.
///
/// Caveats: a `segment` holds one Lua state and is not thread-safe: scan in parallel
/// with one per worker (build them from the same text).
///
/// Example:
/// @code
///   rtcrm::segment lost{R"(p:count("fights_lost", "1d") >= 3)"};
///   store.scan([&](const rtcrm::profile& p) { if (lost.matches(p).value()) ...; return true; });
/// @endcode
#pragma once

#include <rtcrm/core/profile.hpp>
#include <rtcrm/core/result.hpp>
#include <rtcrm/core/segment_compiler.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace rtcrm {

/// Options of `segment`. An aggregate: use designated initialisers.
struct segment_options {
    std::string name = "where";                    ///< the chunk's name in error messages ("where:1: ...")
    std::uint64_t instruction_budget = 1'000'000;  ///< work per profile, as `lua_options::instruction_budget`
    std::chrono::milliseconds call_deadline{250};  ///< wall-clock limit per profile, as `lua_options::call_deadline`
    std::size_t call_memory_budget = 4 * 1024 * 1024; ///< bytes one profile's call may add, as `lua_options::call_memory_budget`
    std::size_t memory_limit = 64 * 1024 * 1024;   ///< bytes for the Lua state
    /// Where windows (`p:count("fights_lost", "1d")`) end, in event time (ms since the
    /// epoch); 0: at each profile's own latest event.
    std::int64_t now_ms = 0;
};

/// A compiled segment predicate. Move-only; one thread at a time.
class segment final : public profile_predicate {
public:
    /// Compiles `text` (see the file comment).
    /// @throws rtcrm::error(invalid_config) with "name:line: message" if it does not load
    ///         or does not give a function.
    explicit segment(std::string_view text, segment_options options = {});
    ~segment() override;
    segment(segment&&) noexcept;
    segment& operator=(segment&&) noexcept;

    /// True if `p` is in the segment (the predicate's result is truthy). A predicate
    /// that raises an error (or runs out of budget) gives a `handler_failed` failure with
    /// "name:line: message".
    [[nodiscard]] result<bool> matches(const profile& p) override;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

/// Compiles segments with fixed options: the audience queries' `segment_compiler` for a
/// host without a `lua_engine` (with one, pass the engine, whose guards then apply).
/// Thread-safe.
class lua_segment_compiler final : public segment_compiler {
public:
    explicit lua_segment_compiler(segment_options options = {});

    /// A `segment` of `text` with these options.
    /// @throws rtcrm::error(invalid_config) with "name:line: message" if it does not compile.
    [[nodiscard]] std::unique_ptr<profile_predicate> compile_segment(std::string_view text) const override;

private:
    segment_options options_;
};

}  // namespace rtcrm
