/// @file profile.hpp
/// A player's profile: what the CRM knows about one player, kept up to date by updaters
/// and read by campaigns.
///
/// A profile has four parts:
/// - **attributes**: named values (`level`, `is_payer`, `country`, ...). `incr` on an
///   attribute adds to it (a missing one counts as 0).
/// - **windowed counters**: named counts kept in time buckets of event time, so "fights
///   lost in the last day" is one call: `incr_windowed("fights_lost", 1, ts, day)` then
///   `count("fights_lost", day, now)`. Buckets older than `max_buckets` are dropped.
/// - **recent events**: a bounded ring of the player's latest events (type, ts, id).
/// - **trigger history**: per campaign, how often and when it fired for this player, for
///   frequency caps.
/// - **pending timers**: named, each due at an event time (`profile:set_timer` in Lua, and
///   the timers of delayed campaigns); the runtime fires them as `timer:NAME` events.
///
/// All times are event time (ms since the epoch, the events' `ts`), never the wall clock,
/// so replaying history gives the same answers as the live run.
///
/// Caveats: a profile is owned by one shard at a time and is not synchronised. Lookup is
/// linear over small flat vectors, which beats hash maps for the tens of names a profile
/// has; a profile with thousands of names works but is slower, which is one reason
/// handlers' writes are bounded (`profile_limits`). The profile's own mutators do not
/// check those bounds: the Lua bindings do, and stage each handler call's writes so a
/// failing handler changes nothing.
///
/// Example:
/// @code
///   rtcrm::profile p{rtcrm::player_key{42}};
///   p.incr("loss_streak");                               // attribute: 1
///   p.incr_windowed("fights_lost", 1, ts, 86'400'000);   // daily buckets
///   if (p.count("fights_lost", 86'400'000, ts) >= 3) { ... }
/// @endcode
#pragma once

#include <rtcrm/core/player_key.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace rtcrm {

struct profile_codec_access;

/// A JSON document kept as text, for attribute values that are objects or arrays.
struct json_text {
    std::string text;
    friend bool operator==(const json_text&, const json_text&) = default;
};

/// An attribute value: null, boolean, integer, number, string, or nested JSON.
using attribute = std::variant<std::monostate, bool, std::int64_t, double, std::string, json_text>;

/// A counter kept in fixed-width buckets of event time.
struct windowed_counter {
    std::int64_t total = 0;      ///< every increment ever (not windowed)
    std::int64_t bucket_ms = 0;  ///< bucket width in ms
    /// (bucket start ms, count), oldest first.
    std::vector<std::pair<std::int64_t, std::int64_t>> buckets;
    friend bool operator==(const windowed_counter&, const windowed_counter&) = default;
};

/// One entry of the recent-event ring.
struct recent_event {
    std::string type;
    std::int64_t ts = 0;
    std::string id;
    friend bool operator==(const recent_event&, const recent_event&) = default;
};

/// How often and when one campaign fired for this player.
struct trigger_history {
    std::int64_t total = 0;            ///< times fired, ever
    std::vector<std::int64_t> recent;  ///< latest firing times (event time), oldest first, bounded
    /// The `total` at the firing whose conversion was counted last (0: none), so a firing
    /// converts at most once: the latest firing has converted iff `converted == total`.
    std::int64_t converted = 0;
    friend bool operator==(const trigger_history&, const trigger_history&) = default;
};

/// A pending timer: the runtime delivers the event `timer:<name>` for the player once its
/// clock reaches `due` (event time, ms).
struct pending_timer {
    std::string name;
    std::int64_t due = 0;
    std::string event_id;  ///< the id of the event whose handling armed it; empty if it had none
    std::string data;      ///< JSON text of the data it was armed with; empty if none
    /// The arming event's `event_ref` (trigger_id.hpp: "e:...", "o:...", "h:..."), so the
    /// triggers of its firing get ids as stable as the arming event's; empty if none.
    std::string ref;
    friend bool operator==(const pending_timer&, const pending_timer&) = default;
};

/// The newest event of one source partition applied to a profile.
struct applied_position {
    std::string source;
    std::int32_t partition = 0;
    std::int64_t offset = -1;
    friend bool operator==(const applied_position&, const applied_position&) = default;
};

/// Limits that keep a profile's memory bounded.
///
/// The first three shape what the profile keeps (older entries are dropped). The `max_*`
/// bounds apply to handlers' writes (profile:set and profile:incr in Lua): a write that
/// would pass one is refused, changes nothing, and raises an error in the handler that
/// names the limit. 0 disables a `max_*` bound. A profile already past a bound (it was
/// lowered) keeps what it has, and takes the writes that do not grow it.
struct profile_limits {
    std::size_t max_buckets = 64;       ///< buckets kept per windowed counter
    std::size_t recent_events = 16;     ///< size of the recent-event ring
    std::size_t recent_triggers = 16;   ///< firing times kept per campaign
    std::size_t max_attributes = 1000;  ///< attributes per profile (1000 keeps lookups, linear in it, under a few µs)
    std::size_t max_counters = 256;     ///< windowed counters per profile
    /// Bytes of one attribute value: a string's length, or a table's JSON text length.
    std::size_t max_value_bytes = 64 * 1024;
    /// Bytes of the whole profile in its binary encoding (`profile::encoded_size`), as the
    /// stores keep it. In memory it takes more: a few dozen bytes more per entry.
    std::size_t max_encoded_bytes = 1024 * 1024;
    /// Pending timers per profile (profile:set_timer; a delayed campaign's timer counts too).
    std::size_t max_timers = 64;
};

namespace detail {
class profile_journal;
}

/// Everything known about one player. Value type; not synchronised.
class profile {
public:
    profile() = default;
    explicit profile(player_key key) : key_(std::move(key)) {}

    [[nodiscard]] const player_key& key() const noexcept { return key_; }

    // --- attributes ---
    /// The attribute, or nullptr if it is not set (see `count` for windowed counters).
    /// The pointer is valid until the profile is next modified.
    [[nodiscard]] const attribute* get(std::string_view name) const noexcept;
    /// Sets an attribute (a monostate value stores JSON null; use `erase` to remove).
    void set(std::string_view name, attribute value);
    /// Removes an attribute; true if it existed.
    bool erase(std::string_view name);
    /// Adds `delta` to a numeric attribute (a missing one counts as 0) and returns the new
    /// value; nullopt (and no change) if the attribute exists and is not a number.
    std::optional<double> incr(std::string_view name, double delta = 1);
    [[nodiscard]] const std::vector<std::pair<std::string, attribute>>& attributes() const noexcept { return attributes_; }

    // --- windowed counters ---
    /// Adds `delta` to the bucket of width `bucket_ms` that holds `ts`. The width is fixed
    /// by the first increment of a name. Increments older than the oldest kept bucket
    /// count only toward the total.
    void incr_windowed(std::string_view name, std::int64_t delta, std::int64_t ts, std::int64_t bucket_ms,
                       const profile_limits& limits = {});
    /// The sum of the buckets that overlap (now - window, now]; `window_ms` 0 gives the
    /// total ever. 0 for an unknown name.
    [[nodiscard]] std::int64_t count(std::string_view name, std::int64_t window_ms, std::int64_t now_ms) const noexcept;
    [[nodiscard]] const std::vector<std::pair<std::string, windowed_counter>>& counters() const noexcept { return counters_; }

    // --- recent events ---
    /// Appends to the ring, dropping the oldest past `limits.recent_events` (0 disables).
    void record_event(std::string_view type, std::int64_t ts, std::string_view id, const profile_limits& limits = {});
    /// Recent events, oldest first (a copy: the ring is stored rotated).
    [[nodiscard]] std::vector<recent_event> recent() const;
    /// Calls `fn(const recent_event&)` for each recent event, newest first, until it returns false.
    template <typename Fn>
    void visit_recent_newest_first(Fn&& fn) const {
        const auto n = recent_.size();
        for (std::size_t k = 0; k < n; ++k) {
            if (!fn(recent_[(recent_head_ + n - 1 - k) % n])) {
                return;
            }
        }
    }

    // --- trigger history ---
    /// Notes that `campaign` fired at `ts`.
    void record_trigger(std::string_view campaign, std::int64_t ts, const profile_limits& limits = {});
    /// The history of `campaign`, or nullptr if it never fired for this player.
    [[nodiscard]] const trigger_history* triggers(std::string_view campaign) const noexcept;
    /// Times `campaign` fired at or after `since_ms` (counted from the kept firing times).
    /// Marks the latest firing of `campaign` as converted. False (and nothing changes) if it
    /// never fired or its latest firing converted already.
    bool mark_converted(std::string_view campaign);
    [[nodiscard]] std::int64_t triggers_since(std::string_view campaign, std::int64_t since_ms) const noexcept;
    [[nodiscard]] const std::vector<std::pair<std::string, trigger_history>>& trigger_histories() const noexcept {
        return triggers_;
    }

    // --- pending timers ---
    /// Arms the timer `name` at `due`, replacing a pending one of that name.
    void set_timer(std::string_view name, std::int64_t due, std::string_view event_id = {}, std::string_view data = {},
                   std::string_view ref = {});
    /// Removes the pending timer `name`; true if there was one.
    bool cancel_timer(std::string_view name);
    /// The pending timer `name`, or nullptr. Valid until the profile is next modified.
    [[nodiscard]] const pending_timer* timer(std::string_view name) const noexcept;
    /// Every pending timer, in the order they were first armed.
    [[nodiscard]] const std::vector<pending_timer>& timers() const noexcept { return timers_; }
    /// The earliest due time of the pending timers, or nullopt when there are none: the
    /// key of the stores' due-time index.
    [[nodiscard]] std::optional<std::int64_t> next_timer_due() const noexcept;

    // --- replay protection ---
    /// True if the event at (`source`, `partition`, `offset`) or a later one of that
    /// partition was already applied: a replay after a crash skips it, so no update is
    /// applied twice.
    [[nodiscard]] bool applied(std::string_view source, std::int32_t partition, std::int64_t offset) const noexcept;
    /// Notes that the event at that position was applied.
    void mark_applied(std::string_view source, std::int32_t partition, std::int64_t offset);
    [[nodiscard]] const std::vector<applied_position>& applied_positions() const noexcept { return applied_; }

    // --- the store's version ---
    /// The version a store that writes conditionally (cassandra_store) holds of this
    /// profile, as far as this copy knows: set by the store's `get`, 0 for a profile the
    /// store has no version of. Such a store writes the profile only if it still holds
    /// that version, and stores `stored_version() + 1` (profile_store.hpp). Not part of the
    /// value: operator== and the binary encoding ignore it.
    [[nodiscard]] std::uint64_t stored_version() const noexcept { return stored_version_; }
    void set_stored_version(std::uint64_t version) noexcept { stored_version_ = version; }

    /// Drops history older than `cutoff_ms` (event time): recent events and firing times
    /// before it, and counter buckets that end at or before it (counter totals stay).
    /// Returns true if anything was dropped.
    bool expire_history(std::int64_t cutoff_ms);

    /// Event time of the latest event applied (0 if none); used by TTLs.
    [[nodiscard]] std::int64_t last_event_ts() const noexcept { return last_event_ts_; }
    /// Moves `last_event_ts()` forward to `ts` (never back).
    void touch(std::int64_t ts) noexcept;

    /// The exact size in bytes of the profile's binary encoding (`encode_profile`,
    /// store/profile_codec.hpp), without encoding it. O(1) once a handler has written to
    /// the profile under `profile_limits::max_encoded_bytes` (from then on every change
    /// keeps the size up to date); before that, a walk over the entries. Never allocates.
    [[nodiscard]] std::size_t encoded_size() const noexcept;

    /// The profile as one JSON object:
    /// `{"player_id":..,"attributes":{..},"counters":{name:{"total":..,"bucket_ms":..,"buckets":[[start,n],..]}},
    ///   "recent":[{"type":..,"ts":..,"id":..}],"triggers":{campaign:{"total":..,"recent":[..]}},"last_event_ts":..}`,
    /// and, when timers are pending, `"timers":[{"name":..,"due":..,"event_id":..,"data":{..}}]`
    /// (`event_id` and `data` only when set), earliest first.
    [[nodiscard]] std::string to_json() const;

    /// Equal content (the ring compares in order, wherever it is rotated).
    friend bool operator==(const profile& a, const profile& b);

private:
    friend struct profile_codec_access;    // the binary encoding (store/profile_codec.hpp)
    friend class detail::profile_journal;  // handlers' staged, bounded writes (src/core/profile_journal.hpp)

    static constexpr std::size_t unknown_size = static_cast<std::size_t>(-1);
    // The encoded size by walking every entry.
    [[nodiscard]] std::size_t measure() const noexcept;
    // `current` (nullptr: missing, which counts as 0) plus `delta`; nullopt if it is not a
    // number. Integral deltas keep integers integers, as counters are expected to be.
    static std::optional<attribute> plus(const attribute* current, double delta) noexcept;
    // A new, empty windowed counter (the caller checked that `name` is new).
    windowed_counter& add_counter(std::string_view name, std::int64_t bucket_ms);
    // Adds `delta` at `ts` to a counter of this profile.
    void add_to_counter(windowed_counter& c, std::int64_t delta, std::int64_t ts, const profile_limits& limits);
    // A change replaced `removed` encoded bytes with `added` ones.
    void resized(std::size_t removed, std::size_t added) noexcept {
        if (encoded_size_ != unknown_size) {
            encoded_size_ = encoded_size_ - removed + added;
        }
    }

    player_key key_;
    std::vector<std::pair<std::string, attribute>> attributes_;
    std::vector<std::pair<std::string, windowed_counter>> counters_;
    std::vector<recent_event> recent_;  // a ring: recent_[recent_head_] is the oldest once full
    std::size_t recent_head_ = 0;
    std::vector<std::pair<std::string, trigger_history>> triggers_;
    std::vector<pending_timer> timers_;      // few: linear lookups, as for the other lists
    std::vector<applied_position> applied_;  // usually one entry: a player's events share a partition
    std::int64_t last_event_ts_ = 0;
    // The encoded size, kept by every change once known (a journal asks for it first), so
    // a size check per write is O(1). unknown_size after construction, decoding and
    // expire_history. Not part of the value: operator== ignores it.
    std::size_t encoded_size_ = unknown_size;
    std::uint64_t stored_version_ = 0;  // not part of the value either
};

}  // namespace rtcrm
