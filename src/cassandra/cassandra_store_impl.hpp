// Internal: cassandra_store's state and helpers, shared by its files: the store
// (cassandra_store.cpp) and the due-time index's reads (cassandra_due_timers.cpp).
#pragma once

#include <rtcrm/cassandra/cassandra_store.hpp>
#include <rtcrm/core/error.hpp>
#include <rtcrm/core/profile_codec.hpp>

#include "cql/cql_session.hpp"
#include "cql/cql_values.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

namespace rtcrm {

namespace cql = detail::cql;

namespace detail::cassandra_parts {


inline constexpr std::int64_t day_ms = 86'400'000;
inline constexpr std::int64_t hour_ms = 3'600'000;

// The hour of a due time: the partition of its entry in the due-time index. Fixed, not an
// option: entries written with another width would not be found.
inline std::int64_t bucket_of(std::int64_t due) { return due >= 0 ? due / hour_ms : (due - hour_ms + 1) / hour_ms; }

// What a profile row says about its pending timers: the earliest due (none: no timer) and
// the row version that set it, which is also the version in the key of its index entry.
struct timer_row {
    std::int64_t version = 0;  // the row's version (0: null, a row written before versions)
    std::optional<std::int64_t> due;
    std::int64_t set_at = 0;
    friend bool operator==(const timer_row&, const timer_row&) = default;
};

// The row's version, timer_due and timer_version, from `row[first]` on.
inline timer_row timer_row_of(const std::vector<cql::value>& row, std::size_t first) {
    timer_row t;
    const auto at = [&row](std::size_t i) { return i < row.size() ? cql::as_bigint(row[i]) : std::nullopt; };
    t.version = at(first).value_or(0);
    t.due = at(first + 1);
    t.set_at = at(first + 2).value_or(0);
    return t;
}

// An entry of the due-time index as read.
struct index_entry {
    std::int64_t due = 0;
    std::string player;
    std::int64_t version = 0;
};

inline cql::consistency to_cql(cassandra_consistency c) {
    switch (c) {
    case cassandra_consistency::one: return cql::consistency::one;
    case cassandra_consistency::two: return cql::consistency::two;
    case cassandra_consistency::three: return cql::consistency::three;
    case cassandra_consistency::quorum: return cql::consistency::quorum;
    case cassandra_consistency::all: return cql::consistency::all;
    case cassandra_consistency::local_quorum: return cql::consistency::local_quorum;
    case cassandra_consistency::each_quorum: return cql::consistency::each_quorum;
    case cassandra_consistency::local_one: return cql::consistency::local_one;
    }
    return cql::consistency::local_quorum;
}

// A time UUID (version 1) that is a function of the event alone: its time is the event's
// time and its clock sequence and node come from a hash of the player, the type and the
// event id. Appending the same event twice (a write retried after a lost answer, or a profile
// written again) then upserts the same row instead of adding a duplicate.
// Events of one millisecond are ordered by that hash, not by arrival (the ring keeps no
// sequence number that survives its rotation).
inline cql::uuid_bytes event_timeuuid(std::int64_t unix_ms, std::string_view player, std::string_view type,
                               std::string_view event_id) {
    // FNV-1a over the player, the type and the id: the sub-millisecond ticks, clock sequence and node.
    std::uint64_t h = 0xcbf29ce484222325ULL;
    const auto mix = [&h](std::string_view s) {
        for (const char c : s) {
            h ^= static_cast<unsigned char>(c);
            h *= 0x100000001b3ULL;
        }
        h ^= 0xff;
        h *= 0x100000001b3ULL;
    };
    mix(player);
    mix(type);  // events without an id differ by type at least
    mix(event_id);
    const auto ticks = static_cast<std::uint64_t>(unix_ms * cql::uuid_ticks_per_ms + cql::uuid_gregorian_offset) +
                       (h % cql::uuid_ticks_per_ms);
    std::array<std::uint8_t, 6> node{};
    for (std::size_t i = 0; i < node.size(); ++i) {
        node[i] = static_cast<std::uint8_t>(h >> (8U * (i + 1)));
    }
    node[0] |= 0x01U;  // the multicast bit marks a node id that is not a MAC address (RFC 4122 §4.5)
    return cql::make_timeuuid(ticks, static_cast<std::uint16_t>(h >> 50U), node);
}

inline std::string event_json(const recent_event& e) {
    std::string out = R"({"type":)";
    const auto quote = [&out](std::string_view s) {
        out += '"';
        for (const char c : s) {
            const auto uc = static_cast<unsigned char>(c);
            if (c == '"' || c == '\\') {
                out += '\\';
                out += c;
            } else if (uc < 0x20) {
                out += fmt::format("\\u{:04x}", uc);
            } else {
                out += c;
            }
        }
        out += '"';
    };
    quote(e.type);
    out += fmt::format(R"(,"ts":{},"id":)", e.ts);
    quote(e.id);
    out += '}';
    return out;
}

// At most `limit` requests outstanding; the first failure is kept. The waiting thread is
// a store caller (a shard or the committer), never the session's I/O thread, which only
// runs `done`.
class request_window {
public:
    explicit request_window(std::size_t limit) : limit_(std::max<std::size_t>(1, limit)) {}

    void acquire() {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [this] { return in_flight_ < limit_; });
        ++in_flight_;
    }

    void done(const failure* why) {
        std::lock_guard lock(mutex_);
        --in_flight_;
        if (why != nullptr && !first_failure_) {
            first_failure_ = *why;
        }
        cv_.notify_all();
    }

    /// Waits for every request; the first failure, if any.
    std::optional<failure> wait_all() {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [this] { return in_flight_ == 0; });
        return first_failure_;
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::size_t limit_;
    std::size_t in_flight_ = 0;
    std::optional<failure> first_failure_;
};


}  // namespace detail::cassandra_parts

using namespace detail::cassandra_parts;  // NOLINT(google-build-using-namespace): this component's own helpers

struct cassandra_store::impl {
    cassandra_options options;
    std::shared_ptr<cql::session> session;
    cql::consistency consistency = cql::consistency::local_quorum;

    cql::prepared_ptr update_profile;
    cql::prepared_ptr select_profile;
    cql::prepared_ptr delete_profile;
    cql::prepared_ptr insert_event;
    cql::prepared_ptr insert_position;
    cql::prepared_ptr select_positions;
    cql::prepared_ptr scan_range;
    cql::prepared_ptr select_timer_row;
    cql::prepared_ptr insert_timer;
    cql::prepared_ptr delete_timer;
    cql::prepared_ptr select_timers;
    cql::prepared_ptr insert_bucket;
    cql::prepared_ptr select_buckets;
    cql::prepared_ptr delete_bucket;
    cql::prepared_ptr probe_bucket;

    // The newest event time already appended per player, so a write appends only what is
    // new. Not needed for correctness (appends are idempotent), only to avoid re-sending
    // the whole ring; bounded by clearing it when it grows past `appended_limit`.
    static constexpr std::size_t appended_stripes = 16;
    static constexpr std::size_t appended_limit = 1U << 16U;  // per stripe
    struct appended_stripe {
        std::mutex mutex;
        std::unordered_map<std::string, std::int64_t> newest;
    };
    std::array<appended_stripe, appended_stripes> appended;

    // The timer columns of the rows this store last read or wrote, by player: a write then
    // knows which index entry the row it replaces points to without reading it first. A
    // miss costs one read; bounded by clearing a stripe when it grows past its limit.
    static constexpr std::size_t timer_rows_limit = 1U << 14U;  // per stripe
    struct timer_stripe {
        std::mutex mutex;
        std::unordered_map<std::string, timer_row> rows;
    };
    std::array<timer_stripe, appended_stripes> timer_rows;

    // The highest offset stored per (source, partition): positions never move back.
    std::mutex positions_mutex;
    std::map<std::pair<std::string, std::int32_t>, std::int64_t> stored_positions;

    std::atomic<std::uint64_t> profiles_written{0};
    std::atomic<std::uint64_t> events_appended{0};
    std::atomic<std::uint64_t> batches{0};
    std::atomic<std::uint64_t> failed_writes{0};
    std::atomic<std::uint64_t> conflicts{0};
    std::atomic<std::uint64_t> stale_timer_entries{0};

    appended_stripe& stripe_of(const player_key& key) { return appended[key.hash() % appended_stripes]; }

    void remember_timer_row(const player_key& key, const timer_row& row) {
        auto& stripe = timer_rows[key.hash() % appended_stripes];
        std::lock_guard lock(stripe.mutex);
        if (stripe.rows.size() >= timer_rows_limit) {
            stripe.rows.clear();
        }
        stripe.rows[std::string(key.text())] = row;
    }

    void forget_timer_row(const player_key& key) {
        auto& stripe = timer_rows[key.hash() % appended_stripes];
        std::lock_guard lock(stripe.mutex);
        stripe.rows.erase(std::string(key.text()));
    }

    std::optional<timer_row> known_timer_row(const player_key& key) {
        auto& stripe = timer_rows[key.hash() % appended_stripes];
        std::lock_guard lock(stripe.mutex);
        const auto it = stripe.rows.find(std::string(key.text()));
        return it == stripe.rows.end() ? std::nullopt : std::optional<timer_row>(it->second);
    }

    // The failure a caller sees: the client's code, and the step and the server's message.
    static failure fail(const failure& why, std::string_view what) {
        return {why.code, fmt::format("cassandra_store: {}: {}", what, why.reason)};
    }

    cql::prepared_ptr prepare(const std::string& query) {
        auto p = session->prepare_sync(query);
        if (!p) {
            throw error(errc::store_error,
                        fmt::format("cassandra_store: cannot prepare \"{}\": {}", query, p.error().reason));
        }
        return std::move(p).value();
    }

    void run_ddl(const std::string& query) {
        cql::statement s;
        s.query = query;
        s.consistency = cql::consistency::one;  // schema changes ignore it; keeps ONE-node test clusters happy
        auto r = session->execute_sync(std::move(s));
        if (!r) {
            throw error(errc::store_error, fmt::format("cassandra_store: \"{}\" failed: {}", query, r.error().reason));
        }
    }

    void create_schema() {
        const auto& ks = options.keyspace;
        run_ddl(fmt::format("CREATE KEYSPACE IF NOT EXISTS {} WITH replication = {}", ks, options.replication));
        run_ddl(fmt::format(
            "CREATE TABLE IF NOT EXISTS {}.profile (player_id text PRIMARY KEY, data blob, updated_at timestamp,"
            " version bigint, timer_due bigint, timer_version bigint) WITH default_time_to_live = {}",
            ks, options.profile_ttl.count()));
        // No TTL on the index: an entry must live as long as the row that points to it.
        run_ddl(fmt::format(
            "CREATE TABLE IF NOT EXISTS {}.profile_timers (bucket bigint, due bigint, player_id text, version bigint,"
            " PRIMARY KEY (bucket, due, player_id, version))",
            ks));
        run_ddl(
            fmt::format("CREATE TABLE IF NOT EXISTS {}.profile_timer_buckets (shard int, bucket bigint, PRIMARY KEY "
                        "(shard, bucket))",
                        ks));
        run_ddl(fmt::format(
            "CREATE TABLE IF NOT EXISTS {}.event (player_id text, day int, timeid timeuuid, type text, event text,"
            " PRIMARY KEY ((player_id, day), timeid)) WITH default_time_to_live = {}",
            ks, options.event_ttl.count()));
        run_ddl(fmt::format(
            "CREATE TABLE IF NOT EXISTS {}.source_position (instance text, source text, partition int, offset bigint,"
            " PRIMARY KEY (instance, source, partition))",
            ks));
    }

    cql::statement bound(const cql::prepared_ptr& p, std::vector<cql::value> values) const {
        cql::statement s;
        s.prepared = p;
        s.values = std::move(values);
        s.consistency = consistency;
        return s;
    }

    // The events of `p` not yet appended, grouped by their (player, day) partition.
    std::map<std::int32_t, std::vector<recent_event>> new_events(const profile& p) {
        std::map<std::int32_t, std::vector<recent_event>> by_day;
        auto& stripe = stripe_of(p.key());
        std::int64_t newest_appended = std::numeric_limits<std::int64_t>::min();
        {
            std::lock_guard lock(stripe.mutex);
            if (const auto it = stripe.newest.find(std::string(p.key().text())); it != stripe.newest.end()) {
                newest_appended = it->second;
            }
        }
        for (auto& e : p.recent()) {
            // Events of the newest appended millisecond are sent again: one of them may be new,
            // and a repeat is the same row.
            if (e.ts < newest_appended) {
                continue;
            }
            const auto day = static_cast<std::int32_t>(e.ts >= 0 ? e.ts / day_ms : (e.ts - day_ms + 1) / day_ms);
            by_day[day].push_back(std::move(e));
        }
        return by_day;
    }

    void remember_appended(const profile& p) {
        std::int64_t newest = std::numeric_limits<std::int64_t>::min();
        p.visit_recent_newest_first([&newest](const recent_event& e) {
            newest = e.ts;
            return false;
        });
        auto& stripe = stripe_of(p.key());
        std::lock_guard lock(stripe.mutex);
        if (stripe.newest.size() >= appended_limit) {
            stripe.newest.clear();
        }
        stripe.newest[std::string(p.key().text())] = newest;
    }

    void send(request_window& window, cql::statement s) {
        window.acquire();
        session->execute(std::move(s),
                         [&window](result<cql::result_body> r) { window.done(r ? nullptr : &r.error()); });
    }

    void send(request_window& window, cql::batch b) {
        window.acquire();
        batches.fetch_add(1, std::memory_order_relaxed);
        session->execute(std::move(b),
                         [&window](result<cql::result_body> r) { window.done(r ? nullptr : &r.error()); });
    }

    // What a conditional write that was not applied finds: whether the store holds `p` as
    // this write would have left it (its next version and its bytes), and the row's timer
    // columns (nullopt: no row, or it could not be read).
    struct found_row {
        bool landed = false;
        std::optional<timer_row> timers;
    };
    found_row landed(const profile& p) {
        auto r = session->execute_sync(bound(select_profile, {cql::text_value(p.key().text())}));
        const auto* rows = r ? std::get_if<cql::rows_result>(&r.value()) : nullptr;
        if (rows == nullptr || rows->rows.empty() || rows->rows.front().size() < 3) {
            return {};
        }
        const auto& row = rows->rows.front();
        std::string data;
        encode_profile(p, data);
        return {cql::as_bigint(row[2]) == static_cast<std::int64_t>(p.stored_version() + 1) && row[1] == data,
                timer_row_of(row, 2)};
    }

    // Reads the timer columns of each player's row: nullopt for a player without a row.
    result<std::vector<std::optional<timer_row>>> read_timer_rows(const std::vector<std::string_view>& players) {
        request_window window(options.max_in_flight);
        std::vector<result<cql::result_body>> answers(players.size(), result<cql::result_body>(cql::void_result{}));
        for (std::size_t i = 0; i < players.size(); ++i) {
            window.acquire();
            session->execute(bound(select_timer_row, {cql::text_value(players[i])}),
                             [&window, &answers, i](result<cql::result_body> r) {
                                 answers[i] = std::move(r);
                                 window.done(answers[i] ? nullptr : &answers[i].error());
                             });
        }
        if (auto why = window.wait_all()) {
            return *why;
        }
        std::vector<std::optional<timer_row>> out(players.size());
        for (std::size_t i = 0; i < players.size(); ++i) {
            const auto* rows = std::get_if<cql::rows_result>(&answers[i].value());
            if (rows != nullptr && !rows->rows.empty()) {
                out[i] = timer_row_of(rows->rows.front(), 0);
            }
        }
        return out;
    }

    cql::statement index_delete(std::int64_t due, std::string_view player, std::int64_t version) const {
        return bound(delete_timer, {cql::bigint_value(bucket_of(due)), cql::bigint_value(due), cql::text_value(player),
                                    cql::bigint_value(version)});
    }

    // Takes empty hours off the hours list. A writer lists an hour after inserting its
    // entry, so an entry inserted while the hour is taken off is seen by the second look,
    // which lists the hour again.
    void retire_buckets(const std::vector<std::int64_t>& buckets) {
        for (const auto b : buckets) {
            auto removed = session->execute_sync(bound(delete_bucket, {cql::bigint_value(b)}));
            if (!removed) {
                continue;  // still listed: the next call looks again
            }
            auto probe = session->execute_sync(bound(probe_bucket, {cql::bigint_value(b)}));
            const auto* rows = probe ? std::get_if<cql::rows_result>(&probe.value()) : nullptr;
            if (rows == nullptr || !rows->rows.empty()) {
                // Not known to be empty: list it again (a failure here is retried by the runtime's next write or call).
                (void)session->execute_sync(bound(insert_bucket, {cql::bigint_value(b)}));
            }
        }
    }

    // Scans the token range (start, end] a page at a time.
    std::optional<failure> scan_range_pages(std::int64_t start, std::int64_t end, const profile_visitor& visit,
                                            bool& stopped) {
        std::optional<std::string> paging_state;
        do {
            auto s = bound(scan_range, {cql::bigint_value(start), cql::bigint_value(end)});
            s.page_size = options.scan_page_size;
            s.paging_state = paging_state;
            auto r = session->execute_sync(std::move(s));
            if (!r) {
                return r.error();
            }
            auto* rows = std::get_if<cql::rows_result>(&r.value());
            if (rows == nullptr) {
                return failure{make_error_code(errc::store_error), "a scan page did not come back as rows"};
            }
            for (auto& row : rows->rows) {
                if (row.size() < 2 || !row[1]) {
                    continue;
                }
                auto p = decode_profile(*row[1]);
                if (!p) {
                    return failure{p.error().code,
                                   fmt::format("profile \"{}\": {}", row[0].value_or(""), p.error().reason)};
                }
                if (!visit(p.value())) {
                    stopped = true;
                    return std::nullopt;
                }
            }
            paging_state = rows->metadata.paging_state;
        } while (paging_state);
        return std::nullopt;
    }
};

}  // namespace rtcrm
