/// @file lmdb_store.hpp
/// The durable embedded profile store: profiles in an LMDB environment on local disk.
///
/// Profiles are kept in the versioned binary encoding (store/profile_codec.hpp), keyed by
/// the player key's text; source positions live in a second database and are written in
/// the same transaction as the profiles of a `write_batch`, so after a crash the store
/// says exactly which events its profiles include. One write transaction at a time (LMDB
/// allows no more); reads run in parallel, each in its own read-only transaction.
///
/// Pending timers: a due-time index (sub-databases `timers_due` and `timers_by_key`, see
/// src/lmdb/lmdb_due_index.hpp) holds each player's earliest due time and changes in the
/// write transaction of its profile, so `due_timers` reads it without the profiles. A
/// store written before the index existed gets it at its first writable open, filled from
/// the stored profiles (one pass that decodes only profiles holding timers); a read-only
/// opener of such a store answers `due_timers` with a scan.
///
/// Tallies (`write_batch::tallies`) live in a sub-database `tallies` (key: the name's
/// bytes, value: the sum as a native 64-bit integer), added to in the write transaction of
/// the batch's profiles and positions, so after a crash they count exactly the events
/// the committed profiles include. A store written before it existed gets it at its first
/// writable open (empty: every sum starts at zero); a read-only opener of such a store
/// reads no tallies. A name must hold 1 to 511 bytes (LMDB's key limit): a batch with
/// another is refused whole.
///
/// The map grows by itself: a write that fills it is retried after doubling the map
/// size (up to `max_map_size`).
///
/// Caveats:
/// - `sync = false` trades durability of the last commits for speed (MDB_NOSYNC).
/// - One writing process per environment directory: a second one is refused (an exclusive
///   lock on `rtcrm-writer.lock` there); read-only openers (`read_only`) are not.
/// - A failure's code is LMDB's return code (category `lmdb`: `MDB_MAP_FULL`, ..., or an
///   errno value) or, for a profile that does not decode, the codec's; its reason names the
///   directory, the step and, where there is one, the key:
///   "lmdb_store /var/lib/crm: get 42: MDB_CORRUPTED: Located page was wrong type".
///
/// Example:
/// @code
///   auto store = std::make_shared<rtcrm::lmdb_store>(rtcrm::lmdb_options{.path = "/var/lib/crm"});
///   topology.with_store(store);
/// @endcode
#pragma once

#include <rtcrm/core/profile_store.hpp>

#include <cstddef>
#include <memory>
#include <string>

namespace rtcrm {

/// Options of `lmdb_store`. An aggregate: use designated initialisers.
struct lmdb_options {
    std::string path;                           ///< environment directory; created if missing
    std::size_t map_size = 64ULL << 20;         ///< initial map size in bytes
    std::size_t max_map_size = 1ULL << 40;      ///< the map never grows past this
    bool sync = true;                           ///< fsync each commit (false: MDB_NOSYNC)
    bool read_only = false;                     ///< open for reading only (tools); writes fail
    std::size_t expire_chunk = 1000;            ///< profiles judged per write transaction by `expire`

    /// @throws rtcrm::error(invalid_config) for an empty path or sizes out of order.
    void validate() const;
};

/// The LMDB `profile_store`. Thread-safe.
class lmdb_store final : public profile_store {
public:
    /// Opens (or creates) the environment.
    /// @throws rtcrm::error(io_error) naming the path when it cannot be created or opened,
    ///         is not an LMDB environment, was written by an incompatible LMDB, or another
    ///         process writes to it.
    explicit lmdb_store(lmdb_options options);
    ~lmdb_store() override;
    lmdb_store(const lmdb_store&) = delete;
    lmdb_store& operator=(const lmdb_store&) = delete;

    [[nodiscard]] std::string_view name() const noexcept override { return "lmdb"; }
    /// A stored profile that does not decode is a failure naming its key.
    result<void> get(std::span<const player_key> keys, std::span<std::optional<profile>> out) override;
    /// Grows a full map and tries again; fails with `MDB_MAP_FULL` past `max_map_size`.
    result<void> write(const write_batch& batch) override;
    result<void> scan(const profile_visitor& visit) override;
    /// Splits the key space into `workers` ranges of about equal size (one pass over the
    /// keys), each scanned in a read transaction of its own on its own thread.
    result<void> scan_parallel(std::size_t workers, const visitor_factory& make) override;
    /// In write transactions of at most `expire_chunk` profiles each. A profile that does
    /// not decode is kept, and logged (component `store`) once per call with how many.
    result<expiry_result> expire(const expiry_policy& policy, std::int64_t now_ms) override;
    /// A range scan of the due-time index (see the file comment); a reader of a store
    /// written before the index existed scans the profiles instead.
    result<due_page> due_timers(std::int64_t until_ms, const std::optional<due_entry>& after, std::size_t limit,
                                const player_filter& accept) override;
    result<void> flush() override;
    [[nodiscard]] std::vector<source_position> positions() override;
    [[nodiscard]] bool durable() const noexcept override { return true; }
    [[nodiscard]] bool keeps_tallies() const noexcept override { return true; }
    /// Read in one read transaction: a consistent snapshot of every sum.
    result<std::vector<tally>> tallies() override;

    /// The current map size in bytes (grows on demand).
    [[nodiscard]] std::size_t map_size() const;

private:
    result<void> scan_range(const std::string& from, const std::string& to, const profile_visitor& visit);
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace rtcrm
