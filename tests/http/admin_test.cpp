#include <rtcrm/error.hpp>
#include <rtcrm/http/admin_server.hpp>

#include "../support/test_components.hpp"
#include "../support/tiny_http.hpp"

#include <gtest/gtest.h>

#include <atomic>

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
        rtcrm::admin_server admin{{.listen = "0.0.0.0:0"}, rt, nullptr};
        FAIL() << "served write endpoints on every interface without a token";
    } catch (const rtcrm::error& e) {
        EXPECT_EQ(e.code(), rtcrm::errc::invalid_config);
        EXPECT_NE(std::string{e.what()}.find("token"), std::string::npos) << e.what();
    }
    rtcrm::admin_server with_token{{.listen = "0.0.0.0:0", .token = "t"}, rt, nullptr};  // fine with one
    rtcrm::testing::tiny_http client{with_token.port()};
    client.send_raw("POST /campaigns/3/disable HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(client.read_reply().status, 401);
    client.send_raw("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    EXPECT_EQ(client.read_reply().status, 200);  // reads need no token
}

TEST(admin_server, readiness_checks_decide_readyz) {
    rtcrm::runtime rt{small_topology()};
    rtcrm::admin_server admin{{.listen = "127.0.0.1:0"}, rt, nullptr};
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
