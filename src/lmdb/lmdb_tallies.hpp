// lmdb_store's tallies: named counters in the sub-database "tallies" (key = the name's
// bytes, value = the sum as a native int64), added to in the write transaction that writes
// the profiles they came from, so after a crash they count exactly what the profiles hold.
#pragma once

#include <rtcrm/core/profile_store.hpp>

#include <lmdb.h>

#include <optional>
#include <string>
#include <vector>

namespace rtcrm::lmdb_detail {

// Why `tallies` cannot be stored (a name LMDB cannot use as a key: empty, or longer than
// `max_key_bytes`), or nullopt. Checked before the write begins: such a name would fail
// every retry.
std::optional<std::string> refuse_tally_names(const std::vector<tally>& tallies, int max_key_bytes);

// Adds each tally's amount to its stored sum in `txn`. Sums wrap in two's complement
// rather than overflow. Returns an LMDB code.
int add_tallies(MDB_txn* txn, MDB_dbi dbi, const std::vector<tally>& tallies);

// Appends every stored tally to `out`. Returns an LMDB code; a value that is not 8 bytes
// is MDB_CORRUPTED, with its name in `corrupt`.
int read_tallies(MDB_txn* txn, MDB_dbi dbi, std::vector<tally>& out, std::string& corrupt);

}  // namespace rtcrm::lmdb_detail
