// Internal: the campaign report, a JSON document rendered from a campaign ledger and the
// current script set's campaigns (docs/CAMPAIGN_REPORT.md describes every field).
//
//   {"campaigns":[{"id":"33","dry_run":false,"triggers":1234,"shadow":310,"players":800,
//     "suppressed":{"kill_switch":0,"cap":10,"fatigue":4,"rate":0,"quiet_hours":0,"schedule":0,"dry_run":0},
//     "arms":{"control":{"exposures":310,"conversions":40},"a":{...}},
//     "uplift":[{"variant":"a","rate":0.165,"control_rate":0.129,"diff":0.036,"ci95":[-0.01,0.08]}],
//     "days":[{"day":"2025-11-22","triggers":..,"shadow":..,"players":..,"suppressed":{..},"arms":{..}}]}]}
//
// Order: the current set's campaigns in the order given (registration order), with zeros
// when they have no counts yet; then campaigns found only in the ledger (removed from the
// set, counted before), by id as text, reported with dry_run false and the arms the ledger has.
// `arms` is present when the campaign has arms (`has_arms`; for a removed campaign, when
// the ledger has arm counts), each arm listed even with zero counts; for a campaign of the
// current set, arms the ledger holds beyond the described ones (a variant renamed by a
// reload) follow them in name order. `uplift` is present when one of the arms is "control".
//
// The uplift interval is the unpooled two-proportion z-interval:
//   diff = p1 - p0,  ci95 = diff ± 1.96 * sqrt(p1 (1 - p1) / n1 + p0 (1 - p0) / n0)
// with p = conversions / exposures and n = exposures of the variant (1) and of control (0);
// when either arm has no exposure, rate, control_rate, diff and ci95 are null.
#pragma once

#include "campaign_ledger.hpp"

#include <rtcrm/core/script_admin.hpp>

#include <string>
#include <vector>

namespace rtcrm::detail::lua {

struct campaign_spec;

// What the report needs of a campaign of the current script set.
struct campaign_description {
    std::string id;
    bool dry_run = false;
    bool has_arms = false;
    // "control" when the campaign has a holdout, then its variants' names in order, or
    // "treatment" without variants; empty when has_arms is false.
    std::vector<std::string> arms;
};

campaign_description describe(const campaign_spec& campaign);

std::string render_campaign_report(const campaign_ledger& ledger, const std::vector<campaign_description>& current,
                                   campaign_report_scope scope = campaign_report_scope::days);

}  // namespace rtcrm::detail::lua
