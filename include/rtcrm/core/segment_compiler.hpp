/// @file segment_compiler.hpp
/// Audience segments as the admin API sees them: a text ("players below level 10 who lost
/// three fights today") compiled into a predicate over profiles, without knowing the
/// language it is written in.
///
/// `rtcrm::lua_engine` (`<rtcrm/lua/lua_engine.hpp>`) compiles Lua segments under its own
/// guards; `rtcrm::lua_segment_compiler` (`<rtcrm/lua/segment.hpp>`) compiles them with
/// fixed options, for a host without an engine. `rtcrm::admin_server` takes either for
/// `POST /audience`.
///
/// Contract:
/// - `compile_segment` may be called from several threads at once; each predicate it
///   returns is used by one thread at a time (a scan makes one per worker).
/// - A predicate does not depend on its compiler: it may outlive it (a scan past its time
///   limit still runs on the threads that were visiting).
/// - A predicate that fails on a profile (an error, a spent budget) says so in its
///   result; it does not throw.
///
/// Caveats: a predicate may hold a whole interpreter state: compile one per scan worker,
/// not one per profile.
///
/// Example:
/// @code
///   auto lost = compiler.compile_segment(R"(p:count("fights_lost", "1d") >= 3)");
///   store.scan([&](const rtcrm::profile& p) { if (lost->matches(p).value()) ...; return true; });
/// @endcode
#pragma once

#include <rtcrm/core/profile.hpp>
#include <rtcrm/core/result.hpp>

#include <memory>
#include <string_view>

namespace rtcrm {

/// A compiled segment: whether a profile is in it. One thread at a time.
class profile_predicate {
public:
    virtual ~profile_predicate() = default;
    /// True if `p` is in the segment. A predicate that raises an error or runs out of its
    /// budget gives a `handler_failed` failure with "name:line: message".
    [[nodiscard]] virtual result<bool> matches(const profile& p) = 0;
};

/// Compiles segment texts into predicates. Thread-safe.
class segment_compiler {
public:
    virtual ~segment_compiler() = default;
    /// A new predicate for `text`, independent of any other it returned.
    /// @throws rtcrm::error(invalid_config) with "name:line: message" if the text does not
    ///         compile.
    [[nodiscard]] virtual std::unique_ptr<profile_predicate> compile_segment(std::string_view text) const = 0;
};

}  // namespace rtcrm
