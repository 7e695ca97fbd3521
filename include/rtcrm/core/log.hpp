/// @file log.hpp
/// Where the library's messages go. Every message rtcrm writes on its own (a shard stuck,
/// a Lua handler disabled, a Kafka commit that failed, a script set reloaded) is one call
/// of the *log sink* with a level, a component and the message text; nothing in the
/// library prints by itself. The default sink writes one line to standard error,
/// `rtcrm: <component>: <message>`; a host replaces it to route the messages into its own
/// logger, and sets the level below which messages are neither formatted nor delivered.
///
/// Components name the part of rtcrm a message comes from: `runtime` (shards, the
/// watchdog, sources and sinks as the runtime drives them), `store` (write-backs, stored
/// positions, the TTL sweep), `sink` (built-in sinks), `lua`, `kafka`, `webhook`, and the
/// name of a loop bridge (`uv`, `asio`). The message text has no prefix, no level and no
/// trailing newline.
///
/// Caveats:
/// - The sink runs on the thread that logs: a shard, a source thread, a librdkafka
///   callback, the loop of a bridge, the host's own thread. It must be thread-safe, must
///   not block for long (a shard waits for it), and must not throw (an exception from it is
///   swallowed and the message lost).
/// - A sink must not log itself: a message logged from inside the sink, on that thread,
///   goes to standard error instead. It must not call `set_log_sink` either (that throws).
/// - The sink and the level are process-wide, shared by every runtime and engine.
/// - The default sink writes each line with one `write(2)`, so lines of concurrent
///   threads do not interleave; there is no timestamp (the host's log system adds one).
///
/// Example (routing to the host's logger, e.g. spdlog):
/// @code
///   constexpr spdlog::level::level_enum as_spdlog[] = {spdlog::level::debug, spdlog::level::info,
///                                                      spdlog::level::warn, spdlog::level::err};
///   rtcrm::set_log_sink([](rtcrm::log_level level, std::string_view component, std::string_view message) {
///       spdlog::log(as_spdlog[static_cast<int>(level)], "rtcrm {}: {}", component, message);
///   });
///   rtcrm::set_log_level(rtcrm::log_level::warning);  // info messages are not even formatted
///   ...
///   rtcrm::set_log_sink({});  // before the host's logger goes away: back to standard error
/// @endcode
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

namespace rtcrm {

/// How much a message matters, in increasing order. `off` is only a threshold: a message
/// logged at `off` is never delivered.
enum class log_level : std::uint8_t {
    debug,    ///< detail for finding a problem
    info,     ///< a state change worth knowing: a script set loaded
    warning,  ///< trouble the library recovers from: a retried commit, a stuck shard
    error,    ///< something was lost or refused: outputs given up, a script set refused
    off,      ///< as a threshold: deliver nothing
};

/// Receives every delivered message. Called on the logging thread (see Caveats above):
/// thread-safe, quick, never throwing, never logging. `level` is never `off`; the views
/// are valid during the call only; `message` has no trailing newline.
using log_sink = std::function<void(log_level level, std::string_view component, std::string_view message)>;

/// Makes `sink` receive every message from now on; an empty one restores the default
/// (standard error). Any thread, also while others log. When it returns, no thread is in
/// the previous sink any more and none will enter it, so what that sink used may be
/// destroyed: it waits for calls of the previous sink in progress to end.
/// @throws rtcrm::error(errc::invalid_config) when called from inside a sink (it would
///   wait for itself).
void set_log_sink(log_sink sink);

/// Messages below `threshold` are neither formatted nor delivered; `off` silences all.
/// Default `info`. Any thread; takes effect at once for every thread.
void set_log_level(log_level threshold) noexcept;

/// The current threshold (see `set_log_level`). Any thread.
[[nodiscard]] log_level get_log_level() noexcept;

/// True if a message at `level` would be delivered now (one relaxed atomic load; false for
/// `off`). Any thread.
[[nodiscard]] bool log_enabled(log_level level) noexcept;

/// Delivers one message to the sink if `level` is enabled. Any thread; never throws (an
/// exception from the sink is swallowed). For the host's own plug-ins (bolts, sinks,
/// stores) as much as for the library.
void log(log_level level, std::string_view component, std::string_view message) noexcept;

/// The default sink: writes `rtcrm: <component>: <message>\n` to standard error with one
/// `write(2)`, whatever the level. A host's sink may pass messages on to it. Any thread;
/// a failed write is ignored.
void log_to_stderr(log_level level, std::string_view component, std::string_view message) noexcept;

/// "debug", "info", "warning", "error" or "off".
[[nodiscard]] std::string_view log_level_name(log_level level) noexcept;

/// The level of that name (as `log_level_name` writes it), or std::nullopt.
[[nodiscard]] std::optional<log_level> parse_log_level(std::string_view name) noexcept;

}  // namespace rtcrm
