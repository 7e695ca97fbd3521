// Internal: what every campaign did, per event-time day (UTC): triggers, exposures and
// conversions per arm, suppressions by reason, distinct players reached.
//
// A ledger is plain data. Each shard keeps two (engine_state's shard_ledger): the changes
// since its last durable write-back (`delta`, handed to the store as named tallies in the
// same commit as the profiles they came from) and everything before (`committed`). The
// campaign report sums the store's tallies read at start (the engine's base) and every
// shard's two ledgers, so it survives reloads (the ledger is keyed by campaign id, not by
// script set) and, with a durable store, restarts.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rtcrm::detail::lua {

// Why a firing of a campaign was not sent.
enum class suppression : std::uint8_t {
    kill_switch,  // the campaign's kill switch is on
    cap,          // the campaign's own cap per player
    fatigue,      // the cap across campaigns (crm.fatigue)
    rate,         // the campaign's rate limit
    quiet_hours,  // dropped inside the player's quiet hours (defer = false, or no timer room)
    schedule,     // a delayed campaign's wait came due outside `active`
    dry_run,      // a dry-run campaign's firing: to the shadow stream only
};
inline constexpr std::size_t suppression_count = 7;
// The reason's name in reports and metrics ("kill_switch", "cap", ...).
std::string_view name_of(suppression reason) noexcept;

// Exposures and conversions of one arm ("control", "treatment" or a variant's name).
struct arm_tally {
    std::int64_t exposures = 0;
    std::int64_t conversions = 0;
};

// One campaign on one event-time day.
struct day_tally {
    std::int64_t triggers = 0;  // sent to the main stream (control exposures are not sent)
    std::int64_t shadow = 0;    // sent to the shadow stream (dry run, and control exposures)
    std::int64_t players = 0;   // distinct players who got a trigger that day (exact: see crm_bolt)
    std::array<std::int64_t, suppression_count> suppressed{};
    std::map<std::string, arm_tally, std::less<>> arms;

    std::int64_t& suppressed_by(suppression reason) noexcept { return suppressed[static_cast<std::size_t>(reason)]; }
    arm_tally& arm(std::string_view name);
};

// One campaign, over all days.
struct campaign_tally {
    std::int64_t players = 0;  // distinct players who ever got a trigger of it
    std::map<std::int64_t, day_tally> days;  // by day number: floor(ts / 86'400'000)
};

class campaign_ledger {
public:
    // The day number of an event time (ms since the epoch, UTC).
    static std::int64_t day_of(std::int64_t ts_ms) noexcept;
    // "2025-11-22" for a day number.
    static std::string day_text(std::int64_t day);

    campaign_tally& campaign(std::string_view id);
    // The tally of campaign `id` on the day of `ts_ms`.
    day_tally& day(std::string_view id, std::int64_t ts_ms);

    // Adds every counter of `other` to this ledger.
    void add(const campaign_ledger& other);
    [[nodiscard]] bool empty() const noexcept { return campaigns_.empty(); }
    void clear() noexcept { campaigns_.clear(); }
    [[nodiscard]] const std::map<std::string, campaign_tally, std::less<>>& campaigns() const noexcept {
        return campaigns_;
    }

    // The ledger as named tallies for a store (additive counters; only the non-zero ones).
    // A name is "campaign:" <id> US <field>, with US the byte 0x1f and field one of
    // "players", or <day> US "triggers" | "shadow" | "players" | "s:" <reason> |
    // "x:" <arm> (exposures) | "v:" <arm> (conversions).
    void append_tallies(std::vector<std::pair<std::string, std::int64_t>>& out) const;
    // Adds one named tally; false (ignored) if the name is not a campaign tally.
    bool add_tally(std::string_view name, std::int64_t value);

private:
    std::map<std::string, campaign_tally, std::less<>> campaigns_;
};

}  // namespace rtcrm::detail::lua
