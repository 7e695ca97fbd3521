#include <rtcrm/core/profile_store.hpp>

namespace rtcrm {

expiry_verdict apply_expiry(profile& p, const expiry_policy& policy, std::int64_t now_ms) {
    if (policy.profile_ttl.count() > 0 && p.last_event_ts() < now_ms - policy.profile_ttl.count()) {
        return expiry_verdict::expired;
    }
    if (policy.history_ttl.count() > 0 && p.expire_history(now_ms - policy.history_ttl.count())) {
        return expiry_verdict::trimmed;
    }
    return expiry_verdict::keep;
}

}  // namespace rtcrm
