// lmdb_store's due-time index: which players have a pending timer, by the earliest due time.
//
// Two sub-databases of the store's environment, always changed in the write transaction
// that writes the profiles, so the index never disagrees with a committed profile:
// - "timers_due" (MDB_DUPSORT): key = the due time as 8 bytes big-endian with the sign bit
//   flipped (negative times sort first), values = the key texts of the players due then.
//   LMDB orders the values of one key by their bytes, so a cursor walks the index in
//   (due, key text) order, `due_before`'s. Keeping the key text as a value, not as part
//   of the key, leaves it the same size limit as the profile key it copies.
// - "timers_by_key": key text -> its due time (8 bytes, as above), to find and remove a
//   player's old entry when the profile is written again, erased or expired.
// A player without pending timers has no entry in either.
#pragma once

#include <rtcrm/core/profile_store.hpp>

#include <lmdb.h>

#include <cstdint>
#include <optional>
#include <string_view>

namespace rtcrm::lmdb_detail {

class due_index {
public:
    // Opens the sub-databases in `txn`; with `create`, creates those missing and fills a
    // created index from the profiles in `profiles` (a store written before the index
    // existed). Without `create`, missing sub-databases leave the index unavailable.
    // Returns an LMDB code (0, or the failure); `undecodable` counts profiles skipped by the fill.
    int open(MDB_txn* txn, MDB_dbi profiles, bool create, std::uint64_t& undecodable);

    // False when a read-only opener found no index (a store written before it existed).
    [[nodiscard]] bool available() const noexcept { return available_; }

    // Moves the entry of `key` to `due` (nullopt: removes it), in the write transaction `txn`.
    int update(MDB_txn* txn, std::string_view key, std::optional<std::int64_t> due) const;

    // One page of `profile_store::due_timers`, read in `txn`.
    int page(MDB_txn* txn, std::int64_t until_ms, const std::optional<due_entry>& after, std::size_t limit,
             const player_filter& accept, due_page& out) const;

private:
    int fill(MDB_txn* txn, MDB_dbi profiles, std::uint64_t& undecodable) const;

    MDB_dbi by_due_ = 0;
    MDB_dbi by_key_ = 0;
    bool available_ = false;
};

}  // namespace rtcrm::lmdb_detail
