// The webhook sink against a real HTTP server (rtcrm's own, as a stand-in receiver), with
// a runtime in front: acks only after 2xx, retries, order, and the dead-letter hand-off.
#include <rtcrm/core/runtime.hpp>
#include <rtcrm/http/webhook_sink.hpp>

#include "http/server.hpp"
#include "support/test_components.hpp"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <mutex>

using namespace std::chrono_literals;
namespace http = rtcrm::detail::http;
using rtcrm::testing::fight_json;

namespace {

// Answers 500 to the first `failures` requests, then 200; keeps what it accepted.
class receiver {
public:
    explicit receiver(int failures) : failures_(failures) {
        server_ = std::make_unique<http::server>(http::server_options{}, [this](http::request&& req, http::respond_fn respond) {
            std::lock_guard lock(mutex_);
            ++requests_;
            if (failures_ > 0) {
                --failures_;
                return respond({500, R"({"error":"try again"})"});
            }
            std::size_t start = 0;
            while (start < req.body.size()) {
                const auto end = req.body.find('\n', start);
                lines_.push_back(req.body.substr(start, end - start));
                start = end == std::string::npos ? req.body.size() : end + 1;
            }
            respond({200, "{}"});
        });
    }
    [[nodiscard]] std::string url() const { return fmt::format("http://127.0.0.1:{}/triggers", server_->port()); }
    std::vector<std::string> lines() {
        std::lock_guard lock(mutex_);
        return lines_;
    }
    int requests() {
        std::lock_guard lock(mutex_);
        return requests_;
    }

private:
    std::mutex mutex_;
    int failures_;
    int requests_ = 0;
    std::vector<std::string> lines_;
    std::unique_ptr<http::server> server_;
};

rtcrm::runtime_stats run_through(const std::shared_ptr<rtcrm::webhook_sink>& hook, int events,
                                 std::shared_ptr<rtcrm::sink> dead = nullptr) {
    std::vector<std::string> lines;
    for (int i = 0; i < events; ++i) {
        lines.push_back(fight_json(i % 7 + 1, i));
    }
    auto src = std::make_unique<rtcrm::testing::vector_source>(lines);
    rtcrm::topology t;
    t.add_source(std::move(src)).add_shard_bolt(rtcrm::testing::echo_bolt::factory()).add_sink(rtcrm::stream::main, hook)
        .with_options({.shards = 2});
    if (dead) {
        t.add_sink(rtcrm::stream::dead_letter, dead);
    }
    rtcrm::runtime rt{std::move(t)};
    rt.run();
    return rt.stats();
}

}  // namespace

TEST(webhook_sink, delivers_every_output_in_order_per_player_after_retries) {
    receiver r{3};  // the first three requests fail
    auto hook = std::make_shared<rtcrm::webhook_sink>(
        rtcrm::webhook_options{.url = r.url(), .max_batch = 50, .backoff_initial = 1ms, .backoff_max = 10ms});
    const auto stats = run_through(hook, 1000);
    EXPECT_EQ(stats.nacked, 0U);  // every event acked: its output got a 2xx
    const auto lines = r.lines();
    ASSERT_EQ(lines.size(), 1000U);
    std::map<std::int64_t, int> last;  // per player, seqs increase
    for (const auto& line : lines) {
        rapidjson::Document d;
        d.Parse(line.c_str());
        ASSERT_TRUE(d.IsObject()) << line;
        const auto player = d["player_id"].GetInt64();
        const auto seq = d["seq"].GetInt();
        if (last.contains(player)) {
            EXPECT_GT(seq, last[player]) << "player " << player;
        }
        last[player] = seq;
    }
    EXPECT_EQ(hook->stats().delivered, 1000U);
    EXPECT_EQ(hook->stats().retries, 3U);
}

TEST(webhook_sink, after_the_retry_budget_outputs_go_to_the_dead_letter_sink) {
    receiver r{1'000'000};  // always failing
    auto dead = std::make_shared<rtcrm::testing::collecting_sink>();
    auto hook = std::make_shared<rtcrm::webhook_sink>(rtcrm::webhook_options{
        .url = r.url(), .max_batch = 10, .max_attempts = 2, .backoff_initial = 1ms, .backoff_max = 2ms, .dead_letter = dead});
    const auto stats = run_through(hook, 30);
    EXPECT_EQ(stats.nacked, 0U);  // handed over, and the dead-letter sink acked them
    const auto bodies = dead->bodies();
    ASSERT_EQ(bodies.size(), 30U);
    rapidjson::Document d;
    d.Parse(bodies[0].c_str());
    EXPECT_EQ(std::string{d["reason"].GetString()}, "delivery_failed");
    EXPECT_NE(std::string{d["detail"].GetString()}.find("answered 500"), std::string::npos) << bodies[0];
    EXPECT_NE(std::string{d["raw"].GetString()}.find("\"type\":\"fight\""), std::string::npos);
    EXPECT_EQ(hook->stats().given_up, 30U);
}

TEST(webhook_sink, without_a_dead_letter_sink_given_up_outputs_are_nacked) {
    auto hook = std::make_shared<rtcrm::webhook_sink>(rtcrm::webhook_options{
        .url = "http://127.0.0.1:1/nobody-listens", .max_attempts = 2, .backoff_initial = 1ms, .backoff_max = 2ms});
    const auto stats = run_through(hook, 5);
    EXPECT_EQ(stats.nacked, 5U);  // their positions are not committed
}

TEST(webhook_options, https_and_nonsense_are_refused) {
    EXPECT_THROW(rtcrm::webhook_sink({.url = "https://example.com/x"}), rtcrm::error);
    EXPECT_THROW(rtcrm::webhook_sink({.url = "example.com"}), rtcrm::error);
}
