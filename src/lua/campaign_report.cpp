#include "campaign_report.hpp"

#include "vm.hpp"

#include <rtcrm/core/json_text.hpp>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>

namespace rtcrm::detail::lua {
namespace {

using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;

constexpr std::string_view control_arm = "control";
constexpr double z95 = 1.96;

void text(json_writer& w, std::string_view s) {
    if (is_valid_utf8(s)) {
        w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    } else {
        const auto valid = to_valid_utf8(s);
        w.String(valid.data(), static_cast<rapidjson::SizeType>(valid.size()));
    }
}

void key(json_writer& w, std::string_view k) { w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size())); }

void integer(json_writer& w, std::string_view k, std::int64_t v) {
    key(w, k);
    w.Int64(v);
}

// One campaign's counters over a span of days.
struct totals {
    std::int64_t triggers = 0;
    std::int64_t shadow = 0;
    std::array<std::int64_t, suppression_count> suppressed{};
    std::map<std::string, arm_tally, std::less<>> arms;

    void add(const day_tally& d) {
        triggers += d.triggers;
        shadow += d.shadow;
        for (std::size_t i = 0; i < suppression_count; ++i) {
            suppressed[i] += d.suppressed[i];
        }
        for (const auto& [name, a] : d.arms) {
            auto& mine = arms[name];
            mine.exposures += a.exposures;
            mine.conversions += a.conversions;
        }
    }
};

void write_suppressed(json_writer& w, const std::array<std::int64_t, suppression_count>& suppressed) {
    key(w, "suppressed");
    w.StartObject();
    for (std::size_t i = 0; i < suppression_count; ++i) {
        integer(w, name_of(static_cast<suppression>(i)), suppressed[i]);
    }
    w.EndObject();
}

arm_tally arm_of(const std::map<std::string, arm_tally, std::less<>>& arms, std::string_view name) {
    const auto it = arms.find(name);
    return it == arms.end() ? arm_tally{} : it->second;
}

void write_arms(json_writer& w, const std::vector<std::string>& names,
                const std::map<std::string, arm_tally, std::less<>>& arms) {
    key(w, "arms");
    w.StartObject();
    for (const auto& name : names) {
        const auto a = arm_of(arms, name);
        text(w, name);
        w.StartObject();
        integer(w, "exposures", a.exposures);
        integer(w, "conversions", a.conversions);
        w.EndObject();
    }
    w.EndObject();
}

void number_or_null(json_writer& w, std::string_view k, std::optional<double> v) {
    key(w, k);
    if (v) {
        w.Double(*v);
    } else {
        w.Null();
    }
}

void write_uplift(json_writer& w, const std::vector<std::string>& names,
                  const std::map<std::string, arm_tally, std::less<>>& arms) {
    const auto control = arm_of(arms, control_arm);
    key(w, "uplift");
    w.StartArray();
    for (const auto& name : names) {
        if (name == control_arm) {
            continue;
        }
        const auto variant = arm_of(arms, name);
        w.StartObject();
        key(w, "variant");
        text(w, name);
        std::optional<double> rate;
        std::optional<double> control_rate;
        std::optional<double> diff;
        std::optional<std::pair<double, double>> ci;
        if (variant.exposures > 0 && control.exposures > 0) {
            const auto n1 = static_cast<double>(variant.exposures);
            const auto n0 = static_cast<double>(control.exposures);
            const double p1 = static_cast<double>(variant.conversions) / n1;
            const double p0 = static_cast<double>(control.conversions) / n0;
            const double se = std::sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0);
            rate = p1;
            control_rate = p0;
            diff = p1 - p0;
            ci = std::pair{*diff - z95 * se, *diff + z95 * se};
        }
        number_or_null(w, "rate", rate);
        number_or_null(w, "control_rate", control_rate);
        number_or_null(w, "diff", diff);
        key(w, "ci95");
        if (ci) {
            w.StartArray();
            w.Double(ci->first);
            w.Double(ci->second);
            w.EndArray();
        } else {
            w.Null();
        }
        w.EndObject();
    }
    w.EndArray();
}

// The arms a campaign reports: the described ones, then those only in the ledger by name;
// "control" first among the ledger-only arms of a removed campaign.
std::vector<std::string> arm_names(const campaign_description* described, const campaign_tally* tally) {
    std::vector<std::string> names;
    if (described != nullptr) {
        if (!described->has_arms) {
            return names;
        }
        names = described->arms;
    }
    std::set<std::string, std::less<>> in_ledger;
    if (tally != nullptr) {
        for (const auto& [day, d] : tally->days) {
            for (const auto& [name, a] : d.arms) {
                in_ledger.insert(name);
            }
        }
    }
    if (described == nullptr && in_ledger.contains(control_arm)) {
        names.emplace_back(control_arm);
    }
    for (const auto& name : in_ledger) {
        if (std::find(names.begin(), names.end(), name) == names.end()) {
            names.push_back(name);
        }
    }
    return names;
}

void write_campaign(json_writer& w, std::string_view id, bool dry_run, const campaign_description* described,
                    const campaign_tally* tally, campaign_report_scope scope) {
    const auto arms = arm_names(described, tally);
    const bool with_arms = described != nullptr ? described->has_arms : !arms.empty();
    totals all;
    if (tally != nullptr) {
        for (const auto& [day, d] : tally->days) {
            all.add(d);
        }
    }
    w.StartObject();
    key(w, "id");
    text(w, id);
    key(w, "dry_run");
    w.Bool(dry_run);
    integer(w, "triggers", all.triggers);
    integer(w, "shadow", all.shadow);
    integer(w, "players", tally != nullptr ? tally->players : 0);
    write_suppressed(w, all.suppressed);
    if (with_arms) {
        write_arms(w, arms, all.arms);
        if (scope == campaign_report_scope::days && std::find(arms.begin(), arms.end(), control_arm) != arms.end()) {
            write_uplift(w, arms, all.arms);
        }
    }
    if (scope == campaign_report_scope::days) {
        key(w, "days");
        w.StartArray();
        if (tally != nullptr) {
            for (const auto& [day, d] : tally->days) {
                w.StartObject();
                key(w, "day");
                text(w, campaign_ledger::day_text(day));
                integer(w, "triggers", d.triggers);
                integer(w, "shadow", d.shadow);
                integer(w, "players", d.players);
                write_suppressed(w, d.suppressed);
                if (with_arms) {
                    write_arms(w, arms, d.arms);
                }
                w.EndObject();
            }
        }
        w.EndArray();
    }
    w.EndObject();
}

}  // namespace

campaign_description describe(const campaign_spec& campaign) {
    campaign_description out{.id = campaign.id, .dry_run = campaign.dry_run, .has_arms = campaign.has_arms(), .arms = {}};
    if (!out.has_arms) {
        return out;
    }
    if (campaign.holdout_buckets > 0) {
        out.arms.emplace_back(control_arm);
    }
    if (campaign.variants.empty()) {
        out.arms.emplace_back("treatment");
    }
    for (const auto& v : campaign.variants) {
        out.arms.push_back(v.name);
    }
    return out;
}

std::string render_campaign_report(const campaign_ledger& ledger, const std::vector<campaign_description>& current,
                                   campaign_report_scope scope) {
    rapidjson::StringBuffer buf;
    json_writer w(buf);
    w.StartObject();
    key(w, "campaigns");
    w.StartArray();
    std::set<std::string_view> described;
    for (const auto& c : current) {
        if (!described.insert(c.id).second) {
            continue;  // a set registers an id once; a repeated description adds nothing
        }
        const auto it = ledger.campaigns().find(c.id);
        write_campaign(w, c.id, c.dry_run, &c, it == ledger.campaigns().end() ? nullptr : &it->second, scope);
    }
    for (const auto& [id, tally] : ledger.campaigns()) {
        if (!described.contains(id)) {
            write_campaign(w, id, false, nullptr, &tally, scope);
        }
    }
    w.EndArray();
    w.EndObject();
    return {buf.GetString(), buf.GetSize()};
}

}  // namespace rtcrm::detail::lua
