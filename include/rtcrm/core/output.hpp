/// @file output.hpp
/// What a topology produces: outputs on named streams, handed to the sinks bound there.
///
/// An output is one serialised JSON object (a campaign trigger, a dead-letter record, ...)
/// with the player it concerns, and a share of the ack token of the event that caused
/// it: the causing event is committed only after every sink acked its outputs.
///
/// Streams: `main` carries triggers and other results; `shadow` carries dry-run triggers
/// (never sent to players); `dead_letter` carries events that could not be processed,
/// with the original bytes and the reason; `archive` carries the bytes of every event that
/// passed the ingest bolts, exactly as received, for an event archive (archive/archive_sink.hpp).
///
/// Dead-letter record format (one JSON object):
/// @code
///   {"reason":"schema_violation","detail":"#/data/result violates \"enum\" (schema #/properties/data/properties/result)","source":"ndjson",
///    "partition":0,"offset":1234,"raw":"<the original bytes>"}
/// @endcode
/// Every record is valid JSON (UTF-8), whatever the bytes were. When the original bytes
/// are not valid UTF-8, `"raw"` holds them with each ill-formed sequence replaced by
/// U+FFFD (see json_text.hpp), `"raw_utf8_replaced":true` says so, and `"raw_base64"`
/// holds the exact bytes (for a replay).
///
/// Caveats: an output owns its ack share; a sink that drops an output without acking it
/// nacks it (see ack.hpp).
#pragma once

#include <rtcrm/core/ack.hpp>
#include <rtcrm/core/player_key.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace rtcrm {

/// The streams a topology's outputs flow on.
enum class stream : std::uint8_t {
    main = 0,         ///< triggers and results
    shadow = 1,       ///< dry-run (shadow mode) triggers
    dead_letter = 2,  ///< events that could not be processed, with the reason
    archive = 3,      ///< the raw bytes of validated events (one event per output, not JSON-wrapped)
};
inline constexpr std::size_t stream_count = 4;

/// The name of a stream: "main", "shadow", "dead_letter" or "archive".
std::string_view stream_name(stream s) noexcept;

/// One output. Move-only (it owns an ack share).
struct output {
    enum stream stream = stream::main;
    player_key player;          ///< the player concerned (keys Kafka messages, orders per player)
    std::string body;           ///< one JSON object
    ack_token ack;              ///< share of the causing event's token; the sink completes it
    std::int64_t ingest_ns = 0; ///< ingest time of the causing event (steady clock), for latency
    /// Event time (`event::ts`, ms since the epoch) of the causing event, when a bolt emitted
    /// it; 0 for the runtime's own outputs (dead letters of unparsed bytes have no time).
    std::int64_t event_ts = 0;
};

}  // namespace rtcrm
