// The webhook sink against a real HTTP server (rtcrm's own, as a stand-in receiver), with
// a runtime in front: acks only after 2xx, retries, order, and the dead-letter hand-off.
#include <rtcrm/core/runtime.hpp>
#include <rtcrm/http/webhook_sink.hpp>

#include "http/server.hpp"
#include "support/test_components.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <atomic>
#include <mutex>
#include <thread>

using namespace std::chrono_literals;
namespace http = rtcrm::detail::http;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
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

// Keeps each request's Idempotency-Key header and body (the library's own server does
// not pass headers on). One connection at a time, each answered 200.
class header_receiver {
public:
    header_receiver() : acceptor_(io_, tcp::endpoint{asio::ip::make_address("127.0.0.1"), 0}) {
        thread_ = std::jthread([this] { serve(); });
    }
    ~header_receiver() {
        stopping_ = true;
        try {  // wakes the blocking accept
            tcp::socket poke(io_);
            poke.connect(acceptor_.local_endpoint());
        } catch (const std::exception&) {
        }
        thread_.join();
    }
    [[nodiscard]] std::string url() const {
        return fmt::format("http://127.0.0.1:{}/triggers", acceptor_.local_endpoint().port());
    }
    // (Idempotency-Key or "-", body) per request.
    std::vector<std::pair<std::string, std::string>> received() {
        std::lock_guard lock(mutex_);
        return received_;
    }

private:
    void serve() {
        while (!stopping_) {
            tcp::socket socket(io_);
            beast::error_code ec;
            acceptor_.accept(socket, ec);
            beast::flat_buffer buffer;
            while (!ec && !stopping_) {
                bhttp::request<bhttp::string_body> req;
                bhttp::read(socket, buffer, req, ec);
                if (ec) {
                    break;
                }
                {
                    std::lock_guard lock(mutex_);
                    const auto key = req.find("Idempotency-Key");
                    received_.emplace_back(key == req.end() ? std::string{"-"} : std::string{key->value()}, req.body());
                }
                bhttp::response<bhttp::string_body> res{bhttp::status::ok, 11};
                res.body() = "{}";
                res.keep_alive(true);
                res.prepare_payload();
                bhttp::write(socket, res, ec);
            }
        }
    }

    asio::io_context io_;
    tcp::acceptor acceptor_;
    std::atomic<bool> stopping_{false};
    std::mutex mutex_;
    std::vector<std::pair<std::string, std::string>> received_;
    std::jthread thread_;
};

rtcrm::output output_with(std::string body) {
    rtcrm::output out;
    out.player = rtcrm::player_key{42};
    out.body = std::move(body);
    return out;
}

}  // namespace

TEST(webhook_sink, a_single_trigger_request_carries_its_trigger_id_as_idempotency_key) {
    header_receiver r;
    const std::string trigger = R"({"campaign_id":3,"player_id":42,"dry_run":false,"trigger_id":"3:42:e:e-1"})";
    const std::string other = R"({"player_id":42,"type":"fight"})";
    {
        rtcrm::webhook_sink hook{rtcrm::webhook_options{.url = r.url(), .batch = false}};
        std::vector<rtcrm::output> batch;
        batch.push_back(output_with(trigger));
        batch.push_back(output_with(other));
        hook.consume(batch);
        hook.close();  // delivers what is queued
        EXPECT_EQ(hook.stats().delivered, 2U);
    }
    const std::vector<std::pair<std::string, std::string>> expected{{"3:42:e:e-1", trigger}, {"-", other}};
    EXPECT_EQ(r.received(), expected);
}

TEST(webhook_sink, a_batch_has_no_idempotency_key_and_each_line_keeps_its_trigger_id) {
    header_receiver r;
    const std::string first = R"({"campaign_id":3,"player_id":42,"dry_run":false,"trigger_id":"3:42:e:e-1"})";
    const std::string second = R"({"campaign_id":3,"player_id":42,"dry_run":false,"trigger_id":"3:42:e:e-2"})";
    {
        rtcrm::webhook_sink hook{rtcrm::webhook_options{.url = r.url()}};
        std::vector<rtcrm::output> batch;
        batch.push_back(output_with(first));
        batch.push_back(output_with(second));
        hook.consume(batch);
        hook.close();
    }
    const auto got = r.received();
    ASSERT_FALSE(got.empty());
    std::string lines;
    for (const auto& [key, body] : got) {
        EXPECT_EQ(key, "-");
        lines += body;
    }
    EXPECT_EQ(lines, first + "\n" + second + "\n");
}

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
