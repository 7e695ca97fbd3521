#include "cassandra_store_impl.hpp"

namespace rtcrm {

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
