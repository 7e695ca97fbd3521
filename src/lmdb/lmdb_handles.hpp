// The small RAII wrappers over LMDB handles that lmdb_store and its due-time index share.
#pragma once

#include <lmdb.h>

#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace rtcrm::lmdb_detail {

// LMDB's return codes as std::error_code values, with mdb_strerror's messages.
class lmdb_category final : public std::error_category {
public:
    const char* name() const noexcept override { return "lmdb"; }
    std::string message(int code) const override { return mdb_strerror(code); }
};

inline const std::error_category& lmdb_errors() {
    static const lmdb_category instance;
    return instance;
}

inline std::error_code lmdb_error(int rc) { return {rc, lmdb_errors()}; }

// A transaction that aborts unless committed.
class transaction {
public:
    static int begin(MDB_env* env, unsigned flags, transaction& out) { return mdb_txn_begin(env, nullptr, flags, &out.txn_); }
    transaction() = default;
    transaction(const transaction&) = delete;
    transaction& operator=(const transaction&) = delete;
    ~transaction() {
        if (txn_ != nullptr) {
            mdb_txn_abort(txn_);
        }
    }
    int commit() { return mdb_txn_commit(std::exchange(txn_, nullptr)); }
    [[nodiscard]] MDB_txn* native_handle() const noexcept { return txn_; }

private:
    MDB_txn* txn_ = nullptr;
};

// A cursor that closes itself.
class cursor {
public:
    cursor(MDB_txn* txn, MDB_dbi dbi, int& rc) { rc = mdb_cursor_open(txn, dbi, &cursor_); }
    cursor(const cursor&) = delete;
    cursor& operator=(const cursor&) = delete;
    ~cursor() {
        if (cursor_ != nullptr) {
            mdb_cursor_close(cursor_);
        }
    }
    [[nodiscard]] MDB_cursor* native_handle() const noexcept { return cursor_; }

private:
    MDB_cursor* cursor_ = nullptr;
};

// Calls `visit(key, value)` with each entry of `dbi`, in key order, until it returns an
// LMDB code other than 0. Returns that code, a cursor's failure, or 0 after the last entry.
template <typename Visit>
int for_each_entry(MDB_txn* txn, MDB_dbi dbi, Visit&& visit) {
    int rc = 0;
    cursor c{txn, dbi, rc};
    if (rc != 0) {
        return rc;
    }
    MDB_val key{};
    MDB_val value{};
    for (rc = mdb_cursor_get(c.native_handle(), &key, &value, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c.native_handle(), &key, &value, MDB_NEXT)) {
        if (const int stop = visit(key, value); stop != 0) {
            return stop;
        }
    }
    return rc == MDB_NOTFOUND ? 0 : rc;
}

inline MDB_val as_val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
inline std::string_view as_view(const MDB_val& v) { return {static_cast<const char*>(v.mv_data), v.mv_size}; }

}  // namespace rtcrm::lmdb_detail
