#include <rtcrm/core/error.hpp>
#include <rtcrm/core/memory_store.hpp>
#include <rtcrm/http/admin_server.hpp>

#include "../support/full_disk_store.hpp"
#include "../support/test_components.hpp"
#include "../support/tiny_http.hpp"

#include <gtest/gtest.h>

#include <rapidjson/document.h>

#include <atomic>
#include <cerrno>
#include <system_error>

namespace {

rtcrm::topology small_topology() {
    rtcrm::topology t;
    t.add_source(std::make_unique<rtcrm::testing::vector_source>(std::vector<std::string>{rtcrm::testing::fight_json(1, 0)}));
    return t;
}

}  // namespace

TEST(admin_server, refuses_write_endpoints_without_a_token_off_loopback) {
    rtcrm::runtime rt{small_topology()};
    try {
        rtcrm::admin_server admin{{.listen = "0.0.0.0:0"}, rt, nullptr, nullptr};
        FAIL() << "served write endpoints on every interface without a token";
    } catch (const rtcrm::error& e) {
        EXPECT_EQ(e.code(), rtcrm::errc::invalid_config);
        EXPECT_NE(std::string{e.what()}.find("token"), std::string::npos) << e.what();
    }
    rtcrm::admin_server with_token{{.listen = "0.0.0.0:0", .token = "t"}, rt, nullptr, nullptr};  // fine with one
    rtcrm::testing::tiny_http client{with_token.port()};
    client.send_raw("POST /campaigns/3/disable HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(client.read_reply().status, 401);
    client.send_raw("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    EXPECT_EQ(client.read_reply().status, 200);  // reads need no token
}

TEST(admin_server, readiness_checks_decide_readyz) {
    rtcrm::runtime rt{small_topology()};
    rtcrm::admin_server admin{{.listen = "127.0.0.1:0"}, rt, nullptr, nullptr};
    std::atomic<bool> ready{false};
    admin.add_readiness([&]() -> std::optional<std::string> {
        return ready.load() ? std::nullopt : std::optional<std::string>{"no partition assigned yet"};
    });
    rtcrm::testing::tiny_http client{admin.port()};
    client.send_raw("GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n");
    const auto not_yet = client.read_reply();
    EXPECT_EQ(not_yet.status, 503);
    EXPECT_NE(not_yet.body.find("no partition assigned yet"), std::string::npos);
    ready = true;
    client.send_raw("GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n");
    EXPECT_EQ(client.read_reply().status, 200);
}

TEST(admin_server, a_failing_store_fails_readyz_with_its_reason_until_it_writes_again) {
    auto store = std::make_shared<rtcrm::testing::full_disk_store>();
    rtcrm::topology t;
    t.add_source(std::make_unique<rtcrm::testing::endless_source>(10)).with_store(store).with_options({.shards = 1});
    rtcrm::runtime rt{std::move(t)};
    rtcrm::admin_server admin{{.listen = "127.0.0.1:0"}, rt, nullptr, nullptr};
    rtcrm::testing::tiny_http client{admin.port()};
    auto get = [&](const std::string& path) {
        client.send_raw("GET " + path + " HTTP/1.1\r\nHost: t\r\n\r\n");
        return client.read_reply();
    };
    rt.start();
    ASSERT_TRUE(rtcrm::testing::eventually([&] { return get("/readyz").status == 503; }));
    const auto ready = get("/readyz");
    EXPECT_NE(ready.body.find("store full-disk"), std::string::npos) << ready.body;
    EXPECT_NE(ready.body.find("No space left on device"), std::string::npos) << ready.body;
    EXPECT_EQ(get("/metrics").body.find("\nrtcrm_store_errors_total 0\n"), std::string::npos);
    store->full = false;
    EXPECT_TRUE(rtcrm::testing::eventually([&] { return get("/readyz").status == 200; }));
    const auto report = rt.stop();
    EXPECT_TRUE(report.stopped);
    EXPECT_EQ(report.unstored, 0U);
}

TEST(admin_server, a_stuck_shard_fails_readyz_is_named_by_healthz_and_is_counted_in_metrics) {
    auto gate = std::make_shared<rtcrm::testing::gate_sink>();  // a sink that does not return until opened
    rtcrm::topology t;
    t.add_source(
         std::make_unique<rtcrm::testing::vector_source>(std::vector<std::string>{rtcrm::testing::fight_json(1, 0)}))
        .add_shard_bolt(rtcrm::testing::echo_bolt::factory())
        .add_sink(rtcrm::stream::main, gate)
        .with_options({.shards = 1, .stuck_after = std::chrono::milliseconds(50)});
    rtcrm::runtime rt{std::move(t)};
    rtcrm::admin_server admin{{.listen = "127.0.0.1:0"}, rt, nullptr, nullptr};
    rtcrm::testing::tiny_http client{admin.port()};
    auto get = [&](const std::string& path) {
        client.send_raw("GET " + path + " HTTP/1.1\r\nHost: t\r\n\r\n");
        return client.read_reply();
    };
    rt.start();
    ASSERT_TRUE(rtcrm::testing::eventually([&] { return rt.stuck_episodes() == 1; }));

    const auto ready = get("/readyz");
    EXPECT_EQ(ready.status, 503);
    EXPECT_NE(ready.body.find("shard 0 stuck for"), std::string::npos) << ready.body;
    EXPECT_NE(ready.body.find("sink 'gate' (stream main)"), std::string::npos) << ready.body;
    const auto health = get("/healthz");
    EXPECT_EQ(health.status, 200) << "the process still answers";
    EXPECT_NE(health.body.find(R"("status":"stuck")"), std::string::npos) << health.body;
    EXPECT_NE(health.body.find(R"x("doing":"sink 'gate' (stream main)")x"), std::string::npos) << health.body;
    const auto metrics = get("/metrics");
    EXPECT_NE(metrics.body.find("\nrtcrm_stuck_shards 1\n"), std::string::npos) << metrics.body;
    EXPECT_NE(metrics.body.find("\nrtcrm_stuck_episodes_total 1\n"), std::string::npos) << metrics.body;
    EXPECT_NE(metrics.body.find("\nrtcrm_shard_step_seconds{shard=\"0\"} "), std::string::npos) << metrics.body;

    gate->open();
    ASSERT_TRUE(rtcrm::testing::eventually([&] { return get("/readyz").status == 200; }));
    EXPECT_EQ(get("/healthz").body, R"({"status":"ok"})");
    const auto after = get("/metrics");
    EXPECT_NE(after.body.find("\nrtcrm_stuck_shards 0\n"), std::string::npos) << after.body;
    EXPECT_NE(after.body.find("\nrtcrm_stuck_episodes_total 1\n"), std::string::npos) << after.body;
    EXPECT_TRUE(rt.stop().stopped);
}

namespace {

// A script set whose errors and names quote bytes that are not UTF-8, as a Lua compile
// error on an uploaded file does ("near '\xff'").
class quoting_scripts final : public rtcrm::script_admin {
public:
    std::vector<std::string> script_names() const override { return {"caf\xe9.lua"}; }
    std::uint64_t version() const noexcept override { return 1; }
    rtcrm::reload_result put_script(std::string name, std::string) override {
        return {rtcrm::errc::invalid_config, name + ":1: unexpected symbol near '\xff\xfe'"};
    }
    rtcrm::reload_result remove_script(std::string_view) override { return std::uint64_t{2}; }
    std::uint64_t failed_reloads() const noexcept override { return 1; }
    void disable(std::string_view) override {}
    void enable(std::string_view) override {}
    bool disabled(std::string_view) const override { return true; }
    std::vector<rtcrm::handler_stats> stats() const override {
        rtcrm::handler_stats h;
        h.kind = "campaign";
        h.id = "o\xc3";
        h.where = "caf\xe9.lua:3";
        h.errors = 1;
        h.last_error = "caf\xe9.lua:4: bad value '\x80'";
        return {h};
    }
};

bool valid_json(const std::string& body) {
    rapidjson::Document d;
    d.Parse<rapidjson::kParseValidateEncodingFlag>(body.data(), body.size());
    return !d.HasParseError();
}

}  // namespace

TEST(admin_server, bodies_are_valid_json_when_scripts_quote_bytes_that_are_not_utf8) {
    rtcrm::runtime rt{small_topology()};
    rtcrm::admin_server admin{{.listen = "127.0.0.1:0"}, rt, std::make_shared<quoting_scripts>(), nullptr};
    rtcrm::testing::tiny_http client{admin.port()};
    const std::string source = "crm.campaign{ id = '\xff' }";
    client.send_raw("PUT /handlers/x.lua HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(source.size()) +
                    "\r\n\r\n" + source);
    const auto refused = client.read_reply();
    EXPECT_EQ(refused.status, 400);
    EXPECT_TRUE(valid_json(refused.body)) << refused.body;
    EXPECT_NE(refused.body.find("unexpected symbol near '\xEF\xBF\xBD\xEF\xBF\xBD'"), std::string::npos) << refused.body;
    client.send_raw("GET /handlers HTTP/1.1\r\nHost: t\r\n\r\n");
    const auto listed = client.read_reply();
    EXPECT_EQ(listed.status, 200);
    EXPECT_TRUE(valid_json(listed.body)) << listed.body;
    EXPECT_NE(listed.body.find("bad value '\xEF\xBF\xBD'"), std::string::npos) << listed.body;
}
