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

namespace {

// A script set whose campaign report is fixed: the admin API serves it as it is.
class reporting_scripts final : public rtcrm::script_admin {
public:
    explicit reporting_scripts(std::string text = std::string{report}) : text_(std::move(text)) {}

    static constexpr std::string_view report =
        R"({"campaigns":[{"id":"33","dry_run":false,"triggers":12,"shadow":3,"players":9,)"
        R"("suppressed":{"kill_switch":0,"cap":2,"fatigue":1,"rate":0,"quiet_hours":0,"schedule":0,"dry_run":0},)"
        R"("arms":{"control":{"exposures":3,"conversions":1},"a\"b":{"exposures":12,"conversions":4}}},)"
        R"({"id":"we\"ird\n","dry_run":true,"triggers":0,"shadow":5,"players":5,)"
        R"("suppressed":{"kill_switch":0,"cap":0,"fatigue":0,"rate":0,"quiet_hours":0,"schedule":0,"dry_run":5}}]})";

    std::vector<std::string> script_names() const override { return {}; }
    std::uint64_t version() const noexcept override { return 1; }
    rtcrm::reload_result put_script(std::string, std::string) override { return std::uint64_t{1}; }
    rtcrm::reload_result remove_script(std::string_view) override { return std::uint64_t{1}; }
    std::uint64_t failed_reloads() const noexcept override { return 0; }
    void disable(std::string_view) override {}
    void enable(std::string_view) override {}
    bool disabled(std::string_view) const override { return false; }
    std::vector<rtcrm::handler_stats> stats() const override { return {}; }
    std::string campaign_report(rtcrm::campaign_report_scope scope) const override {
        // The totals carry what the metrics need; the full report only adds days and uplift.
        return scope == rtcrm::campaign_report_scope::days ? text_ + " " : text_;
    }

private:
    std::string text_;
};

}  // namespace

TEST(admin_server, get_campaigns_serves_the_campaign_report_as_a_read) {
    rtcrm::runtime rt{small_topology()};
    rtcrm::admin_server admin{{.listen = "127.0.0.1:0", .token = "secret"}, rt, std::make_shared<reporting_scripts>(),
                              nullptr};
    rtcrm::testing::tiny_http client{admin.port()};
    client.send_raw("GET /campaigns HTTP/1.1\r\nHost: t\r\n\r\n");  // a read: no token needed
    const auto got = client.read_reply();
    EXPECT_EQ(got.status, 200);
    EXPECT_EQ(got.body, std::string{reporting_scripts::report} + " ");
    EXPECT_TRUE(valid_json(got.body));
    client.send_raw("POST /campaigns HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(client.read_reply().status, 401);  // writes still need it

    rtcrm::admin_server without_engine{{.listen = "127.0.0.1:0"}, rt, nullptr, nullptr};
    rtcrm::testing::tiny_http other{without_engine.port()};
    other.send_raw("GET /campaigns HTTP/1.1\r\nHost: t\r\n\r\n");
    EXPECT_EQ(other.read_reply().status, 404);
}

TEST(admin_server, metrics_carry_the_campaign_report_totals_with_escaped_labels) {
    rtcrm::runtime rt{small_topology()};
    rtcrm::admin_server admin{{.listen = "127.0.0.1:0"}, rt, std::make_shared<reporting_scripts>(), nullptr};
    rtcrm::testing::tiny_http client{admin.port()};
    client.send_raw("GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
    const auto body = client.read_reply().body;
    for (const std::string line : {
             "# TYPE rtcrm_campaign_triggers_total counter\n",
             "\nrtcrm_campaign_triggers_total{campaign=\"33\"} 12\n",
             "\nrtcrm_campaign_triggers_total{campaign=\"we\\\"ird\\n\"} 0\n",
             "# TYPE rtcrm_campaign_suppressed_total counter\n",
             "\nrtcrm_campaign_suppressed_total{campaign=\"33\",reason=\"cap\"} 2\n",
             "\nrtcrm_campaign_suppressed_total{campaign=\"33\",reason=\"fatigue\"} 1\n",
             "\nrtcrm_campaign_suppressed_total{campaign=\"we\\\"ird\\n\",reason=\"dry_run\"} 5\n",
             "# HELP rtcrm_campaign_exposures_total ",
             "# TYPE rtcrm_campaign_exposures_total counter\n",
             "\nrtcrm_campaign_exposures_total{campaign=\"33\",arm=\"control\"} 3\n",
             "\nrtcrm_campaign_exposures_total{campaign=\"33\",arm=\"a\\\"b\"} 12\n",
             "# TYPE rtcrm_campaign_conversions_total counter\n",
             "\nrtcrm_campaign_conversions_total{campaign=\"33\",arm=\"control\"} 1\n",
             "\nrtcrm_campaign_conversions_total{campaign=\"33\",arm=\"a\\\"b\"} 4\n",
         }) {
        EXPECT_NE(body.find(line), std::string::npos) << line << " in\n" << body;
    }
    // A campaign without arms has no arm series.
    EXPECT_EQ(body.find("rtcrm_campaign_exposures_total{campaign=\"we"), std::string::npos) << body;
}

TEST(admin_server, metrics_leave_out_what_a_report_of_another_shape_has) {
    rtcrm::runtime rt{small_topology()};
    rtcrm::admin_server admin{
        {.listen = "127.0.0.1:0"}, rt,
        std::make_shared<reporting_scripts>(
            R"({"campaigns":[{"id":3,"triggers":1},{"id":"x","triggers":"many","suppressed":[1],"arms":{"a":{"exposures":2.5}}},)"
            R"(5,{"id":"y","triggers":4,"arms":{"b":{"exposures":6,"conversions":1}}}]})"),
        nullptr};
    rtcrm::testing::tiny_http client{admin.port()};
    client.send_raw("GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
    const auto got = client.read_reply();
    EXPECT_EQ(got.status, 200);
    EXPECT_NE(got.body.find("\nrtcrm_campaign_triggers_total{campaign=\"y\"} 4\n"), std::string::npos) << got.body;
    EXPECT_NE(got.body.find("\nrtcrm_campaign_exposures_total{campaign=\"y\",arm=\"b\"} 6\n"), std::string::npos) << got.body;
    EXPECT_EQ(got.body.find("campaign=\"x\""), std::string::npos) << got.body;
    EXPECT_EQ(got.body.find("campaign=\"3\""), std::string::npos) << got.body;

    rtcrm::admin_server broken{{.listen = "127.0.0.1:0"}, rt, std::make_shared<reporting_scripts>("{not json"), nullptr};
    rtcrm::testing::tiny_http other{broken.port()};
    other.send_raw("GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
    const auto answer = other.read_reply();
    EXPECT_EQ(answer.status, 200);
    EXPECT_NE(answer.body.find("# TYPE rtcrm_campaign_triggers_total counter\n"), std::string::npos);
}
