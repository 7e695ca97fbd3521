// The per-thread pool of string buffers that trigger bodies are written in.
#include "core/string_pool.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>

namespace {

using rtcrm::detail::string_pool;

// Each test runs on a thread of its own: the pool is per thread, so it starts empty.
template <typename Fn>
void on_fresh_thread(Fn&& fn) {
    std::thread t(std::forward<Fn>(fn));
    t.join();
}

TEST(string_pool, gives_a_kept_buffer_back_empty_with_its_capacity) {
    on_fresh_thread([] {
        EXPECT_EQ(string_pool::kept(), 0U);
        std::string body(300, 'x');
        const char* buffer = body.data();
        string_pool::give(std::move(body));
        EXPECT_EQ(string_pool::kept(), 1U);
        std::string next = string_pool::take();
        EXPECT_TRUE(next.empty());
        EXPECT_GE(next.capacity(), 300U);
        EXPECT_EQ(next.data(), buffer);  // the same buffer, not a copy
        EXPECT_EQ(string_pool::kept(), 0U);
        EXPECT_TRUE(string_pool::take().empty());  // empty pool: a plain empty string
    });
}

TEST(string_pool, keeps_neither_short_strings_nor_large_buffers) {
    on_fresh_thread([] {
        string_pool::give(std::string("short"));                             // no heap buffer
        string_pool::give(std::string(string_pool::max_capacity + 1, 'x'));  // too large to keep
        EXPECT_EQ(string_pool::kept(), 0U);
    });
}

TEST(string_pool, keeps_at_most_max_kept_buffers) {
    on_fresh_thread([] {
        for (std::size_t i = 0; i < string_pool::max_kept + 10; ++i) {
            string_pool::give(std::string(100, 'x'));
        }
        EXPECT_EQ(string_pool::kept(), string_pool::max_kept);
    });
}

TEST(string_pool, a_buffer_stays_with_the_thread_that_gave_it) {
    on_fresh_thread([] {
        string_pool::give(std::string(100, 'x'));
        on_fresh_thread([] { EXPECT_EQ(string_pool::kept(), 0U); });
        EXPECT_EQ(string_pool::kept(), 1U);
    });
}

}  // namespace
