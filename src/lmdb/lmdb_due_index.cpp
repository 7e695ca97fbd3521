#include "lmdb/lmdb_due_index.hpp"

#include "lmdb/lmdb_handles.hpp"

#include <rtcrm/core/profile_codec.hpp>

#include <array>
#include <cstring>
#include <string>

namespace rtcrm::lmdb_detail {
namespace {

constexpr std::uint64_t sign_bit = 1ULL << 63;

// Big-endian with the sign bit flipped: byte order is numeric order, negatives first.
using due_bytes = std::array<char, 8>;

due_bytes encode_due(std::int64_t due) {
    const auto u = static_cast<std::uint64_t>(due) ^ sign_bit;
    due_bytes out{};
    for (std::size_t i = 0; i < out.size(); ++i) {
        out[i] = static_cast<char>((u >> (56 - 8 * i)) & 0xff);
    }
    return out;
}

std::optional<std::int64_t> decode_due(const MDB_val& v) {
    if (v.mv_size != sizeof(due_bytes)) {
        return std::nullopt;
    }
    const auto* p = static_cast<const unsigned char*>(v.mv_data);
    std::uint64_t u = 0;
    for (std::size_t i = 0; i < sizeof(due_bytes); ++i) {
        u = (u << 8) | p[i];
    }
    return static_cast<std::int64_t>(u ^ sign_bit);
}

MDB_val as_val(due_bytes& b) { return MDB_val{b.size(), b.data()}; }

// A profile in codec version 1 has no pending timers (profile_codec.hpp), so
// the fill decodes only the others.
constexpr char version_without_timers = 1;

}  // namespace

int due_index::open(MDB_txn* txn, MDB_dbi profiles, bool create, std::uint64_t& undecodable) {
    available_ = false;
    int rc_due = mdb_dbi_open(txn, "timers_due", MDB_DUPSORT, &by_due_);
    int rc_key = mdb_dbi_open(txn, "timers_by_key", 0, &by_key_);
    for (const int rc : {rc_due, rc_key}) {
        if (rc != 0 && rc != MDB_NOTFOUND) {
            return rc;
        }
    }
    const bool missing = rc_due == MDB_NOTFOUND || rc_key == MDB_NOTFOUND;
    if (!missing) {
        available_ = true;
        return 0;
    }
    if (!create) {
        return 0;  // a reader of a store written before the index: due_timers scans
    }
    if (const int rc = mdb_dbi_open(txn, "timers_due", MDB_DUPSORT | MDB_CREATE, &by_due_); rc != 0) {
        return rc;
    }
    if (const int rc = mdb_dbi_open(txn, "timers_by_key", MDB_CREATE, &by_key_); rc != 0) {
        return rc;
    }
    // Half an index (one of the two sub-databases lost) is rebuilt whole.
    for (const MDB_dbi dbi : {by_due_, by_key_}) {
        if (const int rc = mdb_drop(txn, dbi, 0); rc != 0) {
            return rc;
        }
    }
    available_ = true;
    return fill(txn, profiles, undecodable);
}

int due_index::fill(MDB_txn* txn, MDB_dbi profiles, std::uint64_t& undecodable) const {
    return for_each_entry(txn, profiles, [&](const MDB_val& key, const MDB_val& value) {
        const auto bytes = as_view(value);
        if (!bytes.empty() && bytes.front() == version_without_timers) {
            return 0;
        }
        auto decoded = decode_profile(bytes);
        if (!decoded) {
            ++undecodable;  // the store's get names it when it is read
            return 0;
        }
        const auto due = decoded->next_timer_due();
        return due ? update(txn, as_view(key), due) : 0;
    });
}

int due_index::update(MDB_txn* txn, std::string_view key, std::optional<std::int64_t> due) const {
    if (!available_) {
        return 0;
    }
    MDB_val k = as_val(key);
    MDB_val stored{};
    std::optional<std::int64_t> old_due;
    if (const int rc = mdb_get(txn, by_key_, &k, &stored); rc == 0) {
        old_due = decode_due(stored);
        if (old_due && old_due == due) {
            return 0;
        }
    } else if (rc != MDB_NOTFOUND) {
        return rc;
    }
    if (old_due) {
        auto bytes = encode_due(*old_due);
        MDB_val d = as_val(bytes);
        MDB_val v = as_val(key);
        if (const int rc = mdb_del(txn, by_due_, &d, &v); rc != 0 && rc != MDB_NOTFOUND) {
            return rc;
        }
    }
    if (!due) {
        const int rc = mdb_del(txn, by_key_, &k, nullptr);
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    auto bytes = encode_due(*due);
    MDB_val d = as_val(bytes);
    MDB_val v = as_val(key);
    if (const int rc = mdb_put(txn, by_due_, &d, &v, MDB_NODUPDATA); rc != 0 && rc != MDB_KEYEXIST) {
        return rc;
    }
    MDB_val d_value = as_val(bytes);
    return mdb_put(txn, by_key_, &k, &d_value, 0);
}

int due_index::page(MDB_txn* txn, std::int64_t until_ms, const std::optional<due_entry>& after, std::size_t limit,
                    const player_filter& accept, due_page& out) const {
    int rc = 0;
    cursor c{txn, by_due_, rc};
    if (rc != 0) {
        return rc;
    }
    MDB_cursor* cur = c.native_handle();
    MDB_val k{};
    MDB_val v{};
    due_bytes start{};
    if (after) {
        // Straight to the first entry past `after`, however many share its due time.
        start = encode_due(after->due);
        k = as_val(start);
        v = as_val(after->key.text());
        rc = mdb_cursor_get(cur, &k, &v, MDB_GET_BOTH_RANGE);
        if (rc == 0 && as_view(v) == after->key.text()) {
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        } else if (rc == MDB_NOTFOUND) {
            // No key text at or after it at that due time: the next due time.
            k = as_val(start);
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
            if (rc == 0 && k.mv_size == start.size() && std::memcmp(k.mv_data, start.data(), start.size()) == 0) {
                rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_NODUP);
            }
        }
    } else {
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    }
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const auto due = decode_due(k);
        if (!due) {
            return MDB_CORRUPTED;
        }
        player_key key{std::string{as_view(v)}};
        if (accept && !accept(key)) {
            continue;
        }
        if (*due > until_ms) {
            out.next_due = *due;
            break;
        }
        if (out.entries.size() == limit) {
            out.more = true;
            break;
        }
        out.entries.push_back({*due, std::move(key)});
    }
    return rc == MDB_NOTFOUND ? 0 : rc;
}

}  // namespace rtcrm::lmdb_detail
