#include <rtcrm/core/profile_store.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace rtcrm {

result<expiry_result> profile_store::expire(const expiry_policy& policy, std::int64_t now_ms) {
    (void)policy;
    (void)now_ms;
    return {errc::store_error,
            fmt::format("profile store {}: expire is not supported (use the backend's own TTLs)", name())};
}

bool due_before(const due_entry& a, const due_entry& b) noexcept {
    return a.due != b.due ? a.due < b.due : a.key.text() < b.key.text();
}

result<due_page> profile_store::due_timers(std::int64_t until_ms, const std::optional<due_entry>& after,
                                           std::size_t limit, const player_filter& accept) {
    due_page page;
    auto scanned = scan([&](const profile& p) {
        const auto due = p.next_timer_due();
        if (!due || (accept && !accept(p.key()))) {
            return true;
        }
        if (*due > until_ms) {
            if (!page.next_due || *due < *page.next_due) {
                page.next_due = *due;
            }
            return true;
        }
        due_entry entry{*due, p.key()};
        if (!after || due_before(*after, entry)) {
            page.entries.push_back(std::move(entry));
        }
        return true;
    });
    if (!scanned) {
        return scanned.error();
    }
    std::sort(page.entries.begin(), page.entries.end(), due_before);
    if (page.entries.size() > limit) {
        page.entries.resize(limit);
        page.more = true;
        page.next_due.reset();
    }
    return page;
}

expiry_verdict apply_expiry(profile& p, const expiry_policy& policy, std::int64_t now_ms) {
    // A profile with a pending timer is not inactive: it has something to do.
    if (policy.profile_ttl.count() > 0 && p.last_event_ts() < now_ms - policy.profile_ttl.count() &&
        p.timers().empty()) {
        return expiry_verdict::expired;
    }
    if (policy.history_ttl.count() > 0 && p.expire_history(now_ms - policy.history_ttl.count())) {
        return expiry_verdict::trimmed;
    }
    return expiry_verdict::keep;
}

}  // namespace rtcrm
