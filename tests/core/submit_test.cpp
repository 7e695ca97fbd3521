// runtime::submit from host threads, and event_builder.
#include <rtcrm/core/event_builder.hpp>
#include <rtcrm/core/runtime.hpp>

#include "support/test_components.hpp"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <future>
#include <limits>
#include <map>
#include <thread>

namespace {

using namespace std::chrono_literals;
using rtcrm::testing::collecting_sink;
using rtcrm::testing::echo_bolt;
using rtcrm::testing::eventually;
using rtcrm::testing::fight_json;
using rtcrm::testing::gate_sink;

rtcrm::topology submit_topology(std::shared_ptr<rtcrm::sink> out, std::size_t capacity, std::uint32_t shards = 2,
                                std::shared_ptr<rtcrm::sink> dead = nullptr) {
    rtcrm::topology t;
    t.add_shard_bolt(echo_bolt::factory()).add_sink(rtcrm::stream::main, std::move(out));
    if (dead) {
        t.add_sink(rtcrm::stream::dead_letter, std::move(dead));
    }
    t.with_options({.shards = shards, .batch_size = 64, .queue_batches = 4, .max_in_flight = 1024, .submit_capacity = capacity});
    return t;
}

std::int64_t int_field(const std::string& json, const char* name) {
    rapidjson::Document d;
    d.Parse(json.c_str());
    return d[name].GetInt64();
}

TEST(event_builder, writes_the_wire_format_with_data_fields_and_the_player_as_key) {
    auto rec = rtcrm::event_builder{}
                   .player(42)
                   .type("fight")
                   .ts(1000)
                   .id("e-1")
                   .meta("game", "foe")
                   .field("result", "loss")
                   .field("damage", 12.5)
                   .field("boss", true)
                   .field("round", 3)
                   .build();
    EXPECT_EQ(rec.bytes,
              R"({"player_id":42,"type":"fight","ts":1000,"id":"e-1","game":"foe","data":{"result":"loss","damage":12.5,"boss":true,"round":3}})");
    ASSERT_TRUE(rec.key);
    EXPECT_EQ(*rec.key, "42");
    auto ev = rtcrm::parse_event(rec.bytes, {});
    ASSERT_TRUE(ev) << ev.error().reason;
    EXPECT_EQ(ev->player(), rtcrm::player_key{42});
    EXPECT_EQ(ev->type(), "fight");
}

TEST(event_builder, escapes_strings_writes_non_finite_numbers_as_null_and_stamps_the_time) {
    const auto before = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    auto rec = rtcrm::event_builder{"uid"}
                   .player("bob \"the\" \\ fighter")
                   .type("chat")
                   .field("text", "line\nbreak")
                   .field("ratio", std::numeric_limits<double>::quiet_NaN())
                   .build();
    rapidjson::Document d;
    d.Parse(rec.bytes.c_str());
    ASSERT_FALSE(d.HasParseError()) << rec.bytes;
    EXPECT_STREQ(d["uid"].GetString(), "bob \"the\" \\ fighter");
    EXPECT_STREQ(d["data"]["text"].GetString(), "line\nbreak");
    EXPECT_TRUE(d["data"]["ratio"].IsNull());
    EXPECT_GE(d["ts"].GetInt64(), before);
    EXPECT_EQ(*rec.key, "bob \"the\" \\ fighter");
}

TEST(event_builder, refuses_an_event_without_player_or_type_and_resets_after_build) {
    EXPECT_THROW((void)rtcrm::event_builder{}.type("x").build(), rtcrm::error);
    EXPECT_THROW((void)rtcrm::event_builder{}.player(1).build(), rtcrm::error);
    rtcrm::event_builder b;
    (void)b.player(1).type("a").ts(7).id("e-1").meta("game", "foe").field("k", 1).build();
    EXPECT_THROW((void)b.build(), rtcrm::error);  // nothing carried over: no player, no type
    EXPECT_EQ(b.player(2).type("b").ts(5).build().bytes, R"({"player_id":2,"type":"b","ts":5})");
}

TEST(runtime_submit, is_off_unless_configured) {
    auto out = std::make_shared<collecting_sink>();
    rtcrm::topology t;
    t.add_source(std::make_unique<rtcrm::testing::vector_source>(std::vector<std::string>{}));
    t.add_sink(rtcrm::stream::main, out);
    rtcrm::runtime rt{std::move(t)};
    EXPECT_THROW((void)rt.submit(fight_json(1, 1)), rtcrm::error);
}

TEST(runtime_submit, needs_no_other_source_and_keeps_per_player_order_across_host_threads) {
    auto out = std::make_shared<collecting_sink>();
    rtcrm::runtime rt{submit_topology(out, 1024)};
    rt.start();
    constexpr int threads = 4;
    constexpr int players_per_thread = 25;
    constexpr int events_per_player = 200;
    std::atomic<int> refused{0};
    std::vector<std::thread> hosts;
    for (int h = 0; h < threads; ++h) {
        hosts.emplace_back([&, h] {
            for (int seq = 0; seq < events_per_player; ++seq) {
                for (int p = 0; p < players_per_thread; ++p) {
                    const std::int64_t player = h * players_per_thread + p + 1;
                    // Builder and JSON text alike; blocking up to 10 s each (never expected).
                    const auto status = (seq % 2 == 0)
                                            ? rt.submit(rtcrm::event_builder{}.player(player).type("fight").ts(seq).field("seq", seq).build(), 10s)
                                            : rt.submit(fight_json(player, seq), 10s);
                    if (status != rtcrm::submit_status::accepted) {
                        refused.fetch_add(1);
                    }
                }
            }
        });
    }
    for (auto& t : hosts) {
        t.join();
    }
    const std::size_t total = threads * players_per_thread * events_per_player;
    ASSERT_EQ(refused.load(), 0);
    ASSERT_TRUE(eventually([&] { return out->bodies().size() == total; })) << out->bodies().size();
    rt.stop();
    std::map<std::int64_t, std::int64_t> last_seq;
    for (const auto& body : out->bodies()) {
        rapidjson::Document d;
        d.Parse(body.c_str());
        const auto player = d["player_id"].GetInt64();
        const auto seq = d.HasMember("seq") ? d["seq"].GetInt64() : d["data"]["seq"].GetInt64();
        auto [it, fresh] = last_seq.emplace(player, seq);
        if (!fresh) {
            ASSERT_EQ(seq, it->second + 1) << "player " << player << " out of order";
            it->second = seq;
        } else {
            ASSERT_EQ(seq, 0);
        }
    }
    EXPECT_EQ(last_seq.size(), static_cast<std::size_t>(threads * players_per_thread));
    EXPECT_EQ(rt.stats().nacked, 0U);
}

TEST(runtime_submit, a_full_pipeline_answers_full_within_the_timeout_and_loses_nothing_accepted) {
    auto gate = std::make_shared<gate_sink>();  // closed: the whole pipeline backs up
    rtcrm::runtime rt{submit_topology(gate, 64, 1)};
    rt.start();
    std::size_t accepted = 0;
    rtcrm::submit_status status = rtcrm::submit_status::accepted;
    for (std::int64_t i = 0; i < 1'000'000 && status == rtcrm::submit_status::accepted; ++i) {
        status = rt.submit(fight_json(i % 10 + 1, i));
        if (status == rtcrm::submit_status::full) {
            // Momentarily full: the source thread may still move records on. Full for
            // 200 ms means the whole pipeline is backed up behind the closed sink.
            status = rt.submit(fight_json(i % 10 + 1, i), 200ms);
        }
        accepted += status == rtcrm::submit_status::accepted ? 1 : 0;
    }
    ASSERT_EQ(status, rtcrm::submit_status::full) << "a blocked sink must fill the bounded queues";
    // Queue capacity, the shard queue and one batch per stage: bounded, nowhere near a million.
    EXPECT_LT(accepted, 10'000U);

    // A timed submit waits (about) its timeout, then gives the record back untouched.
    rtcrm::record rec{fight_json(1, 999'999), std::nullopt, {}};
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(rt.submit(rec, 50ms), rtcrm::submit_status::full);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 50ms);
    EXPECT_EQ(rec.bytes, fight_json(1, 999'999));

    // A batch: nothing fits.
    std::vector<rtcrm::record> batch;
    for (int i = 0; i < 3; ++i) {
        batch.push_back({fight_json(2, 1'000'000 + i), std::nullopt, {}});
    }
    EXPECT_EQ(rt.submit(batch, 10ms), 0U);
    EXPECT_EQ(batch[2].bytes, fight_json(2, 1'000'002));

    gate->open();
    ASSERT_TRUE(eventually([&] { return gate->received() == accepted; }));
    // Room again: the same record goes in now, and a batch goes in whole.
    EXPECT_EQ(rt.submit(rec, 5s), rtcrm::submit_status::accepted);
    EXPECT_EQ(rt.submit(batch, 5s), 3U);
    rt.stop();
    EXPECT_EQ(gate->received(), accepted + 4);
    EXPECT_EQ(rt.submit(fight_json(3, 1)), rtcrm::submit_status::stopped);
    EXPECT_EQ(rt.stats().nacked, 0U);
}

TEST(runtime_submit, stop_drains_every_accepted_event_while_hosts_keep_submitting) {
    auto out = std::make_shared<collecting_sink>();
    rtcrm::runtime rt{submit_topology(out, 256)};
    rt.start();
    std::atomic<std::size_t> accepted{0};
    std::atomic<bool> go{true};
    std::vector<std::thread> hosts;
    for (int h = 0; h < 3; ++h) {
        hosts.emplace_back([&, h] {
            for (std::int64_t i = 0;; ++i) {
                const auto s = rt.submit(fight_json(h * 1000 + i % 50, i), 1ms);
                if (s == rtcrm::submit_status::accepted) {
                    accepted.fetch_add(1);
                } else if (s == rtcrm::submit_status::stopped) {
                    return;
                }
                if (!go.load() && i % 64 == 0) {
                    std::this_thread::yield();
                }
            }
        });
    }
    ASSERT_TRUE(eventually([&] { return accepted.load() > 20'000; }));
    rt.stop();  // hosts are still submitting: each event is either refused or delivered
    go.store(false);
    for (auto& t : hosts) {
        t.join();
    }
    EXPECT_EQ(out->bodies().size(), accepted.load());
    EXPECT_EQ(rt.stats().nacked, 0U);
}

TEST(runtime_submit, events_submitted_before_start_wait_in_the_queue_and_are_counted_once_processed) {
    auto out = std::make_shared<collecting_sink>();
    rtcrm::runtime rt{submit_topology(out, 256)};
    for (std::int64_t i = 0; i < 20; ++i) {
        ASSERT_EQ(rt.submit(fight_json(i % 7 + 1, i)), rtcrm::submit_status::accepted);
    }
    EXPECT_EQ(rt.submit_queue_depth(), 20U);
    rt.start();
    ASSERT_TRUE(eventually([&] { return out->bodies().size() == 20; }));
    EXPECT_EQ(rt.submit_queue_depth(), 0U);
    rt.stop();
    const auto s = rt.stats();
    EXPECT_EQ(s.events_in, 20U);
    EXPECT_EQ(s.processed, 20U);
    EXPECT_EQ(s.nacked, 0U);
}

TEST(runtime_submit, malformed_json_is_accepted_and_dead_lettered_with_its_reason) {
    auto out = std::make_shared<collecting_sink>();
    auto dead = std::make_shared<collecting_sink>();
    rtcrm::runtime rt{submit_topology(out, 16, 1, dead)};
    rt.start();
    EXPECT_EQ(rt.submit(std::string{R"({"player_id":1,"type":)"}), rtcrm::submit_status::accepted);
    EXPECT_EQ(rt.submit(fight_json(1, 0)), rtcrm::submit_status::accepted);
    ASSERT_TRUE(eventually([&] { return out->bodies().size() == 1 && dead->bodies().size() == 1; }));
    rt.stop();
    EXPECT_NE(dead->bodies()[0].find(R"("reason":"parse_error")"), std::string::npos) << dead->bodies()[0];
    EXPECT_NE(dead->bodies()[0].find(R"("source":"submit")"), std::string::npos) << dead->bodies()[0];
    EXPECT_EQ(int_field(out->bodies()[0], "player_id"), 1);
}

TEST(runtime_submit, stop_async_returns_at_once_and_reports_when_stopped) {
    auto out = std::make_shared<collecting_sink>();
    rtcrm::runtime rt{submit_topology(out, 16, 1)};
    rt.start();
    ASSERT_EQ(rt.submit(fight_json(7, 0), 1s), rtcrm::submit_status::accepted);
    std::promise<std::thread::id> stopped;
    rt.stop_async([&] { stopped.set_value(std::this_thread::get_id()); });
    auto f = stopped.get_future();
    ASSERT_EQ(f.wait_for(30s), std::future_status::ready);
    EXPECT_NE(f.get(), std::this_thread::get_id());
    EXPECT_EQ(out->bodies().size(), 1U);
    EXPECT_EQ(rt.submit(fight_json(7, 1)), rtcrm::submit_status::stopped);
}

}  // namespace
