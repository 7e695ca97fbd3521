/// @file cql_session_fixture.hpp
/// What the CQL session tests share: waiting for callbacks and conditions (with generous
/// deadlines, not timing checks), session options for a test peer, statements, and a
/// small key-value schema.
#pragma once

#include "cql/cql_session.hpp"
#include "cql/cql_values.hpp"
#include "support/cql_peer.hpp"

#include <rtcrm/core/error.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace rtcrm::test {

namespace cql = rtcrm::detail::cql;
using namespace std::chrono_literals;

// Waits for `n` callbacks; the deadline is a generous upper bound, not a timing check.
class countdown {
public:
    explicit countdown(std::size_t n) : left_(n) {}
    void done() {
        std::lock_guard lock(mutex_);
        if (left_ > 0 && --left_ == 0) {
            cv_.notify_all();
        }
    }
    bool wait(std::chrono::seconds limit = 60s) {
        std::unique_lock lock(mutex_);
        return cv_.wait_for(lock, limit, [&] { return left_ == 0; });
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::size_t left_;
};

// Polls a condition; the deadline is a generous upper bound.
template <typename F>
bool eventually(F&& condition, std::chrono::seconds limit = 20s) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!condition()) {
        if (std::chrono::steady_clock::now() > until) {
            return false;
        }
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

inline cql::session_options options_for(const std::vector<std::string>& points) {
    cql::session_options o;
    o.contact_points = points;
    o.reconnect_min = 20ms;
    o.reconnect_max = 200ms;
    return o;
}

inline cql::statement text(std::string query, std::vector<cql::value> values = {}) {
    cql::statement s;
    s.query = std::move(query);
    s.values = std::move(values);
    return s;
}

inline cql::statement bound(const cql::prepared_ptr& p, std::vector<cql::value> values) {
    cql::statement s;
    s.prepared = p;
    s.values = std::move(values);
    return s;
}

// Runs a statement that must succeed.
inline cql::result_body run(cql::session& s, cql::statement st) {
    auto r = s.execute_sync(std::move(st));
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().reason);
    if (!r.ok()) {
        return cql::void_result{};
    }
    return std::move(r).value();
}

inline const cql::rows_result& rows_of(const cql::result_body& body) {
    static const cql::rows_result none;
    const auto* rows = std::get_if<cql::rows_result>(&body);
    EXPECT_NE(rows, nullptr) << "not a Rows result";
    return rows != nullptr ? *rows : none;
}

inline void make_schema(cql::session& s) {
    run(s, text("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"));
    run(s, text("CREATE TABLE ks.kv (k text PRIMARY KEY, v int)"));
}

inline std::optional<std::int32_t> read_v(cql::session& s, const std::string& key) {
    auto body = run(s, text("SELECT v FROM ks.kv WHERE k = ?", {cql::text_value(key)}));
    const auto& rows = rows_of(body);
    if (rows.rows.size() != 1) {
        return std::nullopt;
    }
    return cql::as_int(rows.rows[0][0]);
}

inline bool has_code(const rtcrm::failure& f, rtcrm::errc code) { return f.code == rtcrm::make_error_code(code); }

}  // namespace rtcrm::test
