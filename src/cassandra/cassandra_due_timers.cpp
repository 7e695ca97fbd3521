#include "cassandra_store_impl.hpp"

namespace rtcrm {

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

}  // namespace rtcrm
