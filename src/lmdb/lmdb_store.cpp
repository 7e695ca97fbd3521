#include <rtcrm/core/error.hpp>
#include <rtcrm/core/log.hpp>
#include <rtcrm/core/profile_codec.hpp>
#include <rtcrm/lmdb/lmdb_store.hpp>

#include "lmdb/lmdb_due_index.hpp"
#include "lmdb/lmdb_handles.hpp"
#include "lmdb/lmdb_tallies.hpp"

#include <fmt/format.h>
#include <lmdb.h>

#include <algorithm>
#include <cstring>
#include <cerrno>
#include <fcntl.h>
#include <filesystem>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <mutex>
#include <shared_mutex>
#include <thread>

namespace rtcrm {
namespace {

using namespace lmdb_detail;  // the handle wrappers shared with the due-time index

struct env_deleter {
    void operator()(MDB_env* env) const noexcept { mdb_env_close(env); }
};
using env_ptr = std::unique_ptr<MDB_env, env_deleter>;

// Positions are keyed by source name, a NUL, and the partition big-endian, so a cursor
// lists them in order.
std::string position_key(const std::string& source, std::int32_t partition) {
    std::string key = source;
    key.push_back('\0');
    const auto p = static_cast<std::uint32_t>(partition);
    for (int shift = 24; shift >= 0; shift -= 8) {
        key.push_back(static_cast<char>((p >> shift) & 0xff));
    }
    return key;
}

}  // namespace

void lmdb_options::validate() const {
    if (path.empty()) {
        throw error(errc::invalid_config, "lmdb_options: path must not be empty");
    }
    if (map_size < (1U << 20) || map_size > max_map_size) {
        throw error(errc::invalid_config, "lmdb_options: map_size must be at least 1 MiB and at most max_map_size");
    }
    if (expire_chunk == 0) {
        throw error(errc::invalid_config, "lmdb_options: expire_chunk must be at least 1");
    }
}

// Free space below which a failed write is taken for a full filesystem: less than any
// store in use needs to grow.
constexpr std::uint64_t nearly_full_bytes = 16ULL << 20;

// The lock that keeps a second writing process away: two runtimes writing one store
// would overwrite each other's profiles from their own caches.
class writer_lock {
public:
    writer_lock() = default;
    writer_lock(const writer_lock&) = delete;
    writer_lock& operator=(const writer_lock&) = delete;
    ~writer_lock() {
        if (fd_ >= 0) {
            ::close(fd_);  // releases the flock
        }
    }
    void acquire(const std::string& dir) {
        const auto path = dir + "/rtcrm-writer.lock";
        fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd_ < 0) {
            throw error(std::error_code(errno, std::generic_category()), fmt::format("lmdb_store: cannot create {}", path));
        }
        if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
            const int why = errno;
            if (why != EWOULDBLOCK) {
                throw error(std::error_code(why, std::generic_category()), fmt::format("lmdb_store: cannot lock {}", path));
            }
            // The holder wrote its pid into the file: name it, so the operator knows whom to stop.
            char text[32] = {};
            const auto n = ::pread(fd_, text, sizeof text - 1, 0);
            const std::string holder = n > 0 ? std::string(text, static_cast<std::size_t>(n)) : std::string{};
            const bool numeric = !holder.empty() && holder.find_first_not_of("0123456789") == std::string::npos;
            throw error(std::error_code(EBUSY, std::generic_category()),
                        fmt::format("lmdb_store: the LMDB store at {} is in use by another process{} (it holds {}); "
                                    "stop that process or use another store path",
                                    dir, numeric ? " (pid " + holder + ")" : std::string{}, path));
        }
        const auto pid = std::to_string(::getpid());
        if (::ftruncate(fd_, 0) == 0) {
            (void)!::pwrite(fd_, pid.data(), pid.size(), 0);
        }
    }

private:
    int fd_ = -1;
};

struct lmdb_store::impl {
    lmdb_options options;
    writer_lock writer;
    env_ptr env;
    MDB_dbi profiles = 0;
    MDB_dbi positions = 0;
    MDB_dbi tallies = 0;
    bool has_tallies = false;       // false only for a reader of a store written before "tallies"
    lmdb_detail::due_index due;     // in the profiles' write transactions
    std::mutex write_mutex;         // LMDB has one writer at a time; so do we
    std::shared_mutex resize_mutex; // transactions shared; growing the map exclusive
    std::size_t map_size = 0;

    // The failure a caller sees: the code, and the directory, the step and why.
    [[nodiscard]] failure fail(std::error_code ec, std::string_view what) const {
        return {ec, fmt::format("lmdb_store {}: {}: {}", options.path, what, ec.message())};
    }
    [[nodiscard]] failure fail(const failure& why, std::string_view what) const {
        return {why.code, fmt::format("lmdb_store {}: {}: {}", options.path, what, why.reason)};
    }

    // A failed write or sync, with its likely cause. LMDB reports a short write (what a
    // full filesystem or the file size limit gives) as EIO, and passes write and fsync
    // errors on as they are; so an EIO (or ENOSPC, EFBIG) is checked against the
    // filesystem's free space and RLIMIT_FSIZE, and the failure carries what was found.
    [[nodiscard]] failure write_failure(int rc, std::string_view what) const {
        if (rc == MDB_PANIC) {
            return fail(lmdb_error(rc), fmt::format("{} (an earlier write failed half-way: the store must be reopened; "
                                                    "restart the process)",
                                                    what));
        }
        if (rc != EIO && rc != ENOSPC && rc != EFBIG) {
            return fail(lmdb_error(rc), what);
        }
        const auto data = options.path + "/data.mdb";
        std::string found;
        struct rlimit limit {};
        struct stat st {};
        if (::getrlimit(RLIMIT_FSIZE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY && ::stat(data.c_str(), &st) == 0 &&
            static_cast<std::uint64_t>(st.st_size) + 65536 >= limit.rlim_cur) {
            return {std::error_code(EFBIG, std::generic_category()),
                    fmt::format("lmdb_store {}: {}: {} has {} bytes and the file size limit (RLIMIT_FSIZE, ulimit -f) "
                                "is {} bytes (LMDB says: {})",
                                options.path, what, data, st.st_size, limit.rlim_cur, mdb_strerror(rc))};
        }
        struct statvfs fs {};
        if (::statvfs(options.path.c_str(), &fs) == 0) {
            // Root may use the reserved blocks too.
            const auto blocks = ::geteuid() == 0 ? fs.f_bfree : fs.f_bavail;
            const auto free_bytes = static_cast<std::uint64_t>(blocks) * fs.f_frsize;
            if (rc == ENOSPC || free_bytes < nearly_full_bytes) {
                return {std::error_code(ENOSPC, std::generic_category()),
                        fmt::format("lmdb_store {}: {}: no space left on device: the filesystem of {} has {} bytes free "
                                    "(LMDB says: {})",
                                    options.path, what, options.path, free_bytes, mdb_strerror(rc))};
            }
            found = fmt::format("; the filesystem has {} bytes free", free_bytes);
        }
        return {std::error_code(rc, std::generic_category()),
                fmt::format("lmdb_store {}: {}: {}: writing or syncing {} failed{} (see the kernel log for the device)",
                            options.path, what, mdb_strerror(rc), data, found)};
    }

    // Doubles the map. Called with no transaction of ours open.
    std::error_code grow() {
        std::unique_lock lock(resize_mutex);
        if (map_size >= options.max_map_size) {
            return lmdb_error(MDB_MAP_FULL);
        }
        const auto next = std::min(map_size * 2, options.max_map_size);
        if (const int rc = mdb_env_set_mapsize(env.get(), next); rc != 0) {
            return lmdb_error(rc);
        }
        map_size = next;
        return {};
    }

    int write_once(const write_batch& batch, std::string& scratch) {
        std::shared_lock lock(resize_mutex);
        transaction txn;
        if (const int rc = transaction::begin(env.get(), 0, txn); rc != 0) {
            return rc;
        }
        // The tallies first: few and small, and a later step that fails aborts them too.
        if (const int rc = lmdb_detail::add_tallies(txn.native_handle(), tallies, batch.tallies); rc != 0) {
            return rc;
        }
        for (const auto& p : batch.profiles) {
            scratch.clear();
            encode_profile(p, scratch);
            MDB_val key = as_val(p.key().text());
            MDB_val value = as_val(scratch);
            if (const int rc = mdb_put(txn.native_handle(), profiles, &key, &value, 0); rc != 0) {
                return rc;
            }
            if (const int rc = due.update(txn.native_handle(), p.key().text(), p.next_timer_due()); rc != 0) {
                return rc;
            }
        }
        for (const auto& k : batch.erased) {
            MDB_val key = as_val(k.text());
            if (const int rc = mdb_del(txn.native_handle(), profiles, &key, nullptr); rc != 0 && rc != MDB_NOTFOUND) {
                return rc;
            }
            if (const int rc = due.update(txn.native_handle(), k.text(), std::nullopt); rc != 0) {
                return rc;
            }
        }
        for (const auto& pos : batch.positions) {
            const auto k = position_key(pos.source, pos.partition);
            MDB_val key = as_val(k);
            MDB_val old{};
            std::int64_t offset = pos.offset;
            if (mdb_get(txn.native_handle(), positions, &key, &old) == 0 && old.mv_size == sizeof offset) {
                std::int64_t stored = 0;
                std::memcpy(&stored, old.mv_data, sizeof stored);
                offset = std::max(offset, stored);
            }
            MDB_val value{sizeof offset, &offset};
            if (const int rc = mdb_put(txn.native_handle(), positions, &key, &value, 0); rc != 0) {
                return rc;
            }
        }
        return txn.commit();
    }
};

lmdb_store::lmdb_store(lmdb_options options) : impl_(std::make_unique<impl>()) {
    options.validate();
    auto& d = *impl_;
    d.options = std::move(options);
    const auto& path = d.options.path;
    std::error_code fs_ec;
    if (d.options.read_only && !std::filesystem::exists(path, fs_ec)) {
        throw error(errc::io_error, fmt::format("lmdb_store: {} does not exist (nothing to read)", path));
    }
    if (!d.options.read_only) {
        std::filesystem::create_directories(path, fs_ec);
    }
    if (std::error_code ec; std::filesystem::exists(path, ec) && !std::filesystem::is_directory(path, ec)) {
        throw error(errc::io_error, fmt::format("lmdb_store: {} is a file; the store path names a directory (LMDB "
                                                "keeps data.mdb and lock.mdb in it)",
                                                path));
    }
    if (fs_ec || !std::filesystem::is_directory(path)) {
        throw error(errc::io_error, fmt::format("lmdb_store: cannot create the directory {}: {}", path,
                                                fs_ec ? fs_ec.message() : "a file is in the way"));
    }
    auto fail = [&](int rc, const char* what) {
        throw error(errc::io_error, fmt::format("lmdb_store: {}: {}: {}", path, what, mdb_strerror(rc)));
    };
    if (!d.options.read_only) {
        d.writer.acquire(path);
    }
    MDB_env* raw = nullptr;
    if (const int rc = mdb_env_create(&raw); rc != 0) {
        fail(rc, "cannot create an environment");
    }
    d.env.reset(raw);
    mdb_env_set_maxdbs(raw, 8);  // profiles, positions, the two of the due-time index, tallies; room to grow
    if (const int rc = mdb_env_set_mapsize(raw, d.options.map_size); rc != 0) {
        fail(rc, "cannot set the map size");
    }
    // MDB_NOTLS: read transactions are not tied to threads (shards share the store).
    const unsigned flags = MDB_NOTLS | (d.options.sync ? 0U : MDB_NOSYNC) | (d.options.read_only ? MDB_RDONLY : 0U);
    if (const int rc = mdb_env_open(raw, path.c_str(), flags, 0644); rc != 0) {
        fail(rc, "cannot open (is it an LMDB environment of this version, and writable?)");
    }
    MDB_envinfo info{};
    mdb_env_info(raw, &info);
    d.map_size = std::max<std::size_t>(info.me_mapsize, d.options.map_size);
    // The schema in one transaction; filling a new due-time index may need a larger map.
    for (;;) {
        std::uint64_t undecodable = 0;
        int rc = 0;
        const char* step = "cannot open or fill the due-time index of pending timers";
        {
            transaction txn;
            if (rc = transaction::begin(raw, d.options.read_only ? MDB_RDONLY : 0U, txn); rc != 0) {
                fail(rc, "cannot begin a transaction");
            }
            const unsigned create = d.options.read_only ? 0U : MDB_CREATE;
            if (rc = mdb_dbi_open(txn.native_handle(), "profiles", create, &d.profiles); rc != 0) {
                fail(rc, "cannot open the profiles database");
            }
            if (rc = mdb_dbi_open(txn.native_handle(), "positions", create, &d.positions); rc != 0) {
                fail(rc, "cannot open the positions database");
            }
            // A writer creates it in a store written before it existed; a reader of such a
            // store finds no tallies.
            rc = mdb_dbi_open(txn.native_handle(), "tallies", create, &d.tallies);
            if (rc != 0 && !(rc == MDB_NOTFOUND && d.options.read_only)) {
                fail(rc, "cannot open the tallies database");
            }
            d.has_tallies = rc == 0;
            rc = d.due.open(txn.native_handle(), d.profiles, !d.options.read_only, undecodable);
            if (rc == 0) {
                step = "cannot commit the schema";
                rc = txn.commit();
            }
        }  // aborted unless committed: the map may grow only with no transaction open
        if (rc == MDB_MAP_FULL) {
            if (const auto ec = d.grow(); !ec) {
                continue;
            }
        }
        if (rc != 0) {
            fail(rc, step);
        }
        if (undecodable > 0 && log_enabled(log_level::warning)) {
            log(log_level::warning, "store",
                fmt::format("lmdb_store {}: {} profile(s) do not decode: their timers are not in the due-time index",
                            path, undecodable));
        }
        return;
    }
}

lmdb_store::~lmdb_store() = default;

result<void> lmdb_store::get(std::span<const player_key> keys, std::span<std::optional<profile>> out) {
    auto& d = *impl_;
    std::shared_lock lock(d.resize_mutex);
    transaction txn;
    if (const int rc = transaction::begin(d.env.get(), MDB_RDONLY, txn); rc != 0) {
        return d.fail(lmdb_error(rc), "begin read");
    }
    for (std::size_t i = 0; i < keys.size() && i < out.size(); ++i) {
        MDB_val key = as_val(keys[i].text());
        MDB_val value{};
        const int rc = mdb_get(txn.native_handle(), d.profiles, &key, &value);
        if (rc == MDB_NOTFOUND) {
            out[i].reset();
            continue;
        }
        if (rc != 0) {
            return d.fail(lmdb_error(rc), fmt::format("get {}", keys[i].text()));
        }
        auto decoded = decode_profile(as_view(value));
        if (!decoded) {
            return d.fail(decoded.error(), fmt::format("profile {}", keys[i].text()));
        }
        out[i] = std::move(decoded).value();
    }
    return {};
}

result<void> lmdb_store::write(const write_batch& batch) {
    auto& d = *impl_;
    if (batch.empty()) {
        return {};
    }
    if (const auto refused = lmdb_detail::refuse_tally_names(batch.tallies, mdb_env_get_maxkeysize(d.env.get()))) {
        return failure{make_error_code(errc::store_error), fmt::format("lmdb_store {}: write: {}", d.options.path, *refused)};
    }
    std::lock_guard lock(d.write_mutex);
    std::string scratch;
    for (;;) {
        const int rc = d.write_once(batch, scratch);
        if (rc == 0) {
            return {};
        }
        if (rc != MDB_MAP_FULL) {
            return d.write_failure(rc, "write");
        }
        if (const auto ec = d.grow(); ec) {
            return d.fail(ec, fmt::format("the map is full at {} bytes", d.map_size));
        }
    }
}

result<expiry_result> lmdb_store::expire(const expiry_policy& policy, std::int64_t now_ms) {
    auto& d = *impl_;
    if (d.options.read_only) {
        return d.fail(lmdb_error(EACCES), "expire on a read-only store");
    }
    // Chunks of expire_chunk profiles, each judged and changed in one write transaction:
    // a shard's write-back of the same profile commits before (and is judged) or after
    // (and stands). Between chunks the writers get their turn.
    expiry_result out;
    std::string resume_after;
    bool started = false;
    std::string scratch;
    // Profiles that do not decode are kept (never deleted on a guess) and told once per call.
    std::uint64_t undecodable = 0;
    std::string first_undecodable;
    for (;;) {
        std::lock_guard write_lock(d.write_mutex);
        std::shared_lock resize_lock(d.resize_mutex);
        transaction txn;
        if (const int rc = transaction::begin(d.env.get(), 0, txn); rc != 0) {
            return d.fail(lmdb_error(rc), "begin expire");
        }
        std::vector<std::string> erase;
        std::vector<std::pair<std::string, std::string>> rewrite;
        bool more = false;
        {
            int rc = 0;
            cursor c{txn.native_handle(), d.profiles, rc};
            if (rc != 0) {
                return d.fail(lmdb_error(rc), "open cursor");
            }
            MDB_val key = as_val(resume_after);
            MDB_val value{};
            rc = mdb_cursor_get(c.native_handle(), &key, &value, started ? MDB_SET_RANGE : MDB_FIRST);
            if (started && rc == 0 && as_view(key) == resume_after) {
                rc = mdb_cursor_get(c.native_handle(), &key, &value, MDB_NEXT);
            }
            std::size_t judged = 0;
            for (; rc == 0 && judged < d.options.expire_chunk; ++judged) {
                auto decoded = decode_profile(as_view(value));
                if (decoded) {
                    switch (apply_expiry(decoded.value(), policy, now_ms)) {
                    case expiry_verdict::expired: erase.emplace_back(as_view(key)); break;
                    case expiry_verdict::trimmed:
                        scratch.clear();
                        encode_profile(decoded.value(), scratch);
                        rewrite.emplace_back(as_view(key), scratch);
                        break;
                    case expiry_verdict::keep: break;
                    }
                } else if (undecodable++ == 0) {
                    first_undecodable = fmt::format("{}: {}", as_view(key), decoded.error().reason);
                }
                resume_after.assign(as_view(key));
                rc = mdb_cursor_get(c.native_handle(), &key, &value, MDB_NEXT);
            }
            if (rc != 0 && rc != MDB_NOTFOUND) {
                return d.fail(lmdb_error(rc), "expire");
            }
            more = rc == 0;
        }
        started = true;
        for (const auto& k : erase) {
            MDB_val key = as_val(k);
            if (const int rc = mdb_del(txn.native_handle(), d.profiles, &key, nullptr); rc != 0) {
                return d.fail(lmdb_error(rc), fmt::format("expire {}", k));
            }
            if (const int rc = d.due.update(txn.native_handle(), k, std::nullopt); rc != 0) {
                return d.fail(lmdb_error(rc), fmt::format("expire {}: due-time index", k));
            }
        }
        for (const auto& [k, v] : rewrite) {
            MDB_val key = as_val(k);
            MDB_val value = as_val(v);
            if (const int rc = mdb_put(txn.native_handle(), d.profiles, &key, &value, 0); rc != 0) {
                return d.fail(lmdb_error(rc), fmt::format("trim {}", k));
            }
        }
        if (const int rc = txn.commit(); rc != 0) {
            return d.write_failure(rc, "commit expire");
        }
        out.expired += erase.size();
        out.trimmed += rewrite.size();
        if (!more) {
            if (undecodable > 0 && log_enabled(log_level::warning)) {
                log(log_level::warning, "store",
                    fmt::format("lmdb_store {}: expire: {} profile(s) do not decode and were kept (first: {})",
                                d.options.path, undecodable, first_undecodable));
            }
            return out;
        }
    }
}

// Visits the profiles with keys in [from, to) (an empty bound is open) in one read
// transaction: a snapshot of that range.
result<void> lmdb_store::scan_range(const std::string& from, const std::string& to, const profile_visitor& visit) {
    auto& d = *impl_;
    std::shared_lock lock(d.resize_mutex);
    transaction txn;
    if (const int rc = transaction::begin(d.env.get(), MDB_RDONLY, txn); rc != 0) {
        return d.fail(lmdb_error(rc), "begin read");
    }
    int rc = 0;
    cursor c{txn.native_handle(), d.profiles, rc};
    if (rc != 0) {
        return d.fail(lmdb_error(rc), "open cursor");
    }
    MDB_val key = as_val(from);
    MDB_val value{};
    for (rc = mdb_cursor_get(c.native_handle(), &key, &value, from.empty() ? MDB_FIRST : MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(c.native_handle(), &key, &value, MDB_NEXT)) {
        if (!to.empty() && as_view(key) >= to) {
            return {};
        }
        auto decoded = decode_profile(as_view(value));
        if (!decoded) {
            return d.fail(decoded.error(), fmt::format("profile {}", as_view(key)));
        }
        if (!visit(decoded.value())) {
            return {};
        }
    }
    if (rc != MDB_NOTFOUND) {
        return d.fail(lmdb_error(rc), "scan");
    }
    return {};
}

result<void> lmdb_store::scan(const profile_visitor& visit) { return scan_range({}, {}, visit); }

result<void> lmdb_store::scan_parallel(std::size_t workers, const visitor_factory& make) {
    auto& d = *impl_;
    workers = std::max<std::size_t>(workers, 1);
    // Split points: every (entries / workers)-th key, found in one pass over the keys
    // (the values are not decoded).
    std::vector<std::string> bounds{std::string{}};
    {
        std::shared_lock lock(d.resize_mutex);
        transaction txn;
        if (const int rc = transaction::begin(d.env.get(), MDB_RDONLY, txn); rc != 0) {
            return d.fail(lmdb_error(rc), "begin read");
        }
        MDB_stat stat{};
        mdb_stat(txn.native_handle(), d.profiles, &stat);
        const std::size_t step = std::max<std::size_t>(1, (stat.ms_entries + workers - 1) / workers);
        int rc = 0;
        cursor c{txn.native_handle(), d.profiles, rc};
        if (rc != 0) {
            return d.fail(lmdb_error(rc), "open cursor");
        }
        MDB_val key{};
        MDB_val value{};
        std::size_t n = 0;
        for (rc = mdb_cursor_get(c.native_handle(), &key, &value, MDB_FIRST); rc == 0 && bounds.size() < workers;
             rc = mdb_cursor_get(c.native_handle(), &key, &value, MDB_NEXT)) {
            if (n > 0 && n % step == 0) {
                bounds.emplace_back(as_view(key));
            }
            ++n;
        }
    }
    bounds.emplace_back();  // the last range is open at the end
    std::vector<result<void>> results(bounds.size() - 1);
    {
        std::vector<std::jthread> threads;  // joined at the end of this block
        for (std::size_t w = 0; w + 1 < bounds.size(); ++w) {
            threads.emplace_back([&, w, visit = make(w)] { results[w] = scan_range(bounds[w], bounds[w + 1], visit); });
        }
    }
    for (auto& r : results) {
        if (!r) {
            return r;
        }
    }
    return {};
}

result<due_page> lmdb_store::due_timers(std::int64_t until_ms, const std::optional<due_entry>& after,
                                        std::size_t limit, const player_filter& accept) {
    auto& d = *impl_;
    if (!d.due.available()) {
        return profile_store::due_timers(until_ms, after, limit, accept);
    }
    std::shared_lock lock(d.resize_mutex);
    transaction txn;
    if (const int rc = transaction::begin(d.env.get(), MDB_RDONLY, txn); rc != 0) {
        return d.fail(lmdb_error(rc), "begin read");
    }
    due_page page;
    if (const int rc = d.due.page(txn.native_handle(), until_ms, after, limit, accept, page); rc != 0) {
        return d.fail(lmdb_error(rc), "due timers");
    }
    return page;
}

result<void> lmdb_store::flush() {
    if (const int rc = mdb_env_sync(impl_->env.get(), 1); rc != 0) {
        return impl_->write_failure(rc, "sync");
    }
    return {};
}

std::vector<source_position> lmdb_store::positions() {
    auto& d = *impl_;
    std::vector<source_position> out;
    std::shared_lock lock(d.resize_mutex);
    transaction txn;
    if (transaction::begin(d.env.get(), MDB_RDONLY, txn) != 0) {
        return out;
    }
    // A failed read answers the positions read so far: this method has no failure to give.
    (void)for_each_entry(txn.native_handle(), d.positions, [&](const MDB_val& key, const MDB_val& value) {
        const auto k = as_view(key);
        if (k.size() < 5 || value.mv_size != sizeof(std::int64_t)) {
            return 0;
        }
        const auto* p = reinterpret_cast<const unsigned char*>(k.data() + k.size() - 4);
        const auto partition = static_cast<std::int32_t>((std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                                                         (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]});
        std::int64_t offset = 0;
        std::memcpy(&offset, value.mv_data, sizeof offset);
        out.push_back(source_position{std::string{k.substr(0, k.size() - 5)}, partition, offset});
        return 0;
    });
    return out;
}

result<std::vector<tally>> lmdb_store::tallies() {
    auto& d = *impl_;
    std::vector<tally> out;
    if (!d.has_tallies) {
        return out;
    }
    std::shared_lock lock(d.resize_mutex);
    transaction txn;
    if (const int rc = transaction::begin(d.env.get(), MDB_RDONLY, txn); rc != 0) {
        return d.fail(lmdb_error(rc), "begin read");
    }
    std::string corrupt;
    if (const int rc = lmdb_detail::read_tallies(txn.native_handle(), d.tallies, out, corrupt); rc != 0) {
        return d.fail(lmdb_error(rc), corrupt.empty() ? std::string{"read tallies"} : corrupt);
    }
    return out;
}

std::size_t lmdb_store::map_size() const {
    std::shared_lock lock(impl_->resize_mutex);
    return impl_->map_size;
}

}  // namespace rtcrm
