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
///
/// All times are event time (ms since the epoch, the events' `ts`), never the wall clock,
/// so replaying history gives the same answers as the live run.
///
/// Caveats: a profile is owned by one shard at a time and is not synchronised. Lookup is
/// linear over small flat vectors, which beats hash maps for the tens of names a profile
/// has; a profile with thousands of names works but is slower.
///
/// Example:
/// @code
///   rtcrm::profile p{rtcrm::player_key{42}};
///   p.incr("loss_streak");                               // attribute: 1
///   p.incr_windowed("fights_lost", 1, ts, 86'400'000);   // daily buckets
///   if (p.count("fights_lost", 86'400'000, ts) >= 3) { ... }
/// @endcode
#pragma once

#include <rtcrm/player_key.hpp>

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
    friend bool operator==(const trigger_history&, const trigger_history&) = default;
};

/// The newest event of one source partition applied to a profile.
struct applied_position {
    std::string source;
    std::int32_t partition = 0;
    std::int64_t offset = -1;
    friend bool operator==(const applied_position&, const applied_position&) = default;
};

/// Limits that keep a profile's memory bounded.
struct profile_limits {
    std::size_t max_buckets = 64;     ///< buckets kept per windowed counter
    std::size_t recent_events = 16;   ///< size of the recent-event ring
    std::size_t recent_triggers = 16; ///< firing times kept per campaign
};

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
    [[nodiscard]] std::int64_t triggers_since(std::string_view campaign, std::int64_t since_ms) const noexcept;
    [[nodiscard]] const std::vector<std::pair<std::string, trigger_history>>& trigger_histories() const noexcept {
        return triggers_;
    }

    // --- replay protection ---
    /// True if the event at (`source`, `partition`, `offset`) or a later one of that
    /// partition was already applied: a replay after a crash skips it, so no update is
    /// applied twice.
    [[nodiscard]] bool applied(std::string_view source, std::int32_t partition, std::int64_t offset) const noexcept;
    /// Notes that the event at that position was applied.
    void mark_applied(std::string_view source, std::int32_t partition, std::int64_t offset);
    [[nodiscard]] const std::vector<applied_position>& applied_positions() const noexcept { return applied_; }

    /// Drops history older than `cutoff_ms` (event time): recent events and firing times
    /// before it, and counter buckets that end at or before it (counter totals stay).
    /// Returns true if anything was dropped.
    bool expire_history(std::int64_t cutoff_ms);

    /// Event time of the latest event applied (0 if none); used by TTLs.
    [[nodiscard]] std::int64_t last_event_ts() const noexcept { return last_event_ts_; }
    void touch(std::int64_t ts) noexcept {
        if (ts > last_event_ts_) {
            last_event_ts_ = ts;
        }
    }

    /// The profile as one JSON object:
    /// `{"player_id":..,"attributes":{..},"counters":{name:{"total":..,"bucket_ms":..,"buckets":[[start,n],..]}},
    ///   "recent":[{"type":..,"ts":..,"id":..}],"triggers":{campaign:{"total":..,"recent":[..]}},"last_event_ts":..}`.
    [[nodiscard]] std::string to_json() const;

    /// Equal content (the ring compares in order, wherever it is rotated).
    friend bool operator==(const profile& a, const profile& b);

private:
    friend struct profile_codec_access;  // the binary encoding (store/profile_codec.hpp)

    player_key key_;
    std::vector<std::pair<std::string, attribute>> attributes_;
    std::vector<std::pair<std::string, windowed_counter>> counters_;
    std::vector<recent_event> recent_;  // a ring: recent_[recent_head_] is the oldest once full
    std::size_t recent_head_ = 0;
    std::vector<std::pair<std::string, trigger_history>> triggers_;
    std::vector<applied_position> applied_;  // usually one entry: a player's events share a partition
    std::int64_t last_event_ts_ = 0;
};

}  // namespace rtcrm
