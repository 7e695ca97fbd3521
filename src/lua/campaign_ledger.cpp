#include "campaign_ledger.hpp"

#include <charconv>
#include <chrono>
#include <fmt/format.h>

namespace rtcrm::detail::lua {
namespace {

constexpr std::int64_t day_ms = 86'400'000;
constexpr char unit_separator = '\x1f';
constexpr std::string_view tally_prefix = "campaign:";
constexpr std::array<std::string_view, suppression_count> suppression_names{
    "kill_switch", "cap", "fatigue", "rate", "quiet_hours", "schedule", "dry_run"};

// Splits `s` at the first unit separator: (before, after); after is empty if none.
std::pair<std::string_view, std::string_view> split(std::string_view s, bool& found) noexcept {
    const auto at = s.find(unit_separator);
    found = at != std::string_view::npos;
    if (!found) {
        return {s, {}};
    }
    return {s.substr(0, at), s.substr(at + 1)};
}

}  // namespace

std::string_view name_of(suppression reason) noexcept { return suppression_names[static_cast<std::size_t>(reason)]; }

arm_tally& day_tally::arm(std::string_view name) {
    if (const auto it = arms.find(name); it != arms.end()) {
        return it->second;
    }
    return arms.emplace(std::string{name}, arm_tally{}).first->second;
}

std::int64_t campaign_ledger::day_of(std::int64_t ts_ms) noexcept {
    // Floor division: an event time before 1970 belongs to the day it falls in.
    return ts_ms >= 0 ? ts_ms / day_ms : -((-ts_ms + day_ms - 1) / day_ms);
}

std::string campaign_ledger::day_text(std::int64_t day) {
    const std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{day}}};
    return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                       static_cast<unsigned>(ymd.day()));
}

campaign_tally& campaign_ledger::campaign(std::string_view id) {
    if (const auto it = campaigns_.find(id); it != campaigns_.end()) {
        return it->second;
    }
    return campaigns_.emplace(std::string{id}, campaign_tally{}).first->second;
}

day_tally& campaign_ledger::day(std::string_view id, std::int64_t ts_ms) { return campaign(id).days[day_of(ts_ms)]; }

void campaign_ledger::add(const campaign_ledger& other) {
    for (const auto& [id, theirs] : other.campaigns_) {
        auto& mine = campaign(id);
        mine.players += theirs.players;
        for (const auto& [day, t] : theirs.days) {
            auto& d = mine.days[day];
            d.triggers += t.triggers;
            d.shadow += t.shadow;
            d.players += t.players;
            for (std::size_t i = 0; i < suppression_count; ++i) {
                d.suppressed[i] += t.suppressed[i];
            }
            for (const auto& [name, a] : t.arms) {
                auto& arm = d.arm(name);
                arm.exposures += a.exposures;
                arm.conversions += a.conversions;
            }
        }
    }
}

void campaign_ledger::append_tallies(std::vector<std::pair<std::string, std::int64_t>>& out) const {
    for (const auto& [id, c] : campaigns_) {
        std::string stem{tally_prefix};
        stem += id;
        stem += unit_separator;
        auto put = [&](std::string name, std::int64_t value) {
            if (value != 0) {
                out.emplace_back(std::move(name), value);
            }
        };
        put(stem + "players", c.players);
        for (const auto& [day, d] : c.days) {
            const std::string at = stem + std::to_string(day) + unit_separator;
            put(at + "triggers", d.triggers);
            put(at + "shadow", d.shadow);
            put(at + "players", d.players);
            for (std::size_t i = 0; i < suppression_count; ++i) {
                put(at + "s:" + std::string{suppression_names[i]}, d.suppressed[i]);
            }
            for (const auto& [name, a] : d.arms) {
                put(at + "x:" + name, a.exposures);
                put(at + "v:" + name, a.conversions);
            }
        }
    }
}

bool campaign_ledger::add_tally(std::string_view name, std::int64_t value) {
    if (!name.starts_with(tally_prefix)) {
        return false;
    }
    bool found = false;
    const auto [id, rest] = split(name.substr(tally_prefix.size()), found);
    if (!found) {
        return false;
    }
    const auto [head, field] = split(rest, found);
    if (!found) {
        if (head != "players") {
            return false;
        }
        campaign(id).players += value;
        return true;
    }
    std::int64_t day = 0;
    if (const auto r = std::from_chars(head.data(), head.data() + head.size(), day);
        r.ec != std::errc{} || r.ptr != head.data() + head.size()) {
        return false;
    }
    auto& d = campaign(id).days[day];
    if (field == "triggers") {
        d.triggers += value;
    } else if (field == "shadow") {
        d.shadow += value;
    } else if (field == "players") {
        d.players += value;
    } else if (field.starts_with("s:")) {
        const auto reason = field.substr(2);
        for (std::size_t i = 0; i < suppression_count; ++i) {
            if (suppression_names[i] == reason) {
                d.suppressed[i] += value;
                return true;
            }
        }
        return false;
    } else if (field.starts_with("x:")) {
        d.arm(field.substr(2)).exposures += value;
    } else if (field.starts_with("v:")) {
        d.arm(field.substr(2)).conversions += value;
    } else {
        return false;
    }
    return true;
}

}  // namespace rtcrm::detail::lua
