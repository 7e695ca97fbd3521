// Arm assignment (src/lua/arm_assignment.hpp) against an independent implementation of
// the documented rule, written here from Kafka's Java Utils.murmur2.
#include "lua/arm_assignment.hpp"

#include <rtcrm/core/player_key.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace {

using rtcrm::detail::lua::campaign_spec;
using rtcrm::detail::lua::campaign_variant;

// Kafka's Utils.murmur2, transcribed from the Java: int arithmetic (wrapping), `>>>`
// as an unsigned shift, the tail's bytes masked with 0xff.
std::int32_t java_murmur2(const std::string& data) {
    const auto length = static_cast<std::int32_t>(data.size());
    const std::uint32_t m = 0x5bd1e995U;
    const int r = 24;
    std::uint32_t h = 0x9747b28cU ^ static_cast<std::uint32_t>(length);
    const std::int32_t length4 = length / 4;
    auto byte = [&](std::int32_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(data[i])); };
    for (std::int32_t i = 0; i < length4; ++i) {
        const std::int32_t i4 = i * 4;
        std::uint32_t k = byte(i4) + (byte(i4 + 1) << 8U) + (byte(i4 + 2) << 16U) + (byte(i4 + 3) << 24U);
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
    }
    switch (length % 4) {
    case 3: h ^= byte((length & ~3) + 2) << 16U; [[fallthrough]];
    case 2: h ^= byte((length & ~3) + 1) << 8U; [[fallthrough]];
    case 1:
        h ^= byte(length & ~3);
        h *= m;
    }
    h ^= h >> 13U;
    h *= m;
    h ^= h >> 15U;
    return static_cast<std::int32_t>(h);
}

// The documented rule, written out as an analyst would in SQL.
std::string expected_arm(const std::string& campaign, const std::string& key, double holdout,
                         const std::vector<std::pair<std::string, std::int64_t>>& variants) {
    const std::int64_t bucket = (java_murmur2(campaign + ":" + key) & 0x7fffffff) % 10000;
    const auto h = static_cast<std::int64_t>(holdout * 10000 + 0.5);
    if (bucket < h) {
        return "control";
    }
    if (variants.empty()) {
        return "treatment";
    }
    std::int64_t w = 0;
    for (const auto& v : variants) {
        w += v.second;
    }
    std::int64_t upto = 0;
    for (const auto& v : variants) {
        upto += v.second;
        if ((bucket - h) * w < upto * (10000 - h)) {
            return v.first;
        }
    }
    return "none";
}

campaign_spec spec_of(const std::string& id, double holdout, const std::vector<std::pair<std::string, std::int64_t>>& variants) {
    campaign_spec s;
    s.id = id;
    s.holdout_buckets = static_cast<std::int64_t>(holdout * 10000 + 0.5);
    for (const auto& [name, weight] : variants) {
        s.variants.push_back(campaign_variant{name, weight, ""});
    }
    return s;
}

TEST(arm_assignment, the_test_murmur2_is_kafkas) {
    // Known values of Kafka's murmur2 (its own tests, and the router's).
    EXPECT_EQ(java_murmur2("21"), -973932308);
    EXPECT_EQ(java_murmur2("foobar"), -790332482);
    EXPECT_EQ(java_murmur2("abc"), 479470107);
    EXPECT_EQ(java_murmur2("a-little-bit-longer-string"), -1486304829);
}

TEST(arm_assignment, buckets_match_values_computed_elsewhere) {
    // Computed once with an independent Python transcription of Utils.murmur2.
    using rtcrm::detail::lua::arm_bucket;
    EXPECT_EQ(arm_bucket("33", "42"), 4923);
    EXPECT_EQ(arm_bucket("33", "alice"), 92);
    EXPECT_EQ(arm_bucket("welcome", "1001"), 4919);
    EXPECT_EQ(arm_bucket("7", "J\xc3\xbcrgen"), 7863);
    EXPECT_EQ(arm_bucket("33", "-5"), 5043);
}

TEST(arm_assignment, arms_match_an_independent_implementation) {
    using rtcrm::detail::lua::arm_name;
    using rtcrm::detail::lua::assign_arm;
    const std::vector<std::string> campaigns{"3", "33", "welcome", "caf\xc3\xa9", "-7"};
    std::vector<rtcrm::player_key> keys;
    for (std::int64_t id : {0LL, 1LL, 42LL, -5LL, 1001LL, 9'000'000'000LL, -9'223'372'036'854'775'807LL - 1}) {
        keys.emplace_back(id);
    }
    for (std::int64_t id = 100; id < 400; ++id) {
        keys.emplace_back(id * 7919);
    }
    for (const char* text : {"alice", "bob", "J\xc3\xbcrgen", "\xe6\x9d\xb1\xe4\xba\xac", "", "player:1", "\xf0\x9f\x8e\xae"}) {
        keys.emplace_back(std::string{text});
    }
    const std::vector<double> holdouts{0.0, 0.0001, 0.2, 0.5, 0.9999};
    const std::vector<std::vector<std::pair<std::string, std::int64_t>>> splits{
        {}, {{"a", 1}}, {{"a", 1}, {"b", 1}}, {{"a", 3}, {"b", 1}, {"c", 6}}, {{"x", 1'000'000}, {"y", 1}}};
    std::size_t controls = 0;
    std::size_t checked = 0;
    for (const auto& c : campaigns) {
        for (const double holdout : holdouts) {
            for (const auto& split : splits) {
                const auto spec = spec_of(c, holdout, split);
                for (const auto& key : keys) {
                    const std::string want = expected_arm(c, std::string{key.text()}, holdout, split);
                    const auto got = arm_name(spec, assign_arm(spec, key));
                    ASSERT_EQ(got, want) << "campaign " << c << ", key " << key.text() << ", holdout " << holdout
                                         << ", " << split.size() << " variants";
                    controls += want == "control" ? 1 : 0;
                    ++checked;
                }
            }
        }
    }
    // The table exercises both sides of the holdout.
    EXPECT_GT(controls, checked / 10);
    EXPECT_LT(controls, checked / 2);
}

TEST(arm_assignment, weights_split_the_buckets_in_proportion) {
    using rtcrm::detail::lua::arm_of_bucket;
    const auto spec = spec_of("c", 0.2, {{"a", 1}, {"b", 3}});
    std::vector<int> counts(3);
    for (std::int64_t b = 0; b < 10000; ++b) {
        ++counts[arm_of_bucket(spec, b)];
    }
    EXPECT_EQ(counts[0], 2000);
    EXPECT_EQ(counts[1], 2000);
    EXPECT_EQ(counts[2], 6000);
}

}  // namespace
