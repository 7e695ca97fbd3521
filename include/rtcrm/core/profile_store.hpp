/// @file profile_store.hpp
/// The pluggable home of player profiles, behind each shard's profile cache.
///
/// Shards never call the store per event when the profile is warm: each shard caches the
/// profiles it owns, loads cold ones with `get` (batched), and writes dirty ones back with
/// `write` in batches (group commit). A `write_batch` also carries the source positions
/// that the written profiles include, so a durable backend stores both in one
/// transaction and can say after a restart where to resume (`positions()`).
///
/// Every operation returns a `result` (core/result.hpp): success, or a `failure` with a
/// code and a reason. The code is for decisions (`is_retriable`: try again, or give up and
/// dead-letter); the reason is what a person reads in a log or a dead letter, and names the
/// backend, what it was doing and why it failed ("lmdb_store /var/crm: write: No space left
/// on device"). The result is the only channel: a backend keeps no error state for callers
/// to read afterwards.
///
/// Backends: `memory_store` (core/memory_store.hpp), `lmdb_store` (lmdb/lmdb_store.hpp,
/// rtcrm::lmdb) and `cassandra_store` (cassandra/cassandra_store.hpp, rtcrm::cassandra). One
/// conformance suite (tests/core/profile_store_conformance_test.cpp) runs against each.
///
/// Conditional writes: a store shared by several rtcrm instances (Cassandra) may write a
/// profile only if it still holds the version the writer's copy was read at
/// (`profile::stored_version()`, which its `get` sets), and then store that version plus
/// one; the shards advance their cached copy's version by one at each write-back. A
/// profile that another writer changed meanwhile is not written, and `write` fails with
/// `errc::conflict`: the runtime does not retry it, nacks the events of that write (their
/// positions are not committed), and applies no more events until it restarts: the
/// restart reads them again and skips each where the stored profile already holds it. When
/// a batch holds several copies of one profile, the first copy's version is the condition
/// and the last copy is written.
///
/// Caveats:
/// - Every method may be called from several shard threads at once; backends synchronise.
/// - A failure's code is `errc::store_error`, `errc::unavailable`, or the backend's own
///   (an errno value, an LMDB code); the shard keeps the profiles dirty and retries a failed
///   write. Success allocates nothing: a `result<void>` that holds no failure is empty.
/// - "Not found" is no failure: `get` answers nullopt for that key.
///
/// Example (a backend's `write`, and a caller):
/// @code
///   rtcrm::result<void> write(const rtcrm::write_batch& batch) override {
///       if (const int rc = append(batch); rc != 0) {
///           return rtcrm::failure{{rc, std::generic_category()},
///                                 "journal_store " + path_ + ": write: " + std::strerror(rc)};
///       }
///       return {};
///   }
///
///   if (auto written = store.write(batch); !written) {
///       rtcrm::log(rtcrm::log_level::warning, "store", written.error().reason);
///       retry_later = rtcrm::is_retriable(written.error().code);
///   }
/// @endcode
#pragma once

#include <rtcrm/core/error.hpp>
#include <rtcrm/core/player_key.hpp>
#include <rtcrm/core/profile.hpp>
#include <rtcrm/core/result.hpp>
#include <rtcrm/core/source_position.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace rtcrm {

/// A named counter kept by the store: `write` adds the value to the stored one.
using tally = std::pair<std::string, std::int64_t>;

/// One group commit: profiles to write, keys to delete, the positions they include, and
/// the counter changes that came from them (`tallies`: added, in the same transaction, by
/// a store that `keeps_tallies`; ignored by others).
struct write_batch {
    std::vector<profile> profiles;
    std::vector<player_key> erased;
    std::vector<source_position> positions;
    std::vector<tally> tallies;
    [[nodiscard]] bool empty() const noexcept {
        return profiles.empty() && erased.empty() && positions.empty() && tallies.empty();
    }
};

/// What `expire` removes (event time, as everything in a profile). Zero keeps all.
struct expiry_policy {
    std::chrono::milliseconds profile_ttl{0};  ///< a profile with no event for this long is deleted
    std::chrono::milliseconds history_ttl{0};  ///< recent events, firing times and counter buckets older than this are dropped
    [[nodiscard]] bool enabled() const noexcept { return profile_ttl.count() > 0 || history_ttl.count() > 0; }
};

/// What one `expire` did.
struct expiry_result {
    std::uint64_t expired = 0;  ///< profiles deleted
    std::uint64_t trimmed = 0;  ///< profiles whose old history was dropped
};

/// What an expiry policy does to one profile.
enum class expiry_verdict : std::uint8_t { keep, trimmed, expired };

/// Applies `policy` at `now_ms` to `p`: `expired` if it is inactive too long and has no
/// pending timer (p is then unchanged), `trimmed` if old history was dropped from it, else `keep`. The one rule
/// every backend and the shards' lazy check share.
expiry_verdict apply_expiry(profile& p, const expiry_policy& policy, std::int64_t now_ms);

/// One entry of a store's due-time index: a player and the earliest due time of its
/// pending timers (`profile::next_timer_due`).
struct due_entry {
    std::int64_t due = 0;
    player_key key;
    friend bool operator==(const due_entry&, const due_entry&) = default;
};

/// A page of `profile_store::due_timers`.
struct due_page {
    /// Players due at or before the bound, ordered by (due, key text), at most the limit.
    std::vector<due_entry> entries;
    /// True if the limit cut the page: ask again after its last entry.
    bool more = false;
    /// When `more` is false: when to ask again. The earliest due time after the bound
    /// among the players the filter accepts, or an earlier time (a backend may look only
    /// a bounded way past the bound: cassandra_store); nullopt: no accepted player has a
    /// timer after the bound.
    std::optional<std::int64_t> next_due;
};

/// The order of the due-time index: by due time, then by key text.
bool due_before(const due_entry& a, const due_entry& b) noexcept;

/// Which players a `due_timers` call wants (a shard wants its own).
using player_filter = std::function<bool(const player_key&)>;

/// Called by `scan` with each stored profile; return false to stop the scan.
using profile_visitor = std::function<bool(const profile&)>;

/// Makes the visitor of one worker of `scan_parallel` (workers are numbered from 0).
using visitor_factory = std::function<profile_visitor(std::size_t worker)>;

/// The profile store interface. Implementations are thread-safe.
class profile_store {
public:
    virtual ~profile_store() = default;

    /// A short name for logs and metrics ("memory", "lmdb", ...).
    [[nodiscard]] virtual std::string_view name() const noexcept = 0;

    /// Loads profiles: `out[i]` receives the profile of `keys[i]`, or nullopt if the store
    /// has none. `out.size()` must equal `keys.size()`. On failure `out` is unspecified.
    virtual result<void> get(std::span<const player_key> keys, std::span<std::optional<profile>> out) = 0;

    /// Applies a batch atomically where the backend can (all or nothing). On failure the
    /// caller writes the batch again later (writes are idempotent).
    virtual result<void> write(const write_batch& batch) = 0;

    /// Visits every stored profile (in no particular order) until `visit` returns false.
    /// Runs on the calling thread; sees a consistent snapshot where the backend has one.
    /// A visitor that stops the scan is no failure.
    virtual result<void> scan(const profile_visitor& visit) = 0;

    /// Visits every stored profile once, split over up to `workers` threads (by key
    /// ranges where the backend has them); each worker calls the visitor `make(worker)`
    /// gave it, on its own thread. A visitor returning false stops its own worker. Each
    /// worker sees a consistent snapshot of its part, not of the whole. The default runs
    /// `scan` with one visitor on the calling thread. A failing worker's failure is
    /// returned (the first, if several fail) once every worker has ended.
    virtual result<void> scan_parallel(std::size_t workers, const visitor_factory& make) {
        (void)workers;
        return scan(make(0));
    }

    /// Deletes the profiles inactive since before `now_ms - profile_ttl` and drops history
    /// older than `now_ms - history_ttl`. Each decision is atomic with respect to `write`:
    /// a profile written back while the sweep runs is judged by its new content, never
    /// lost. Runs in bounded chunks so concurrent writes wait little. Returns what it did;
    /// a failure leaves the chunks done so far done. A backend that cannot expire
    /// atomically fails with `errc::store_error` (the default).
    virtual result<expiry_result> expire(const expiry_policy& policy, std::int64_t now_ms);

    /// The stored players whose earliest pending timer is due at or before `until_ms` and
    /// that `accept` takes, ordered by (due, key text), starting after `after` (exclusive;
    /// nullopt: from the start), at most `limit` of them (see `due_page`). The answer
    /// reflects the completed writes: a store keeps the index in the same transaction as
    /// the profiles. A filter that refuses a player only skips it. The default scans every
    /// profile (`scan`), which is correct but costs a full scan per call: a backend with
    /// many players keeps an index (memory_store, lmdb_store, cassandra_store do).
    virtual result<due_page> due_timers(std::int64_t until_ms, const std::optional<due_entry>& after, std::size_t limit,
                                        const player_filter& accept);

    /// Makes everything written so far durable (a no-op for volatile backends).
    virtual result<void> flush() = 0;

    /// The source positions stored by earlier writes (latest per source and partition).
    [[nodiscard]] virtual std::vector<source_position> positions() = 0;

    /// True if a completed `write` survives the process (LMDB, Cassandra): the runtime then
    /// acks an event only after the write holding its effects, stores the sources' safe
    /// positions, and resumes resumable sources from them.
    [[nodiscard]] virtual bool durable() const noexcept { return false; }

    /// True if `write` adds a batch's `tallies` in the same transaction as its profiles, and
    /// `tallies()` reads them back (memory_store, lmdb_store). The default keeps none.
    [[nodiscard]] virtual bool keeps_tallies() const noexcept { return false; }
    /// Every stored tally (name, sum of the values written), in no particular order.
    virtual result<std::vector<tally>> tallies() { return std::vector<tally>{}; }
};

}  // namespace rtcrm
