// The profile codec's decoder. The input is the bytes a profile store hands back: whatever
// decode_profile accepts must encode to exactly `encoded_size()` bytes and decode again to
// the same encoding; then the profile must take what the runtime does with a loaded
// profile (an event's counters, recent events, triggers, replay positions, a history
// sweep, the JSON view), at the event times the profile itself holds and the extreme ones
// an event may carry, and still encode and decode.
#include "fuzz_check.hpp"

#include <rtcrm/core/profile.hpp>
#include <rtcrm/core/profile_codec.hpp>

#include <array>
#include <limits>
#include <string>
#include <vector>

namespace {

using rtcrm::fuzz::check;

std::string encoded(const rtcrm::profile& p) {
    std::string out;
    rtcrm::encode_profile(p, out);
    check(out.size() == p.encoded_size(), "encoded_size() differs from the encoding's size");
    return out;
}

// Encodes `p` and checks that the encoding decodes to a profile of the same encoding.
void round_trip(const rtcrm::profile& p) {
    const auto bytes = encoded(p);
    auto again = rtcrm::decode_profile(bytes);
    check(static_cast<bool>(again), "a profile's encoding does not decode");
    check(encoded(again.value()) == bytes, "a decoded encoding encodes differently");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto decoded = rtcrm::decode_profile(rtcrm::fuzz::text_of(data, size));
    if (!decoded) {
        check(decoded.error().code == rtcrm::errc::store_error, "decode_profile failed with another code than store_error");
        check(!decoded.error().reason.empty(), "decode_profile failed without a reason");
        return 0;
    }
    auto& p = decoded.value();
    round_trip(p);
    (void)p.to_json();

    constexpr auto min = std::numeric_limits<std::int64_t>::min();
    constexpr auto max = std::numeric_limits<std::int64_t>::max();
    std::vector<std::int64_t> times{p.last_event_ts(), 0, -1, 86'400'000, min, max};
    std::vector<std::string> counters;
    for (const auto& [name, c] : p.counters()) {
        counters.push_back(name);
        for (const auto& bucket : c.buckets) {
            times.push_back(bucket.first);
        }
    }
    counters.emplace_back("fights");
    const rtcrm::profile_limits limits;
    for (const auto ts : times) {
        for (const auto& name : counters) {
            for (const std::int64_t window : {std::int64_t{0}, std::int64_t{1}, std::int64_t{86'400'000}, max}) {
                (void)p.count(name, window, ts);
            }
            p.incr_windowed(name, 1, ts, 3'600'000, limits);
        }
        p.record_event("fight", ts, "e-1", limits);
        p.record_trigger("3", ts, limits);
        (void)p.triggers_since("3", ts);
        (void)p.applied("ndjson", 0, ts);
        p.mark_applied("ndjson", 0, ts);
        p.touch(ts);
        (void)p.incr("fights_total");
    }
    round_trip(p);
    for (const auto ts : times) {
        (void)p.expire_history(ts);
    }
    round_trip(p);
    (void)p.to_json();
    return 0;
}
