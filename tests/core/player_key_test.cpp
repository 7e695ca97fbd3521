#include <rtcrm/core/player_key.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace {

// Kafka's UtilsTest.testMurmur2 vectors: shards must agree with Kafka's partitions.
TEST(murmur2, matches_the_kafka_java_client_bit_for_bit) {
    EXPECT_EQ(static_cast<std::int32_t>(rtcrm::murmur2("21")), -973932308);
    EXPECT_EQ(static_cast<std::int32_t>(rtcrm::murmur2("foobar")), -790332482);
    EXPECT_EQ(static_cast<std::int32_t>(rtcrm::murmur2("a-little-bit-long-string")), -985981536);
    EXPECT_EQ(static_cast<std::int32_t>(rtcrm::murmur2("a-little-bit-longer-string")), -1486304829);
    EXPECT_EQ(static_cast<std::int32_t>(rtcrm::murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8")), -58897971);
    EXPECT_EQ(static_cast<std::int32_t>(rtcrm::murmur2("abc")), 479470107);
}

TEST(player_key, shard_is_kafkas_default_partition) {
    // toPositive(murmur2("foobar")) % 50 == 16, as Kafka's DefaultPartitioner computes it.
    EXPECT_EQ(rtcrm::player_key{std::string{"foobar"}}.shard(50), 16U);
}

TEST(player_key, an_integer_key_equals_its_decimal_string_key) {
    const rtcrm::player_key a{42};
    const rtcrm::player_key b{std::string{"42"}};
    EXPECT_EQ(a, b);
    EXPECT_EQ(a.hash(), b.hash());
    EXPECT_EQ(b.integer(), 42);
    EXPECT_EQ(a.text(), "42");
}

TEST(player_key, non_canonical_numbers_stay_strings) {
    EXPECT_FALSE(rtcrm::player_key{std::string{"042"}}.integer());
    EXPECT_FALSE(rtcrm::player_key{std::string{"42a"}}.integer());
    EXPECT_NE(rtcrm::player_key{std::string{"042"}}, rtcrm::player_key{42});
    EXPECT_EQ(rtcrm::player_key{std::int64_t{-7}}.text(), "-7");
}

TEST(player_key, default_key_is_empty) {
    EXPECT_TRUE(rtcrm::player_key{}.empty());
    EXPECT_FALSE(rtcrm::player_key{1}.empty());
}

TEST(player_key, shards_spread_players_evenly) {
    constexpr std::uint32_t shards = 8;
    std::uint32_t counts[shards] = {};
    for (std::int64_t id = 1; id <= 80'000; ++id) {
        ++counts[rtcrm::player_key{id}.shard(shards)];
    }
    for (auto c : counts) {
        EXPECT_GT(c, 9'000U);
        EXPECT_LT(c, 11'000U);
    }
}

}  // namespace
