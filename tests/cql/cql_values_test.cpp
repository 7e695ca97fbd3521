// CQL values, Murmur3 tokens, routing keys and time UUIDs against the DataStax Python
// driver and Python's uuid module.
#include "cql/cql_frames_driver.hpp"
#include "cql/cql_samples.hpp"
#include "cql/cql_protocol.hpp"
#include "cql/cql_values.hpp"
#include "support/cql_server_codec.hpp"

#include <gtest/gtest.h>

#include <random>
#include <set>

#include <string>
#include <vector>

namespace {

using namespace rtcrm::test;

// --- Values, tokens, routing keys -------------------------------------------------------

TEST(CqlValues, SerialiseBigEndianAndRefuseWrongSizes) {
    EXPECT_EQ(hex(cql::int_value(-2)), "fffffffe");
    EXPECT_EQ(hex(cql::bigint_value(0x0102030405060708)), "0102030405060708");
    EXPECT_EQ(hex(cql::timestamp_value(1)), "0000000000000001");
    EXPECT_EQ(hex(cql::boolean_value(true)), "01");
    EXPECT_EQ(cql::as_int(cql::int_value(-123456)), -123456);
    EXPECT_EQ(cql::as_bigint(cql::bigint_value(INT64_MIN)), INT64_MIN);
    EXPECT_EQ(cql::as_boolean(cql::boolean_value(false)), false);
    EXPECT_EQ(cql::as_int(cql::bigint_value(1)), std::nullopt);
    EXPECT_EQ(cql::as_bigint(std::nullopt), std::nullopt);
    EXPECT_EQ(cql::as_uuid(s("short")), std::nullopt);
    const cql::uuid_bytes u{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    EXPECT_EQ(cql::as_uuid(cql::uuid_value(u)), u);
}

TEST(CqlValues, Murmur3TokensEqualTheDriversOnEmptyShortLongAndHighBitKeys) {
    std::mt19937 rng(7);
    std::vector<std::string> keys = {"", "a", "abc", "player-1", std::string(1, '\x80'), std::string(1, '\xff'),
                                     cql::bigint_value(42), cql::int_value(-1)};
    for (std::size_t len = 1; len <= 40; ++len) {
        for (int k = 0; k < 8; ++k) {
            std::string key;
            for (std::size_t i = 0; i < len; ++i) {
                // Half the keys only high bytes: the signed-tail quirk matters exactly there.
                key.push_back(static_cast<char>(k % 2 == 0 ? rng() : (rng() | 0x80U)));
            }
            keys.push_back(key);
        }
    }
    std::string list;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        list += (i == 0 ? "\"" : ",\"") + hex(keys[i]) + "\"";
    }
    const std::string theirs = run_driver({"{\"op\":\"murmur3\",\"keys\":[" + list + "]}"})[0];
    std::string ours = "[";
    for (std::size_t i = 0; i < keys.size(); ++i) {
        ours += (i == 0 ? "" : ", ") + std::to_string(cql::murmur3_token(keys[i]));
    }
    ours += "]";
    EXPECT_EQ(ours, theirs);
    // A fixed point too, so a broken driver script cannot make this pass vacuously.
    EXPECT_EQ(cql::murmur3_token("abc"), -5434086359492102041);
}

TEST(CqlValues, RoutingKeysEqualTheDriversForSingleAndCompositeKeys) {
    const std::vector<std::vector<std::string>> keys = {
        {"player-1"},
        {cql::int_value(3), "player-1"},
        {"", cql::bigint_value(-7), std::string(300, 'x')},
        {std::string("\x00\xff", 2), "b"},
    };
    std::vector<std::string> cases;
    std::vector<std::string> ours;
    for (const auto& parts : keys) {
        std::string j = "{\"op\":\"routing_key\",\"parts\":[";
        std::vector<std::string_view> views;
        for (std::size_t i = 0; i < parts.size(); ++i) {
            j += (i == 0 ? "\"" : ",\"") + hex(parts[i]) + "\"";
            views.emplace_back(parts[i]);
        }
        cases.push_back(j + "]}");
        ours.push_back(hex(cql::routing_key(views)));
    }
    const auto theirs = run_driver(cases);
    for (std::size_t i = 0; i < keys.size(); ++i) {
        EXPECT_EQ(ours[i], theirs[i]) << cases[i];
    }
    EXPECT_EQ(ours[1], "0004" "00000003" "00" "0008" + hex("player-1") + "00");
}

// --- Time UUIDs ------------------------------------------------------------------------

TEST(CqlTimeuuid, IsVersion1WithTheGivenTimeAsPythonsUuidReadsIt) {
    cql::timeuuid_generator gen;
    const std::int64_t ms = 1700000000123;
    const auto u = gen.next(ms);
    const std::string theirs = run_driver({"{\"op\":\"uuid\",\"hex\":\"" + hex(cql::uuid_value(u)) + "\"}"})[0];
    const std::int64_t ticks = ms * 10000 + 0x01B21DD213814000LL;
    EXPECT_NE(theirs.find("\"version\": 1,"), std::string::npos) << theirs;
    EXPECT_NE(theirs.find("\"variant\": \"specified in RFC 4122\""), std::string::npos) << theirs;
    EXPECT_NE(theirs.find("\"time\": " + std::to_string(ticks) + ","), std::string::npos) << theirs;
    EXPECT_EQ(cql::timeuuid_generator::unix_ms_of(u), ms);
    EXPECT_EQ(u[10] & 0x01, 0x01) << "a random node id has the multicast bit set";
}

TEST(CqlTimeuuid, IsUniqueForEqualTimestampsAndStaysInTheMillisecondWhileItCan) {
    cql::timeuuid_generator gen;
    std::set<cql::uuid_bytes> seen;
    const std::int64_t ms = 1600000000000;
    // 10000 ticks fit in a millisecond; past them the clock sequence changes instead.
    for (int i = 0; i < 12000; ++i) {
        const auto u = gen.next(ms);
        EXPECT_TRUE(seen.insert(u).second) << "duplicate at " << i;
        if (i < 10000) {
            EXPECT_EQ(cql::timeuuid_generator::unix_ms_of(u), ms) << i;
        }
    }
    // An earlier time after a later one (clock going back) is still unique.
    EXPECT_TRUE(seen.insert(gen.next(ms - 5)).second);
    EXPECT_TRUE(seen.insert(gen.next(ms - 5)).second);
    EXPECT_EQ(cql::timeuuid_generator::unix_ms_of(gen.next(ms + 1000)), ms + 1000);
}

TEST(CqlTimeuuid, GeneratorsPickDifferentNodesOrClockSequences) {
    cql::timeuuid_generator a;
    cql::timeuuid_generator b;
    // Same time in both: the random node id and clock sequence tell them apart.
    EXPECT_NE(a.next(1), b.next(1));
}

}  // namespace
