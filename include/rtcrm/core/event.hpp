/// @file event.hpp
/// The one concrete event type that flows through every topology.
///
/// An event is a player's action as the game reported it: the player key, the event
/// `type`, the event time `ts` (ms since the epoch, the game's clock), an optional `id`,
/// and the whole JSON object as sent. The bytes are parsed once (RapidJSON) into an
/// immutable DOM that stays next to the original bytes: bolts and scripts read fields
/// from the DOM, dead-letter records and histories copy the original bytes, and nothing
/// is serialised again on the hot path.
///
/// The default wire format is one JSON object per event:
/// @code
///   {"id":"e-1","player_id":42,"type":"fight","ts":1763800000000,"game":"foe","data":{"result":"loss"}}
/// @endcode
///
/// What the parser refuses (each refusal is dead-lettered with its code and reason):
/// - `too_large`: more than `parse_options::max_size` bytes.
/// - `parse_error`: not exactly one JSON object over the whole length (bytes after it,
///   a NUL byte among them, are an error, not ignored); nesting deeper than
///   `max_event_depth` (64) objects and arrays, the event's own object being level 1
///   ("JSON nested deeper than 64 levels at offset N"); ill-formed UTF-8 anywhere in a
///   string ("invalid UTF-8 at offset N"), or a `\u` escape of a lone UTF-16 surrogate.
///   The parse is iterative: no input can exhaust the stack.
/// - `ambiguous_key`: more than one top-level member whose name, after unescaping, is the
///   key field, e.g. `{"player\u005fid":"A","player_id":"D"}`. Only when the key field
///   decides the player (no transport key).
/// - `missing_field` / `wrong_type`: the key or `type` absent or of the wrong type, `ts`
///   not an integer, `id` neither a string nor an integer.
/// - `bad_time`: `ts` before the epoch (negative), later than the ingest wall-clock time
///   plus `parse_options::max_lead` (default 1 day) or than `max_event_ts`, or, if
///   `max_age` is set, earlier than the ingest time minus `max_age` (default: no lower
///   bound but the epoch, so a replay of old history is accepted).
///
/// Routing and parsing agree on the player. The source thread routes an event by a scan
/// of its bytes (src/core/key_scan.hpp) and the shard parses it; the scan gives a key
/// only for a single, unescaped key member of the top-level object with a plain value,
/// which is the member the parser reads. For anything else (an escaped member name that
/// may be the key field, a second key member, an escaped value, ...) routing runs the
/// parser's own key lookup, so an event the shard accepts always reached the shard of
/// the key it reads.
///
/// Caveats:
/// - Events are move-only: they own their ack token (see ack.hpp) and payload.
/// - The DOM is read-only. A bolt that enriches an event emits a new output instead.
/// - `ts` is optional on the wire; when absent it is the ingest wall-clock time.
/// - Two members with the same name other than the key field are accepted; `field()`
///   and scripts see the first.
///
/// Example:
/// @code
///   auto ev = rtcrm::parse_event(R"({"player_id":42,"type":"login","ts":1})", {});
///   if (ev) { use(ev->player(), ev->type(), ev->json()["ts"].GetInt64()); }
///   else    { log(ev.error().reason); }
/// @endcode
#pragma once

#include <rtcrm/core/ack.hpp>
#include <rtcrm/core/player_key.hpp>
#include <rtcrm/core/result.hpp>

#include <rapidjson/document.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace rtcrm {

/// Where an event came from: which source (its index in the topology), which partition
/// of it, and the position there (Kafka offset, byte offset in a file, sequence number).
struct origin {
    std::uint32_t source = 0;   ///< index of the source in its topology
    std::int32_t partition = 0; ///< partition within the source (0 for unpartitioned sources)
    std::int64_t offset = -1;   ///< position within the partition; -1 when the source has none
    bool resumable = false;     ///< set by the runtime: the source can resume from this position
    /// Set by the runtime when the source gave no position (`offset` < 0): `offset` is then a
    /// sequence number of this run, which the same event does not get again after a restart.
    bool sequenced = false;
    /// Set by the runtime on a timer event (`timer:NAME`, made when a player's pending timer
    /// came due, profile.hpp): it was read from no source, and is not acked to one.
    bool timer = false;
};

/// What a source hands to the runtime: the bytes of one event and where they came from.
struct record {
    std::string bytes;              ///< the event as sent (one JSON object by default)
    std::optional<std::string> key; ///< a transport key (Kafka message key); overrides the key field
    struct origin origin;           ///< filled by the source (the runtime sets `origin.source`)
};

/// The type prefix of the events the runtime makes when a player's timer comes due
/// (`timer:NAME`). Events from sources with such a type are refused (`errc::reserved_type`),
/// so no client can fire a player's timers.
inline constexpr std::string_view timer_event_prefix = "timer:";

/// The deepest nesting of objects and arrays an event may have; the event's object is
/// level 1. Deeper events are refused with `errc::parse_error`.
inline constexpr unsigned max_event_depth = 64;

/// The latest `ts` any event may have, whatever `parse_options::max_lead` says: half the
/// int64 range, so window and bucket arithmetic on event times (a bucket's start plus its
/// width is at most twice the time; a time minus any duration) never overflows.
inline constexpr std::int64_t max_event_ts = INT64_MAX / 2;

/// How bytes become events.
struct parse_options {
    std::string key_field = "player_id";  ///< JSON member holding the player key (integer or string)
    std::size_t max_size = 64 * 1024;     ///< larger events are refused with `errc::too_large`
    /// How far `ts` may be ahead of the ingest wall-clock time; later events are refused
    /// with `errc::bad_time` (a game clock far in the future would hold caps and windows).
    std::chrono::milliseconds max_lead{std::chrono::hours{24}};
    /// How far `ts` may be behind the ingest wall-clock time; unset: any `ts` from the
    /// epoch on (replays of old history). A negative `ts` is always `errc::bad_time`.
    std::optional<std::chrono::milliseconds> max_age;

    /// @throws rtcrm::error(errc::invalid_config) if `key_field` is empty, `max_size` is 0,
    ///         or `max_lead` or `max_age` is negative.
    void validate() const;
};

namespace detail {
struct payload;
struct timer_event_access;
struct payload_deleter {
    void operator()(payload* p) const noexcept;
};
}  // namespace detail

/// The read-only DOM type of an event's payload.
using json_value = rapidjson::GenericValue<rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>>;

/// One event. Move-only. Not synchronised: it is owned by one stage at a time.
class event {
public:
    event() = default;
    event(event&&) noexcept = default;
    event& operator=(event&&) noexcept = default;

    /// The player this event belongs to.
    [[nodiscard]] const player_key& player() const noexcept { return player_; }
    /// The event type, e.g. "fight".
    [[nodiscard]] std::string_view type() const noexcept { return type_; }
    /// Event time in ms since the epoch (the game's clock; used by windows and caps).
    [[nodiscard]] std::int64_t ts() const noexcept { return ts_; }
    /// The event id, or empty if the event has none.
    [[nodiscard]] std::string_view id() const noexcept { return id_; }
    /// When the runtime received it: steady-clock nanoseconds (for latency measurement).
    [[nodiscard]] std::int64_t ingest_ns() const noexcept { return ingest_ns_; }
    /// Where it came from.
    [[nodiscard]] const struct origin& origin() const noexcept { return origin_; }
    /// For a timer event (`origin().timer`): the arming event's reference
    /// (`pending_timer::ref`, trigger_id.hpp); empty otherwise.
    [[nodiscard]] std::string_view timer_ref() const noexcept { return timer_ref_; }
    /// The original bytes.
    [[nodiscard]] std::string_view raw() const noexcept;
    /// The parsed JSON object (the whole event). Valid while the event lives.
    [[nodiscard]] const json_value& json() const noexcept;
    /// A member of the top-level object, or nullptr if absent.
    [[nodiscard]] const json_value* field(std::string_view name) const noexcept;

    /// The event's own share of its ack token. The runtime completes it; bolts use
    /// `share()` only for work that outlives the bolt call.
    [[nodiscard]] ack_token& ack() noexcept { return ack_; }
    /// Attaches the token that completes this event (done by the runtime after parsing).
    void set_ack(ack_token token) noexcept { ack_ = std::move(token); }

private:
    friend result<event> parse_event(record&& rec, const parse_options& options);
    friend struct detail::timer_event_access;
    player_key player_;
    std::string type_;
    std::string id_;
    std::int64_t ts_ = 0;
    std::int64_t ingest_ns_ = 0;
    struct origin origin_;
    ack_token ack_;
    std::unique_ptr<detail::payload, detail::payload_deleter> payload_;
    std::string timer_ref_;
    std::int64_t clock_ = INT64_MIN;  // the timers' clock once its record was read (the runtime's)
};

/// Parses one record into an event; the record's bytes move into the event.
/// On failure, `rec.bytes` is left intact (for the dead-letter record) and the failure
/// says why: `too_large`, `parse_error` (with the byte offset), `ambiguous_key`,
/// `missing_field` or `wrong_type` (naming the field), `bad_time` (see the list above).
/// Never throws except `std::bad_alloc`.
result<event> parse_event(record&& rec, const parse_options& options);

/// Convenience for tests and hosts: parses a JSON string with no origin and no ack.
result<event> parse_event(std::string_view json, const parse_options& options);

/// Steady-clock nanoseconds, the clock of `event::ingest_ns()`.
std::int64_t steady_now_ns() noexcept;

}  // namespace rtcrm
