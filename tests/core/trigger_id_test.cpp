// The trigger id formula (trigger_id.hpp), checked against ids written out by hand from
// the documented formula, and reading the id back from a trigger body.
#include <rtcrm/core/trigger_id.hpp>

#include "core/timer_event.hpp"

#include <gtest/gtest.h>

#include <set>

namespace {

rtcrm::event parsed(std::string bytes, rtcrm::origin from = {}) {
    rtcrm::record rec{std::move(bytes), std::nullopt, from};
    auto ev = rtcrm::parse_event(std::move(rec), {});
    if (!ev) {
        throw std::runtime_error(ev.error().reason);
    }
    return std::move(ev).value();
}

rtcrm::origin at(std::uint32_t source, std::int32_t partition, std::int64_t offset) {
    rtcrm::origin o;
    o.source = source;
    o.partition = partition;
    o.offset = offset;
    return o;
}

}  // namespace

TEST(trigger_id, an_event_with_an_id_is_named_by_it) {
    const auto ev = parsed(R"({"id":"e-1","player_id":42,"type":"fight","ts":5})", at(0, 2, 1234));
    EXPECT_EQ(rtcrm::trigger_id("3", ev, false), "3:42:e:e-1");  // the id wins over the origin
}

TEST(trigger_id, an_integer_event_id_is_its_decimal_text) {
    const auto number = parsed(R"({"id":7,"player_id":42,"type":"fight"})");
    const auto text = parsed(R"({"id":"7","player_id":42,"type":"fight"})");
    EXPECT_EQ(rtcrm::trigger_id("3", number, false), "3:42:e:7");
    EXPECT_EQ(rtcrm::trigger_id("3", text, false), "3:42:e:7");
}

TEST(trigger_id, an_event_without_an_id_is_named_by_its_position) {
    const auto ev = parsed(R"({"player_id":42,"type":"fight","ts":5})", at(1, 2, 1234));
    EXPECT_EQ(rtcrm::trigger_id("3", ev, false), "3:42:o:1:2:1234");
    const auto empty_id = parsed(R"({"id":"","player_id":42,"type":"fight","ts":5})", at(0, 0, 0));
    EXPECT_EQ(rtcrm::trigger_id("3", empty_id, false), "3:42:o:0:0:0");  // an empty id is no id
}

TEST(trigger_id, without_id_or_position_it_is_named_by_a_hash_of_its_bytes) {
    const std::string bytes = R"({"player_id":42,"type":"fight","ts":5})";
    // 64-bit FNV-1a of those bytes, computed independently.
    EXPECT_EQ(rtcrm::trigger_id("3", parsed(bytes), false), "3:42:h:0585bb7dc049867a");

    // A sequence number the runtime gave (the source has no positions) is not a position.
    auto sequenced = at(0, 0, 17);
    sequenced.sequenced = true;
    EXPECT_EQ(rtcrm::trigger_id("3", parsed(bytes, sequenced), false), "3:42:h:0585bb7dc049867a");
}

TEST(trigger_id, fnv1a_64_matches_the_reference_vectors) {
    EXPECT_EQ(rtcrm::fnv1a_64(""), 0xcbf29ce484222325ULL);
    EXPECT_EQ(rtcrm::fnv1a_64("a"), 0xaf63dc4c8601ec8cULL);
    EXPECT_EQ(rtcrm::fnv1a_64("foobar"), 0x85944171f73967e8ULL);
}

TEST(trigger_id, a_dry_run_ends_in_dry_run) {
    const auto ev = parsed(R"({"id":"e-1","player_id":42,"type":"fight"})");
    EXPECT_EQ(rtcrm::trigger_id("3", ev, true), "3:42:e:e-1:dry_run");
    EXPECT_NE(rtcrm::trigger_id("3", ev, true), rtcrm::trigger_id("3", ev, false));
}

TEST(trigger_id, every_byte_outside_the_unreserved_set_is_percent_encoded) {
    std::string out;
    rtcrm::append_trigger_id_part(out, "AZaz09-._~");
    EXPECT_EQ(out, "AZaz09-._~");
    out.clear();
    rtcrm::append_trigger_id_part(out, "a:b%c d/\"\\\n\xc3\xa9\xff");
    EXPECT_EQ(out, "a%3Ab%25c%20d%2F%22%5C%0A%C3%A9%FF");

    const auto ev = parsed(R"({"id":"x:1%","player_id":"ann:b","type":"fight"})");
    EXPECT_EQ(rtcrm::trigger_id("win back:2", ev, false), "win%20back%3A2:ann%3Ab:e:x%3A1%25");
}

TEST(trigger_id, separators_in_parts_cannot_make_two_firings_share_an_id) {
    // Each pair would give the same id if the parts were joined with ':' as they are.
    std::set<std::string> ids;
    ids.insert(rtcrm::trigger_id("a:b", parsed(R"({"id":"x","player_id":"c","type":"t"})"), false));
    ids.insert(rtcrm::trigger_id("a", parsed(R"({"id":"x","player_id":"b:c","type":"t"})"), false));
    ids.insert(rtcrm::trigger_id("a", parsed(R"({"id":"e:x","player_id":"b","type":"t"})"), false));
    ids.insert(rtcrm::trigger_id("a", parsed(R"({"id":"o:0:0:1","player_id":"b","type":"t"})"), false));
    ids.insert(rtcrm::trigger_id("a", parsed(R"({"player_id":"b","type":"t"})", at(0, 0, 1)), false));
    ids.insert(rtcrm::trigger_id("a", parsed(R"({"id":"x:dry_run","player_id":"b","type":"t"})"), false));
    ids.insert(rtcrm::trigger_id("a", parsed(R"({"id":"x","player_id":"b","type":"t"})"), true));
    ids.insert(rtcrm::trigger_id("a%3Ab", parsed(R"({"id":"x","player_id":"c","type":"t"})"), false));
    EXPECT_EQ(ids.size(), 8U);
}

TEST(trigger_id, integer_and_decimal_text_keys_are_the_same_player) {
    const auto number = parsed(R"({"id":"x","player_id":42,"type":"t"})");
    const auto text = parsed(R"({"id":"x","player_id":"42","type":"t"})");
    EXPECT_EQ(rtcrm::trigger_id("3", number, false), rtcrm::trigger_id("3", text, false));
}

TEST(trigger_id, is_read_back_from_the_end_of_a_trigger_body) {
    EXPECT_EQ(rtcrm::trigger_id_of(R"({"campaign_id":3,"dry_run":false,"trigger_id":"3:42:e:e-1"})"), "3:42:e:e-1");
    EXPECT_EQ(rtcrm::trigger_id_of(R"({"seq":1})"), "");
    EXPECT_EQ(rtcrm::trigger_id_of(R"({"trigger_id":"3:42:e:e-1","seq":1})"), "");  // not the last member
    EXPECT_EQ(rtcrm::trigger_id_of(R"({"a":{"trigger_id":"3:42:e:e-1"}})"), "");    // not at the top level
    EXPECT_EQ(rtcrm::trigger_id_of(R"({"x":1,"trigger_id":"a\"b"})"), "");          // not an id's bytes
    EXPECT_EQ(rtcrm::trigger_id_of(R"({"x":1,"trigger_id":"})"), "");
    EXPECT_EQ(rtcrm::trigger_id_of(""), "");
}

namespace {

rtcrm::event timer_event(std::string name, std::int64_t due, std::string event_id, std::string ref) {
    const rtcrm::pending_timer t{std::move(name), due, std::move(event_id), "", std::move(ref)};
    return rtcrm::detail::make_timer_event(rtcrm::player_key{42}, t, {});
}

}  // namespace

TEST(trigger_id, a_timer_event_is_named_by_its_due_time_its_name_and_its_arming_reference) {
    const auto fired = timer_event("campaign:31", 1000, "e-1", "e:e-1");
    EXPECT_EQ(rtcrm::trigger_id("31", fired, false), "31:42:t:1000:campaign%3A31:e:e-1");
    // Not the arming event's id, although the timer event carries its event id.
    EXPECT_NE(rtcrm::trigger_id("31", fired, false),
              rtcrm::trigger_id("31", parsed(R"({"id":"e-1","player_id":42,"type":"login"})"), false));
    EXPECT_EQ(rtcrm::trigger_id("31", timer_event("campaign:31", 1000, "", ""), true), "31:42:t:1000:campaign%3A31:-:dry_run");
    // Armed while a timer event was handled: the arming reference is itself a t: reference.
    EXPECT_EQ(rtcrm::trigger_id("31", timer_event("b", 2000, "e-1", "t:1000:a:e:e-1"), false),
              "31:42:t:2000:b:t:1000:a:e:e-1");
    // A reference with bytes no reference holds (a store written by other means) stays in the id's alphabet.
    const auto odd = rtcrm::trigger_id("31", timer_event("a", 1, "", "e:x\"y"), false);
    EXPECT_EQ(odd, "31:42:t:1:a:e:x%22y");
    EXPECT_EQ(rtcrm::trigger_id_of(R"({"x":1,"trigger_id":")" + odd + R"("})"), odd);
}

TEST(trigger_id, timer_firings_of_another_due_time_or_name_get_other_ids) {
    std::set<std::string> ids;
    ids.insert(rtcrm::trigger_id("a", timer_event("t", 1, "x", "e:x"), false));
    ids.insert(rtcrm::trigger_id("a", timer_event("t", 2, "x", "e:x"), false));
    ids.insert(rtcrm::trigger_id("a", timer_event("u", 1, "x", "e:x"), false));
    ids.insert(rtcrm::trigger_id("a", timer_event("t:1", 1, "x", "e:x"), false));
    ids.insert(rtcrm::trigger_id("a", timer_event("t", 1, "x", "e:y"), false));
    ids.insert(rtcrm::trigger_id("a", timer_event("t", 1, "x", ""), false));
    EXPECT_EQ(ids.size(), 6U);
}
