/// @file error.hpp
/// The one error model of rtcrm: `std::error_code` values in the `rtcrm::errc`
/// category, and `rtcrm::error` (a `std::system_error`) for the places that throw.
///
/// Construction and configuration errors throw `rtcrm::error`. The per-event path never
/// throws: it returns codes, and an event that cannot be processed goes to the
/// dead-letter stream with the code and a human-readable reason.
///
/// Every code says whether retrying can help (`is_retriable`), so the runtime and the
/// host can choose between retry, dead-letter and stop.
///
/// Caveats: codes are stable within a major version; their numeric values are not part
/// of any wire format (dead-letter records carry the code's name, see `errc_name`).
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <system_error>

namespace rtcrm {

/// Error conditions raised by rtcrm. Names are stable and appear in dead-letter records.
enum class errc : int {
    ok = 0,
    // --- bad input: never retriable, the event goes to the dead-letter stream ---
    parse_error = 1,      ///< the bytes are not one well-formed JSON object
    missing_field,        ///< a required field (player key, type) is absent
    wrong_type,           ///< a field has the wrong JSON type (e.g. `ts` is a string)
    too_large,            ///< the event is over the configured size limit
    schema_violation,     ///< the event does not satisfy its JSON Schema
    unknown_type,         ///< no schema exists for the event type and unknown types are refused
    handler_failed,       ///< a bolt (or a script it runs) failed on this event
    ambiguous_key,        ///< the player key member appears more than once (after unescaping its name)
    bad_time,             ///< `ts` is before the epoch or outside the window around the ingest time
    reserved_type,        ///< the event's `type` is one the runtime makes itself (`timer:...`)
    // --- runtime conditions ---
    queue_full = 32,      ///< a bounded queue is full; retry later (backpressure)
    stopped,              ///< the runtime or component is stopping or stopped
    dropped,              ///< an ack token was destroyed without ack() or nack()
    delivery_failed,      ///< a sink could not deliver an output
    timeout,              ///< an operation did not finish in time
    unavailable,          ///< a server or replica cannot serve now (overloaded, down); retry later
    conflict,             ///< a conditional store write found a newer version (another writer's); not retried
    // --- configuration and environment: thrown, not retriable ---
    invalid_config = 64,  ///< a configuration value is missing, out of range or inconsistent
    io_error,             ///< a file or socket operation failed
    store_error,          ///< the profile store failed
};

/// Every `errc` value, in declaration order. Counters and reports that keep one slot per
/// code are sized and filled from this list; `tests/core/error_test.cpp` checks that
/// every code `errc_name` knows is listed, so a new code cannot be left out.
inline constexpr std::array all_errc{
    errc::ok,
    errc::parse_error,    errc::missing_field,   errc::wrong_type,   errc::too_large,
    errc::schema_violation, errc::unknown_type,  errc::handler_failed, errc::ambiguous_key,
    errc::bad_time,       errc::reserved_type,
    errc::queue_full,     errc::stopped,         errc::dropped,      errc::delivery_failed,
    errc::timeout,        errc::unavailable,     errc::conflict,
    errc::invalid_config, errc::io_error,        errc::store_error,
};
static_assert(
    [] {
        for (std::size_t i = 1; i < all_errc.size(); ++i) {
            if (static_cast<int>(all_errc[i - 1]) >= static_cast<int>(all_errc[i])) {
                return false;
            }
        }
        return all_errc.front() == errc::ok;
    }(),
    "all_errc lists each code once, in declaration order, starting with ok");

/// The error category of `rtcrm::errc`. Thread-safe; a process-wide singleton.
const std::error_category& rtcrm_category() noexcept;

/// Makes a `std::error_code` from an `rtcrm::errc` (found by ADL).
inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), rtcrm_category()};
}

/// The stable, snake_case name of a code, e.g. `"schema_violation"`; `"unknown"` if out of range.
std::string_view errc_name(errc e) noexcept;

/// True if trying the same operation again later can succeed (queue full, timeout,
/// delivery failure, ...). Codes of other categories are treated as not retriable,
/// except the `std::errc` values for timeouts, interrupted calls and refused connections.
bool is_retriable(std::error_code ec) noexcept;

/// The exception thrown for construction and configuration errors.
/// `what()` holds the context message followed by the code's message.
class error : public std::system_error {
public:
    /// @param code what went wrong  @param context where, e.g. "ndjson_source: /tmp/x.ndjson"
    error(errc code, const std::string& context) : std::system_error(make_error_code(code), context) {}
    error(std::error_code code, const std::string& context) : std::system_error(code, context) {}

    /// True if the same operation may succeed when retried (see `is_retriable`).
    [[nodiscard]] bool retriable() const noexcept { return is_retriable(code()); }
};

}  // namespace rtcrm

template <>
struct std::is_error_code_enum<rtcrm::errc> : std::true_type {};
