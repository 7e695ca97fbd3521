#include <rtcrm/core/profile_store.hpp>

#include <fmt/format.h>

namespace rtcrm {

result<expiry_result> profile_store::expire(const expiry_policy& policy, std::int64_t now_ms) {
    (void)policy;
    (void)now_ms;
    return {errc::store_error,
            fmt::format("profile store {}: expire is not supported (use the backend's own TTLs)", name())};
}

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
