// The log sink: what a host's sink receives, what the level filters out before any
// formatting, the default on standard error, and swapping the sink while threads log.
#include <rtcrm/core/error.hpp>
#include <rtcrm/core/log.hpp>
#include <rtcrm/core/test_driver.hpp>
#include <rtcrm/lua/lua_engine.hpp>

#include "core/logging.hpp"
#include "support/lua_engines.hpp"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace {

using rtcrm::log_level;

// An argument that counts how often it is formatted.
struct counted {};
std::atomic<int> times_formatted{0};

}  // namespace

template <>
struct fmt::formatter<counted> : fmt::formatter<std::string_view> {
    template <typename Context>
    auto format(const counted&, Context& ctx) const {
        times_formatted.fetch_add(1);
        return fmt::formatter<std::string_view>::format("counted", ctx);
    }
};

namespace {

struct entry {
    log_level level;
    std::string component;
    std::string message;
};

// A sink that keeps what it receives.
struct recorder {
    std::mutex mutex;
    std::vector<entry> entries;

    rtcrm::log_sink sink() {
        return [this](log_level level, std::string_view component, std::string_view message) {
            std::lock_guard lock(mutex);
            entries.push_back({level, std::string{component}, std::string{message}});
        };
    }
};

// Standard error (file descriptor 2) redirected to a temporary file while it lives.
class stderr_capture {
public:
    stderr_capture() : file_(std::tmpfile()), saved_(::dup(2)) {
        std::fflush(stderr);
        ::dup2(::fileno(file_), 2);
    }
    ~stderr_capture() {
        restore();
        std::fclose(file_);
    }
    stderr_capture(const stderr_capture&) = delete;
    stderr_capture& operator=(const stderr_capture&) = delete;

    // Ends the redirection and returns what was written.
    std::string text() {
        restore();
        std::string out;
        std::rewind(file_);
        char buf[4096];
        for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, file_)) > 0;) {
            out.append(buf, n);
        }
        return out;
    }

private:
    void restore() {
        if (saved_ >= 0) {
            ::dup2(saved_, 2);
            ::close(saved_);
            saved_ = -1;
        }
    }
    std::FILE* file_;
    int saved_;
};

// Every test starts and ends with the defaults: the sink and the level are process-wide.
class logging : public ::testing::Test {
protected:
    void SetUp() override { reset(); }
    void TearDown() override { reset(); }
    static void reset() {
        rtcrm::set_log_sink({});
        rtcrm::set_log_level(log_level::info);
    }
};

TEST_F(logging, a_replaced_sink_receives_the_level_the_component_and_the_message) {
    recorder r;
    rtcrm::set_log_sink(r.sink());
    rtcrm::log(log_level::warning, "runtime", "shard 1 stuck");
    rtcrm::detail::log_fmt(log_level::error, "kafka", "{}: commit failed: {}", "kafka:raw", 7);
    ASSERT_EQ(r.entries.size(), 2U);
    EXPECT_EQ(r.entries[0].level, log_level::warning);
    EXPECT_EQ(r.entries[0].component, "runtime");
    EXPECT_EQ(r.entries[0].message, "shard 1 stuck");
    EXPECT_EQ(r.entries[1].level, log_level::error);
    EXPECT_EQ(r.entries[1].component, "kafka");
    EXPECT_EQ(r.entries[1].message, "kafka:raw: commit failed: 7");
}

TEST_F(logging, messages_below_the_level_are_neither_formatted_nor_delivered) {
    recorder r;
    rtcrm::set_log_sink(r.sink());
    EXPECT_EQ(rtcrm::get_log_level(), log_level::info);
    EXPECT_FALSE(rtcrm::log_enabled(log_level::debug));
    EXPECT_TRUE(rtcrm::log_enabled(log_level::info));

    times_formatted = 0;
    rtcrm::detail::log_fmt(log_level::debug, "lua", "a {}", counted{});
    EXPECT_EQ(times_formatted.load(), 0);
    rtcrm::detail::log_fmt(log_level::info, "lua", "a {}", counted{});
    EXPECT_EQ(times_formatted.load(), 1);

    rtcrm::set_log_level(log_level::error);
    rtcrm::log(log_level::warning, "lua", "not delivered");
    rtcrm::detail::log_fmt(log_level::warning, "lua", "a {}", counted{});
    EXPECT_EQ(times_formatted.load(), 1);
    rtcrm::log(log_level::error, "lua", "delivered");

    rtcrm::set_log_level(log_level::off);
    EXPECT_FALSE(rtcrm::log_enabled(log_level::error));
    rtcrm::log(log_level::error, "lua", "silenced");

    // `off` is a threshold, not a message level.
    rtcrm::set_log_level(log_level::debug);
    EXPECT_FALSE(rtcrm::log_enabled(log_level::off));
    rtcrm::log(log_level::off, "lua", "never");

    ASSERT_EQ(r.entries.size(), 2U);
    EXPECT_EQ(r.entries[0].message, "a counted");
    EXPECT_EQ(r.entries[1].message, "delivered");
}

TEST_F(logging, the_default_writes_one_line_per_message_to_standard_error) {
    stderr_capture capture;
    rtcrm::log(log_level::warning, "lua", "handler 'x' disabled");
    rtcrm::log(log_level::debug, "lua", "below the level");
    rtcrm::log(log_level::error, "sink", "ndjson_sink out.ndjson: write failed");
    EXPECT_EQ(capture.text(), "rtcrm: lua: handler 'x' disabled\nrtcrm: sink: ndjson_sink out.ndjson: write failed\n");
}

TEST_F(logging, an_empty_sink_restores_the_default) {
    recorder r;
    rtcrm::set_log_sink(r.sink());
    rtcrm::log(log_level::info, "lua", "to the host");
    stderr_capture capture;
    rtcrm::set_log_sink({});
    rtcrm::log(log_level::info, "lua", "script set 3 loaded from lua/examples");
    EXPECT_EQ(capture.text(), "rtcrm: lua: script set 3 loaded from lua/examples\n");
    ASSERT_EQ(r.entries.size(), 1U);
    EXPECT_EQ(r.entries[0].message, "to the host");
}

TEST_F(logging, a_sink_that_logs_or_throws_neither_recurses_nor_lets_the_exception_out) {
    std::atomic<int> calls{0};
    bool set_refused = false;
    rtcrm::set_log_sink([&](log_level, std::string_view, std::string_view message) {
        calls.fetch_add(1);
        if (message == "log") {
            rtcrm::log(log_level::error, "host", "from inside the sink");
        } else if (message == "set") {
            try {
                rtcrm::set_log_sink({});
            } catch (const rtcrm::error&) {
                set_refused = true;
            }
        } else {
            throw std::runtime_error("sink failed");
        }
    });
    stderr_capture capture;
    rtcrm::log(log_level::info, "lua", "log");
    rtcrm::log(log_level::info, "lua", "set");
    rtcrm::log(log_level::info, "lua", "throw");
    EXPECT_EQ(capture.text(), "rtcrm: host: from inside the sink\n");
    EXPECT_EQ(calls.load(), 3);
    EXPECT_TRUE(set_refused);
}

TEST_F(logging, level_names_parse_back_and_unknown_names_are_refused) {
    for (const auto level : {log_level::debug, log_level::info, log_level::warning, log_level::error, log_level::off}) {
        EXPECT_EQ(rtcrm::parse_log_level(rtcrm::log_level_name(level)), level);
    }
    EXPECT_EQ(rtcrm::log_level_name(log_level::warning), "warning");
    EXPECT_EQ(rtcrm::parse_log_level("warn"), std::nullopt);
    EXPECT_EQ(rtcrm::parse_log_level("INFO"), std::nullopt);
    EXPECT_EQ(rtcrm::parse_log_level(""), std::nullopt);
}

// Several threads log while the sink is replaced again and again: every message reaches
// exactly one sink, and a replaced sink is never called once set_log_sink has returned.
TEST_F(logging, concurrent_logging_while_the_sink_is_swapped_is_safe) {
    struct generation {
        std::atomic<bool> replaced{false};
        std::atomic<std::uint64_t> delivered{0};
        std::atomic<std::uint64_t> after_replaced{0};
    };
    constexpr int threads = 4;
    constexpr int per_thread = 50'000;
    constexpr int swaps = 200;
    std::vector<std::unique_ptr<generation>> generations;
    const auto sink_of = [](generation* g) {
        return [g](log_level, std::string_view component, std::string_view message) {
            if (g->replaced.load()) {
                g->after_replaced.fetch_add(1);
            }
            if (component == "runtime" && !message.empty()) {
                g->delivered.fetch_add(1);
            }
        };
    };
    generations.push_back(std::make_unique<generation>());
    rtcrm::set_log_sink(sink_of(generations.back().get()));

    std::atomic<int> running{threads};
    std::vector<std::thread> loggers;
    for (int t = 0; t < threads; ++t) {
        loggers.emplace_back([t, &running] {
            for (int i = 0; i < per_thread; ++i) {
                rtcrm::detail::log_fmt(log_level::warning, "runtime", "thread {} message {}", t, i);
            }
            running.fetch_sub(1);
        });
    }
    for (int i = 0; i < swaps || running.load() > 0; ++i) {
        auto* previous = generations.back().get();
        generations.push_back(std::make_unique<generation>());
        rtcrm::set_log_sink(sink_of(generations.back().get()));
        previous->replaced.store(true);
        if (i >= swaps) {
            std::this_thread::yield();
        }
    }
    for (auto& t : loggers) {
        t.join();
    }
    rtcrm::set_log_sink({});

    std::uint64_t delivered = 0;
    for (const auto& g : generations) {
        delivered += g->delivered.load();
        EXPECT_EQ(g->after_replaced.load(), 0U);
    }
    EXPECT_EQ(delivered, static_cast<std::uint64_t>(threads) * per_thread);
}

// A real library message: the circuit breaker disables a Lua handler and says so.
TEST_F(logging, a_handler_disabled_by_the_circuit_breaker_is_logged_as_a_warning_of_lua) {
    recorder r;
    rtcrm::set_log_sink(r.sink());
    auto engine = rtcrm::test::engine_with(
        {{"bad.lua", "crm.updater{ id = 'bad', on = 'x', fn = function(e, p) error('no') end }"}},
        {.max_consecutive_errors = 2});
    rtcrm::topology t;
    t.add_shard_bolt(engine->make_bolt_factory()).with_options({.shards = 1});
    rtcrm::topology_test_driver driver{std::move(t)};
    driver.pipe(R"({"player_id":1,"type":"x","ts":1763800000000})");
    driver.pipe(R"({"player_id":1,"type":"x","ts":1763800000001})");
    ASSERT_EQ(r.entries.size(), 1U);
    EXPECT_EQ(r.entries[0].level, log_level::warning);
    EXPECT_EQ(r.entries[0].component, "lua");
    EXPECT_NE(r.entries[0].message.find("'bad' (bad.lua:1) disabled until the next reload: 2 consecutive errors"),
              std::string::npos)
        << r.entries[0].message;
    EXPECT_EQ(r.entries[0].message.rfind("rtcrm", 0), std::string::npos) << "no prefix in the message";
}

}  // namespace
