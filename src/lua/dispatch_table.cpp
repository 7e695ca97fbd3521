#include "dispatch_table.hpp"

#include <algorithm>

namespace rtcrm::detail::lua {

void dispatch_table::build(const std::vector<updater_spec>& updaters, const std::vector<campaign_spec>& campaigns) {
    dispatch_.clear();
    any_ = {};
    // "*" handlers join every type's list but the timer types', keeping registration
    // order. A campaign's `on` and `unless` types are added one after the other, so
    // its hit for a type is the list's last when both name the type.
    auto add_hit = [](dispatch_entry& entry, std::size_t campaign, bool unless) {
        if (entry.campaigns.empty() || entry.campaigns.back().campaign != campaign) {
            entry.campaigns.push_back(campaign_hit{campaign});
        }
        (unless ? entry.campaigns.back().unless : entry.campaigns.back().on) = true;
    };
    auto entry_of = [&](const std::string& type) -> dispatch_entry& {
        auto [it, inserted] = dispatch_.try_emplace(type);
        if (inserted && !is_timer_type(type)) {
            it->second = any_;  // the "*" handlers registered so far
        }
        return it->second;
    };
    for (std::size_t i = 0; i < updaters.size(); ++i) {
        for (const auto& type : updaters[i].on) {
            if (type == "*") {
                for (auto* entry : all_entries()) {
                    entry->updaters.push_back(i);
                }
            } else {
                entry_of(type).updaters.push_back(i);
            }
        }
    }
    for (std::size_t i = 0; i < campaigns.size(); ++i) {
        for (const bool unless : {false, true}) {
            for (const auto& type : unless ? campaigns[i].unless : campaigns[i].on) {
                if (type == "*") {
                    for (auto* entry : all_entries()) {
                        add_hit(*entry, i, unless);
                    }
                } else {
                    add_hit(entry_of(type), i, unless);
                }
            }
        }
    }
    // Goals after every campaign, so a goal type's new entry copies the complete "*" lists.
    for (std::size_t i = 0; i < campaigns.size(); ++i) {
        if (campaigns[i].goal) {
            entry_of(campaigns[i].goal->on).goals.push_back(i);
        }
    }
    // The evaluation order: descending priority, ties in registration order.
    std::vector<std::size_t> order(campaigns.size());
    for (std::size_t i = 0; i < order.size(); ++i) {
        order[i] = i;
    }
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return campaigns[a].priority > campaigns[b].priority; });
    rank_.assign(campaigns.size(), 0);
    for (std::size_t r = 0; r < order.size(); ++r) {
        rank_[order[r]] = r;
    }
    auto by_rank = [&](const campaign_hit& a, const campaign_hit& b) { return rank_[a.campaign] < rank_[b.campaign]; };
    std::sort(any_.campaigns.begin(), any_.campaigns.end(), by_rank);
    for (auto& [type, entry] : dispatch_) {
        std::sort(entry.campaigns.begin(), entry.campaigns.end(), by_rank);
    }
}

const dispatch_entry* dispatch_table::handlers_for(std::string_view type) const {
    const auto it = dispatch_.find(type);
    if (it != dispatch_.end()) {
        return &it->second;
    }
    if (is_timer_type(type)) {
        return nullptr;
    }
    return any_.updaters.empty() && any_.campaigns.empty() ? nullptr : &any_;
}

std::vector<dispatch_entry*> dispatch_table::all_entries() {
    std::vector<dispatch_entry*> out{&any_};
    for (auto& [type, entry] : dispatch_) {
        if (!is_timer_type(type)) {
            out.push_back(&entry);
        }
    }
    return out;
}

}  // namespace rtcrm::detail::lua
