#include "lmdb/lmdb_tallies.hpp"

#include "lmdb/lmdb_handles.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <cstring>

namespace rtcrm::lmdb_detail {
namespace {

// Tallies are sums that only ever have values added: two's complement wrapping, never
// undefined behaviour, for a counter that would pass 2^63.
std::int64_t add_wrapping(std::int64_t a, std::int64_t b) {
    return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) + static_cast<std::uint64_t>(b));
}

}  // namespace

std::optional<std::string> refuse_tally_names(const std::vector<tally>& tallies, int max_key_bytes) {
    for (const auto& [name, amount] : tallies) {
        if (name.empty() || name.size() > static_cast<std::size_t>(max_key_bytes)) {
            return fmt::format("the tally name \"{}\" has {} bytes; names hold 1 to {} bytes (LMDB's key size limit)",
                               name.substr(0, 64), name.size(), max_key_bytes);
        }
    }
    return std::nullopt;
}

int add_tallies(MDB_txn* txn, MDB_dbi dbi, const std::vector<tally>& tallies) {
    for (const auto& [name, amount] : tallies) {
        MDB_val key = as_val(name);
        MDB_val old{};
        std::int64_t sum = amount;
        if (const int rc = mdb_get(txn, dbi, &key, &old); rc == 0 && old.mv_size == sizeof sum) {
            std::int64_t stored = 0;
            std::memcpy(&stored, old.mv_data, sizeof stored);
            sum = add_wrapping(stored, amount);
        } else if (rc != 0 && rc != MDB_NOTFOUND) {
            return rc;
        }
        MDB_val value{sizeof sum, &sum};
        if (const int rc = mdb_put(txn, dbi, &key, &value, 0); rc != 0) {
            return rc;
        }
    }
    return 0;
}

int read_tallies(MDB_txn* txn, MDB_dbi dbi, std::vector<tally>& out, std::string& corrupt) {
    return for_each_entry(txn, dbi, [&](const MDB_val& key, const MDB_val& value) {
        if (value.mv_size != sizeof(std::int64_t)) {
            corrupt = fmt::format("tally \"{}\" holds {} bytes, not 8", as_view(key), value.mv_size);
            return MDB_CORRUPTED;
        }
        std::int64_t sum = 0;
        std::memcpy(&sum, value.mv_data, sizeof sum);
        out.emplace_back(std::string{as_view(key)}, sum);
        return 0;
    });
}

}  // namespace rtcrm::lmdb_detail
