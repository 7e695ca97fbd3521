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

namespace {

constexpr std::int64_t day_ms = 86'400'000;
constexpr std::int64_t hour_ms = 3'600'000;

// The hour of a due time: the partition of its entry in the due-time index. Fixed, not an
// option: entries written with another width would not be found.
std::int64_t bucket_of(std::int64_t due) { return due >= 0 ? due / hour_ms : (due - hour_ms + 1) / hour_ms; }

// What a profile row says about its pending timers: the earliest due (none: no timer) and
// the row version that set it, which is also the version in the key of its index entry.
struct timer_row {
    std::int64_t version = 0;  // the row's version (0: null, a row written before versions)
    std::optional<std::int64_t> due;
    std::int64_t set_at = 0;
    friend bool operator==(const timer_row&, const timer_row&) = default;
};

// The row's version, timer_due and timer_version, from `row[first]` on.
timer_row timer_row_of(const std::vector<cql::value>& row, std::size_t first) {
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

cql::consistency to_cql(cassandra_consistency c) {
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
cql::uuid_bytes event_timeuuid(std::int64_t unix_ms, std::string_view player, std::string_view type,
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

std::string event_json(const recent_event& e) {
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

}  // namespace

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

cassandra_store::cassandra_store(cassandra_options options) : impl_(std::make_unique<impl>()) {
    options.validate();
    auto& d = *impl_;
    d.options = std::move(options);
    d.consistency = to_cql(d.options.consistency);

    cql::session_options so;
    so.contact_points = d.options.hosts;
    so.default_port = d.options.port;
    so.username = d.options.username;
    so.password = d.options.password;
    so.connections_per_host = d.options.connections_per_host;
    so.request_timeout = d.options.request_timeout;
    so.max_retries = d.options.max_retries;
    so.default_consistency = d.consistency;
    d.session = cql::session::connect(std::move(so));

    if (d.options.create_schema) {
        d.create_schema();
    }
    const auto& ks = d.options.keyspace;
    // A lightweight transaction: written only over the version the writer read (null: no
    // row, or one without a version).
    d.update_profile = d.prepare(
        fmt::format("UPDATE {}.profile SET data = ?, updated_at = ?, version = ?, timer_due = ?, timer_version = ?"
                    " WHERE player_id = ? IF version = ?",
                    ks));
    d.select_profile = d.prepare(fmt::format(
        "SELECT player_id, data, version, timer_due, timer_version FROM {}.profile WHERE player_id = ?", ks));
    d.select_timer_row =
        d.prepare(fmt::format("SELECT version, timer_due, timer_version FROM {}.profile WHERE player_id = ?", ks));
    d.insert_timer = d.prepare(
        fmt::format("INSERT INTO {}.profile_timers (bucket, due, player_id, version) VALUES (?, ?, ?, ?)", ks));
    d.delete_timer = d.prepare(fmt::format(
        "DELETE FROM {}.profile_timers WHERE bucket = ? AND due = ? AND player_id = ? AND version = ?", ks));
    d.select_timers = d.prepare(
        fmt::format("SELECT due, player_id, version FROM {}.profile_timers WHERE bucket = ? AND due >= ?", ks));
    d.probe_bucket = d.prepare(fmt::format("SELECT due FROM {}.profile_timers WHERE bucket = ? LIMIT 1", ks));
    d.insert_bucket = d.prepare(fmt::format("INSERT INTO {}.profile_timer_buckets (shard, bucket) VALUES (0, ?)", ks));
    d.select_buckets =
        d.prepare(fmt::format("SELECT bucket FROM {}.profile_timer_buckets WHERE shard = 0 AND bucket >= ?", ks));
    d.delete_bucket = d.prepare(fmt::format("DELETE FROM {}.profile_timer_buckets WHERE shard = 0 AND bucket = ?", ks));
    d.delete_profile = d.prepare(fmt::format("DELETE FROM {}.profile WHERE player_id = ?", ks));
    d.insert_event =
        d.prepare(fmt::format("INSERT INTO {}.event (player_id, day, timeid, type, event) VALUES (?, ?, ?, ?, ?)", ks));
    d.insert_position = d.prepare(
        fmt::format("INSERT INTO {}.source_position (instance, source, partition, offset) VALUES (?, ?, ?, ?)", ks));
    d.select_positions =
        d.prepare(fmt::format("SELECT source, partition, offset FROM {}.source_position WHERE instance = ?", ks));
    d.scan_range = d.prepare(
        fmt::format("SELECT player_id, data FROM {}.profile WHERE token(player_id) > ? AND token(player_id) <= ?", ks));
}

cassandra_store::~cassandra_store() {
    if (impl_ && impl_->session) {
        impl_->session->close();
    }
}

result<void> cassandra_store::get(std::span<const player_key> keys, std::span<std::optional<profile>> out) {
    auto& d = *impl_;
    if (keys.size() != out.size()) {
        return d.fail({make_error_code(errc::invalid_config), "keys and out differ in size"}, "get");
    }
    request_window window(d.options.max_in_flight);
    std::vector<result<cql::result_body>> answers(keys.size(), result<cql::result_body>(cql::void_result{}));
    for (std::size_t i = 0; i < keys.size(); ++i) {
        window.acquire();
        d.session->execute(d.bound(d.select_profile, {cql::text_value(keys[i].text())}),
                           [&window, &answers, i](result<cql::result_body> r) {
                               answers[i] = std::move(r);
                               window.done(answers[i] ? nullptr : &answers[i].error());
                           });
    }
    if (auto why = window.wait_all()) {
        return d.fail(*why, "get");
    }
    for (std::size_t i = 0; i < keys.size(); ++i) {
        out[i].reset();
        const auto* rows = std::get_if<cql::rows_result>(&answers[i].value());
        if (rows == nullptr || rows->rows.empty() || rows->rows.front().size() < 2 || !rows->rows.front()[1]) {
            continue;
        }
        auto p = decode_profile(*rows->rows.front()[1]);
        if (!p) {
            return d.fail(p.error(), fmt::format("get \"{}\"", keys[i].text()));
        }
        d.remember_appended(p.value());
        const auto& row = rows->rows.front();
        const auto version = row.size() > 2 ? cql::as_bigint(row[2]) : std::nullopt;
        p.value().set_stored_version(version ? static_cast<std::uint64_t>(*version) : 0);
        d.remember_timer_row(keys[i], timer_row_of(row, 2));
        out[i] = std::move(p).value();
    }
    return {};
}

result<void> cassandra_store::write(const write_batch& batch) {
    auto& d = *impl_;
    // One write per player: the last copy, on the condition of the first (the version the
    // store held before the copies that come earlier in the batch).
    std::unordered_map<std::string_view, std::pair<std::size_t, std::size_t>> copies;  // first, last
    copies.reserve(batch.profiles.size());
    for (std::size_t i = 0; i < batch.profiles.size(); ++i) {
        copies.try_emplace(batch.profiles[i].key().text(), i, i).first->second.second = i;
    }
    struct profile_write {
        const profile* p = nullptr;
        std::uint64_t expected = 0;
        std::int64_t version = 0;         // the version this write stores
        std::optional<timer_row> before;  // the row it replaces (nullopt: not known)
        std::optional<std::int64_t> due;  // the earliest due it stores
        std::int64_t set_at = 0;          // the version its due was set at
        bool new_entry = false;           // its due needs an index entry of its own
    };
    std::vector<profile_write> writes;
    writes.reserve(copies.size());
    for (std::size_t i = 0; i < batch.profiles.size(); ++i) {
        const auto& p = batch.profiles[i];
        const auto [first, last] = copies.find(p.key().text())->second;
        if (i == last) {
            writes.push_back({.p = &p,
                              .expected = batch.profiles[first].stored_version(),
                              .version = static_cast<std::int64_t>(p.stored_version() + 1)});
        }
    }

    // Which index entry each replaced row points to: known from this store's last read or
    // write of the row, else read. A new player (expected version null) has no row.
    std::vector<std::size_t> unknown;
    std::vector<std::string_view> unknown_players;
    for (std::size_t w = 0; w < writes.size(); ++w) {
        auto& pw = writes[w];
        if (pw.expected == 0) {
            pw.before = timer_row{};
        } else if (auto known = d.known_timer_row(pw.p->key());
                   known && known->version == static_cast<std::int64_t>(pw.expected)) {
            pw.before = known;
        } else {
            unknown.push_back(w);
            unknown_players.push_back(pw.p->key().text());
        }
    }
    std::vector<std::optional<timer_row>> erased_before(batch.erased.size());
    for (std::size_t e = 0; e < batch.erased.size(); ++e) {
        if (auto known = d.known_timer_row(batch.erased[e])) {
            erased_before[e] = known;
        } else {
            unknown.push_back(writes.size() + e);
            unknown_players.push_back(batch.erased[e].text());
        }
    }
    if (!unknown.empty()) {
        auto rows = d.read_timer_rows(unknown_players);
        if (!rows) {
            d.failed_writes.fetch_add(1, std::memory_order_relaxed);
            return d.fail(rows.error(), "write: reading the timers of the rows it replaces");
        }
        for (std::size_t u = 0; u < unknown.size(); ++u) {
            auto& row = rows.value()[u];
            if (unknown[u] >= writes.size()) {
                erased_before[unknown[u] - writes.size()] = row;
                continue;
            }
            auto& pw = writes[unknown[u]];
            // A row at another version fails the condition: what it points to stays as it is.
            if (!row || row->version == static_cast<std::int64_t>(pw.expected)) {
                pw.before = row ? row : timer_row{};
            }
        }
    }

    // The new entries first: a row that stores a due always has its entry.
    request_window window(d.options.max_in_flight);
    std::set<std::int64_t> new_buckets;
    for (auto& pw : writes) {
        pw.due = pw.p->next_timer_due();
        if (pw.before && pw.before->due == pw.due) {
            pw.set_at = pw.before->set_at;
        } else if (pw.due) {
            pw.set_at = pw.version;
            pw.new_entry = true;
            new_buckets.insert(bucket_of(*pw.due));
            d.send(window,
                   d.bound(d.insert_timer, {cql::bigint_value(bucket_of(*pw.due)), cql::bigint_value(*pw.due),
                                            cql::text_value(pw.p->key().text()), cql::bigint_value(pw.version)}));
        }
    }
    if (auto why = window.wait_all()) {
        d.failed_writes.fetch_add(1, std::memory_order_relaxed);
        return d.fail(*why, "write timers");
    }

    struct conflict {
        const profile_write* w = nullptr;
        std::optional<std::int64_t> found;
    };
    std::mutex conflicts_mutex;
    std::vector<conflict> conflicts;
    // The hours of the new entries, listed after the entries exist (see retire_buckets).
    for (const auto b : new_buckets) {
        d.send(window, d.bound(d.insert_bucket, {cql::bigint_value(b)}));
    }
    for (const auto& pw : writes) {
        const auto& p = *pw.p;
        std::string data;
        encode_profile(p, data);
        const auto big_or_null = [](bool set, std::int64_t v) {
            return set ? cql::value{cql::bigint_value(v)} : cql::value{};
        };
        auto statement = d.bound(
            d.update_profile,
            {std::move(data), cql::timestamp_value(p.last_event_ts()), cql::bigint_value(pw.version),
             big_or_null(pw.due.has_value(), pw.due.value_or(0)), big_or_null(pw.due.has_value(), pw.set_at),
             cql::text_value(p.key().text()), big_or_null(pw.expected != 0, static_cast<std::int64_t>(pw.expected))});
        window.acquire();
        d.session->execute(std::move(statement), [&window, &conflicts_mutex, &conflicts,
                                                  &pw](result<cql::result_body> r) {
            if (r) {
                // [applied], then (when not applied) the version the store holds.
                const auto* rows = std::get_if<cql::rows_result>(&r.value());
                if (rows != nullptr && !rows->rows.empty() && !rows->rows.front().empty() &&
                    rows->rows.front()[0] != std::string(1, '\x01')) {
                    const auto& row = rows->rows.front();
                    std::lock_guard lock(conflicts_mutex);
                    conflicts.push_back({&pw, row.size() > 1 ? cql::as_bigint(row[1]) : std::nullopt});
                }
            }
            window.done(r ? nullptr : &r.error());
        });
        if (!d.options.record_events) {
            continue;
        }
        // One unlogged batch per (player, day) partition: one replica set, one mutation.
        for (auto& [day, events] : d.new_events(p)) {
            cql::batch b;
            b.type = cql::batch_type::unlogged;
            b.consistency = d.consistency;
            for (const auto& e : events) {
                const auto uuid = event_timeuuid(e.ts, p.key().text(), e.type, e.id);
                b.statements.push_back(
                    d.bound(d.insert_event, {cql::text_value(p.key().text()), cql::int_value(day),
                                             cql::uuid_value(uuid), cql::text_value(e.type), event_json(e)}));
            }
            d.events_appended.fetch_add(events.size(), std::memory_order_relaxed);
            d.send(window, std::move(b));
        }
    }
    for (const auto& key : batch.erased) {
        d.send(window, d.bound(d.delete_profile, {cql::text_value(key.text())}));
    }
    if (auto why = window.wait_all()) {
        // Rows may or may not hold what this write sent: forget what they point to.
        for (const auto& pw : writes) {
            d.forget_timer_row(pw.p->key());
        }
        d.failed_writes.fetch_add(1, std::memory_order_relaxed);
        return d.fail(*why, "write");
    }
    d.profiles_written.fetch_add(copies.size() - conflicts.size(), std::memory_order_relaxed);
    for (const auto& p : batch.profiles) {
        d.remember_appended(p);
    }
    // A write retried after its answer was lost finds its own version: the same version
    // and the same bytes mean it landed (another writer's copy would differ in its bytes,
    // unless it applied the same events to the same version, which is the same write).
    // The old entries are deleted only once the rows no longer point to them; failing to
    // delete one leaves a stale entry, which `due_timers` deletes.
    request_window cleanup(d.options.max_in_flight);
    std::vector<const profile_write*> not_written;
    for (const auto& c : conflicts) {
        const auto found = d.landed(*c.w->p);
        if (found.landed) {
            continue;
        }
        not_written.push_back(c.w);
        d.forget_timer_row(c.w->p->key());
        // Its new entry is stale once the row is past its version with another due: no
        // write can store that version again, so no other writer needs this entry.
        if (c.w->new_entry && found.timers && found.timers->version >= c.w->version &&
            !(found.timers->due == c.w->due && found.timers->set_at == c.w->version)) {
            d.send(cleanup, d.index_delete(*c.w->due, c.w->p->key().text(), c.w->version));
        }
    }
    std::erase_if(conflicts, [&](const conflict& c) {
        return std::find(not_written.begin(), not_written.end(), c.w) == not_written.end();
    });
    for (const auto& pw : writes) {
        if (std::find(not_written.begin(), not_written.end(), &pw) != not_written.end()) {
            continue;
        }
        if (pw.before && pw.before->due && (pw.before->due != pw.due || pw.before->set_at != pw.set_at)) {
            d.send(cleanup, d.index_delete(*pw.before->due, pw.p->key().text(), pw.before->set_at));
        }
        d.remember_timer_row(pw.p->key(), {pw.version, pw.due, pw.due ? pw.set_at : 0});
    }
    for (std::size_t e = 0; e < batch.erased.size(); ++e) {
        d.forget_timer_row(batch.erased[e]);
        if (const auto& before = erased_before[e]; before && before->due) {
            d.send(cleanup, d.index_delete(*before->due, batch.erased[e].text(), before->set_at));
        }
    }
    if (!conflicts.empty()) {
        (void)cleanup.wait_all();
        // The batch's positions would claim those profiles' updates: not written either.
        d.conflicts.fetch_add(conflicts.size(), std::memory_order_relaxed);
        d.failed_writes.fetch_add(1, std::memory_order_relaxed);
        const auto& c = conflicts.front();
        return failure{make_error_code(errc::conflict),
                       fmt::format("cassandra_store: write: {} of {} profiles were changed by another writer since "
                                   "they were read, and were not written (\"{}\": version {} expected, {} stored)",
                                   conflicts.size(), copies.size(), c.w->p->key().text(), c.w->expected,
                                   c.found ? std::to_string(*c.found) : std::string("none"))};
    }

    // Positions last: only once every profile they account for is stored.
    std::vector<source_position> advanced;
    {
        std::lock_guard lock(d.positions_mutex);
        for (const auto& pos : batch.positions) {
            const auto it = d.stored_positions.find({pos.source, pos.partition});
            if (it == d.stored_positions.end() || it->second < pos.offset) {
                advanced.push_back(pos);
            }
        }
    }
    for (const auto& pos : advanced) {
        d.send(window, d.bound(d.insert_position, {cql::text_value(d.options.instance), cql::text_value(pos.source),
                                                   cql::int_value(pos.partition), cql::bigint_value(pos.offset)}));
    }
    // The old entries' deletions went out with the positions: one round trip for both.
    const auto positions_failed = window.wait_all();
    (void)cleanup.wait_all();
    if (positions_failed) {
        d.failed_writes.fetch_add(1, std::memory_order_relaxed);
        return d.fail(*positions_failed, "write positions");
    }
    std::lock_guard lock(d.positions_mutex);
    for (const auto& pos : advanced) {
        auto& stored = d.stored_positions[{pos.source, pos.partition}];
        stored = std::max(stored, pos.offset);
    }
    return {};
}

result<void> cassandra_store::scan(const profile_visitor& visit) {
    return scan_parallel(1, [&visit](std::size_t) { return visit; });
}

result<void> cassandra_store::scan_parallel(std::size_t workers, const visitor_factory& make) {
    auto& d = *impl_;
    auto ranges = d.session->token_ranges();
    if (ranges.empty()) {
        ranges.emplace_back(std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max());
    }
    workers = std::clamp<std::size_t>(workers, 1, ranges.size());
    std::vector<std::optional<failure>> failures(workers);
    const auto run = [&](std::size_t w) {
        auto visit = make(w);
        bool stopped = false;
        // Worker w takes every workers-th range: ranges are about equal on a balanced ring.
        for (std::size_t r = w; r < ranges.size() && !stopped; r += workers) {
            if (auto why = d.scan_range_pages(ranges[r].first, ranges[r].second, visit, stopped)) {
                failures[w] = std::move(why);
                return;
            }
        }
    };
    if (workers == 1) {
        run(0);
    } else {
        // Joined as the vector goes out of scope, also when starting one of them throws.
        std::vector<std::jthread> threads;
        threads.reserve(workers);
        for (std::size_t w = 0; w < workers; ++w) {
            threads.emplace_back(run, w);
        }
    }
    for (const auto& why : failures) {
        if (why) {
            return d.fail(*why, "scan");
        }
    }
    return {};
}

result<due_page> cassandra_store::due_timers(std::int64_t until_ms, const std::optional<due_entry>& after,
                                             std::size_t limit, const player_filter& accept) {
    auto& d = *impl_;
    due_page page;
    bool done = false;
    std::vector<index_entry> stale;
    std::vector<std::int64_t> empty_buckets;

    // Checks candidates (in index order) against their rows and takes the valid ones.
    const auto take = [&](std::vector<index_entry>& candidates) -> std::optional<failure> {
        std::vector<std::string_view> players;
        players.reserve(candidates.size());
        for (const auto& c : candidates) {
            players.push_back(c.player);
        }
        auto rows = d.read_timer_rows(players);
        if (!rows) {
            return rows.error();
        }
        for (std::size_t i = 0; i < candidates.size() && !done; ++i) {
            auto& c = candidates[i];
            const auto& row = rows.value()[i];
            if (!row || row->due != c.due || row->set_at != c.version) {
                // Stale once its row is past its version; else a write under way, or a
                // row gone: skipped, kept.
                if (row && row->version >= c.version) {
                    stale.push_back(std::move(c));
                }
                continue;
            }
            if (c.due > until_ms) {
                page.next_due = c.due;
                done = true;
            } else if (page.entries.size() == limit) {
                page.more = true;
                done = true;
            } else {
                page.entries.push_back({c.due, player_key{std::move(c.player)}});
            }
        }
        candidates.clear();
        return std::nullopt;
    };
    // Candidates are checked a chunk at a time: as many as the page still takes, plus one
    // (its `more` or `next_due`), at most 256.
    const auto chunk = [&] {
        const auto room = limit - page.entries.size();
        return room >= 256 ? std::size_t{256} : room + 1;
    };

    // Reads every page of a query; `each` returns false to stop.
    const auto pages = [&](const cql::prepared_ptr& query, std::vector<cql::value> values,
                           const std::function<bool(const std::vector<cql::value>&)>& each) -> std::optional<failure> {
        std::optional<std::string> paging_state;
        do {
            auto s = d.bound(query, values);
            s.page_size = d.options.scan_page_size;
            s.paging_state = paging_state;
            auto r = d.session->execute_sync(std::move(s));
            if (!r) {
                return r.error();
            }
            const auto* rows = std::get_if<cql::rows_result>(&r.value());
            if (rows == nullptr) {
                return failure{make_error_code(errc::store_error),
                               "a page of the timer index did not come back as rows"};
            }
            for (const auto& row : rows->rows) {
                if (!each(row)) {
                    return std::nullopt;
                }
            }
            paging_state = rows->metadata.paging_state;
        } while (paging_state);
        return std::nullopt;
    };

    const auto look_ahead = static_cast<std::size_t>(d.options.scan_page_size);
    std::size_t looked_past = 0;
    const auto first_bucket = after ? bucket_of(after->due) : std::numeric_limits<std::int64_t>::min();
    std::optional<failure> inner;
    auto outer = pages(d.select_buckets, {cql::bigint_value(first_bucket)}, [&](const std::vector<cql::value>& b_row) {
        const auto bucket = b_row.empty() ? std::nullopt : cql::as_bigint(b_row[0]);
        if (!bucket) {
            return true;
        }
        // The hour of `after` is read from `after`'s due on; every other hour whole.
        const bool partial = after && *bucket == bucket_of(after->due);
        const auto from = partial ? after->due : std::numeric_limits<std::int64_t>::min();
        bool any = false;
        std::vector<index_entry> candidates;
        std::optional<failure> checking;
        inner = pages(d.select_timers, {cql::bigint_value(*bucket), cql::bigint_value(from)},
                      [&](const std::vector<cql::value>& row) {
                          any = true;
                          const auto due = row.size() > 2 ? cql::as_bigint(row[0]) : std::nullopt;
                          const auto version = row.size() > 2 ? cql::as_bigint(row[2]) : std::nullopt;
                          if (!due || !version || !row[1]) {
                              return true;
                          }
                          index_entry e{*due, *row[1], *version};
                          if (after && (e.due < after->due || (e.due == after->due && e.player <= after->key.text()))) {
                              return true;
                          }
                          // Past the bound only the next due is wanted: after a bounded
                          // look, the due reached stands for it (no accepted player is due
                          // earlier), so a filter that refuses most players costs no full read.
                          if (e.due > until_ms && ++looked_past >= look_ahead) {
                              checking = take(candidates);
                              if (!checking && !done) {
                                  page.next_due = e.due;
                                  done = true;
                              }
                              return false;
                          }
                          if (accept && !accept(player_key{e.player})) {
                              return true;
                          }
                          candidates.push_back(std::move(e));
                          if (candidates.size() >= chunk()) {
                              checking = take(candidates);
                          }
                          return !checking && !done;
                      });
        if (!inner) {
            inner = std::move(checking);
        }
        if (!inner && !done && !candidates.empty()) {
            inner = take(candidates);
        }
        if (!inner && !any && !partial) {
            empty_buckets.push_back(*bucket);
        }
        return !inner && !done;
    });
    if (!outer && inner) {
        outer = inner;
    }
    if (outer) {
        return d.fail(*outer, "due_timers");
    }

    // Cleaning up after the reads (deleting while paging could shift a page). A failed
    // deletion leaves the entry for the next call.
    request_window cleanup(d.options.max_in_flight);
    for (const auto& e : stale) {
        d.send(cleanup, d.index_delete(e.due, e.player, e.version));
    }
    (void)cleanup.wait_all();
    d.stale_timer_entries.fetch_add(stale.size(), std::memory_order_relaxed);
    d.retire_buckets(empty_buckets);
    return page;
}

result<void> cassandra_store::flush() {
    // A write returns once the cluster acknowledged it at the configured consistency:
    // nothing is held back on this side.
    return {};
}

std::vector<source_position> cassandra_store::positions() {
    auto& d = *impl_;
    auto r = d.session->execute_sync(d.bound(d.select_positions, {cql::text_value(d.options.instance)}));
    if (!r) {
        throw error(r.error().code, fmt::format("cassandra_store: reading source positions: {}", r.error().reason));
    }
    std::vector<source_position> out;
    if (const auto* rows = std::get_if<cql::rows_result>(&r.value())) {
        for (const auto& row : rows->rows) {
            if (row.size() < 3 || !row[0]) {
                continue;
            }
            const auto partition = cql::as_int(row[1]);
            const auto offset = cql::as_bigint(row[2]);
            if (!partition || !offset) {
                continue;
            }
            out.push_back({*row[0], *partition, *offset});
        }
    }
    std::lock_guard lock(d.positions_mutex);
    for (const auto& pos : out) {
        auto& stored = d.stored_positions[{pos.source, pos.partition}];
        stored = std::max(stored, pos.offset);
    }
    return out;
}

cassandra_store_stats cassandra_store::stats() const {
    const auto& d = *impl_;
    const auto s = d.session->stats();
    return {.profiles_written = d.profiles_written.load(std::memory_order_relaxed),
            .events_appended = d.events_appended.load(std::memory_order_relaxed),
            .batches = d.batches.load(std::memory_order_relaxed),
            .retries = s.retries,
            .reconnects = s.reconnects,
            .failed_writes = d.failed_writes.load(std::memory_order_relaxed),
            .conflicts = d.conflicts.load(std::memory_order_relaxed),
            .stale_timer_entries = d.stale_timer_entries.load(std::memory_order_relaxed),
            .hosts_up = s.hosts_up};
}

}  // namespace rtcrm
