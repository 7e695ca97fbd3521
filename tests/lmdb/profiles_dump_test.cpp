// rtcrm-profiles --dump shows a player's pending timers: the operator's view of what will fire.
#include <rtcrm/lmdb/lmdb_store.hpp>

#include "support/result_assertions.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

namespace {

using rtcrm::testing::succeeded;

// The standard output of `command`, and its exit status.
std::pair<std::string, int> run(const std::string& command) {
    std::string out;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) {
        return {out, -1};
    }
    std::array<char, 4096> buf{};
    while (const auto n = std::fread(buf.data(), 1, buf.size(), pipe)) {
        out.append(buf.data(), n);
    }
    return {out, ::pclose(pipe)};
}

TEST(profiles_dump, shows_pending_timers) {
    const auto dir = std::filesystem::temp_directory_path() / fmt::format("rtcrm_profiles_dump_{}", ::getpid());
    std::filesystem::remove_all(dir);
    {
        rtcrm::lmdb_store store{{.path = dir.string(), .sync = false}};
        rtcrm::profile waiting{rtcrm::player_key{1}};
        waiting.record_event("login", 1'763'800'000'000, "e7");
        waiting.set_timer("winback", 1'764'059'200'000, "e7", R"({"offer":"comeback"})");
        rtcrm::profile idle{rtcrm::player_key{2}};
        idle.record_event("login", 1'763'800'000'000, "e8");
        rtcrm::write_batch batch;
        batch.profiles = {waiting, idle};
        ASSERT_TRUE(succeeded(store.write(batch)));
    }
    const auto [out, status] = run(fmt::format("'{}' --store lmdb --store-path '{}' --dump", RTCRM_PROFILES_BIN, dir.string()));
    std::filesystem::remove_all(dir);
    ASSERT_EQ(status, 0) << out;
    const auto second_line = out.find('\n') + 1;
    ASSERT_NE(second_line, 0U) << out;
    const auto first = out.substr(0, second_line);
    const auto second = out.substr(second_line);
    EXPECT_NE(first.find(R"("timers":[{"name":"winback","due":1764059200000,"event_id":"e7","data":{"offer":"comeback"}}])"),
              std::string::npos)
        << first;
    EXPECT_NE(second.find(R"("player_id":2)"), std::string::npos) << second;
    EXPECT_EQ(second.find("timers"), std::string::npos) << second;
}

}  // namespace
