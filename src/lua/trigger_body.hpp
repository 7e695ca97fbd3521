// Internal: the JSON body of a campaign's trigger, written in one pass into a recycled
// buffer (the hot path of every firing).
#pragma once

#include "vm.hpp"

#include <rtcrm/core/event.hpp>

#include <string>
#include <string_view>

namespace rtcrm::detail::lua {

// The trigger of `spec` caused by `ev`. `type`: the event type the trigger names (a delayed campaign's: its arming event's).
// `content`: the campaign's or its variant's; `variant`: the arm's name in campaigns
// with arms ("" without); `holdout`: a control exposure, for the shadow stream.
std::string trigger_body(const campaign_spec& spec, const event& ev, std::string_view type,
                         std::string_view content, std::string_view variant, bool holdout);

}  // namespace rtcrm::detail::lua
