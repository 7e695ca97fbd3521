// rtcrm-custom-store [JOURNAL]: your own profile store, plugged into rtcrm.
//
// `journal_store` keeps every profile in a std::map behind one mutex and appends each
// write batch to a journal file (default custom-store.journal), replayed when it opens:
// profiles survive a restart. main() runs the Bob demo over it (generated traffic, the Lua
// scripts of lua/examples, triggers as NDJSON on stdout) and prints what the store holds.
// The comments say what a real backend (LMDB, Cassandra, ...) does differently.
#include <rtcrm/core/generator_source.hpp>
#include <rtcrm/core/ndjson_sink.hpp>
#include <rtcrm/core/profile_codec.hpp>
#include <rtcrm/core/runtime.hpp>
#include <rtcrm/lua/lua_engine.hpp>

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>

namespace {

// A frame is [u32 length][payload]; the payload holds entries tagged 'P' (a profile), 'E'
// (an erased key), 'S' (a source position), in native byte order. `ok` turns false at the
// first short read.
struct reader {
    std::string_view in;
    bool ok = true;
    std::string_view take(std::size_t n) {
        ok = ok && in.size() >= n;
        const auto s = in.substr(0, ok ? n : 0);
        in.remove_prefix(s.size());
        return s;
    }
    template <typename T>
    T num() {
        T v{};
        const auto s = take(sizeof v);
        std::memcpy(&v, s.data(), s.size());
        return v;
    }
    std::string_view bytes() { return take(num<std::uint32_t>()); }
};

template <typename T>
void put(std::string& out, T v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

void put_bytes(std::string& out, std::string_view s, char tag = '\0') {  // an entry has a tag, a frame none
    if (tag != '\0') {
        out += tag;
    }
    put(out, static_cast<std::uint32_t>(s.size()));
    out.append(s);
}

class journal_store final : public rtcrm::profile_store {
public:
    // Opens or creates the journal and replays it; construction errors throw rtcrm::error.
    // The first frame that is not whole is a write torn by a crash, which never completed:
    // the file is cut there. (A real log adds a CRC per frame, and compacts its history.)
    explicit journal_store(const std::string& path) : path_(path) {
        std::ifstream in(path, std::ios::binary);
        const std::string data{std::istreambuf_iterator<char>(in), {}};
        std::size_t good = 0;  // bytes of whole frames
        reader r{data};
        for (auto payload = r.bytes(); r.ok && replay(payload); payload = r.bytes()) {
            good = data.size() - r.in.size();
        }
        fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd_ < 0 || ::ftruncate(fd_, static_cast<off_t>(good)) != 0) {
            throw rtcrm::error(std::error_code(errno, std::generic_category()), "journal_store: " + path);
        }
    }
    ~journal_store() override { ::close(fd_); }

    // A short name for logs and metrics.
    [[nodiscard]] std::string_view name() const noexcept override { return "journal"; }

    // Batched load: out[i] gets keys[i]'s profile, or nullopt ("not found" is no error).
    // Every operation returns success ({}) or a failure: a code the runtime decides on
    // (retry, dead-letter) and a reason for the logs that names the store and the step.
    rtcrm::result<void> get(std::span<const rtcrm::player_key> keys,
                            std::span<std::optional<rtcrm::profile>> out) override {
        std::lock_guard lock(mutex_);
        for (std::size_t i = 0; i < keys.size() && i < out.size(); ++i) {
            const auto it = profiles_.find(keys[i].text());
            out[i] = it == profiles_.end() ? std::nullopt : std::optional{it->second};
        }
        return {};
    }

    // All or nothing: the batch is one frame, on disk before the map changes. The runtime
    // retries a failed write (a frame replayed twice just sets the same values again).
    rtcrm::result<void> write(const rtcrm::write_batch& batch) override {
        std::string payload;  // built outside the lock: the shards keep reading meanwhile
        for (const auto& p : batch.profiles) {
            std::string bytes;
            rtcrm::encode_profile(p, bytes);  // the codec the LMDB store uses
            put_bytes(payload, bytes, 'P');
        }
        for (const auto& key : batch.erased) {
            put_bytes(payload, key.text(), 'E');
        }
        for (const auto& pos : batch.positions) {
            put_bytes(payload, pos.source, 'S');
            put(payload, pos.partition);
            put(payload, pos.offset);
        }
        std::string frame;
        put_bytes(frame, payload);
        std::lock_guard lock(mutex_);
        if (broken_) {
            return {
                rtcrm::errc::store_error,
                fmt::format("journal_store {}: write: a failed write could not be cut off; reopen the store", path_)};
        }
        const off_t end = ::lseek(fd_, 0, SEEK_END);
        errno = 0;
        if (::write(fd_, frame.data(), frame.size()) != static_cast<ssize_t>(frame.size()) || ::fdatasync(fd_) != 0) {
            const std::error_code ec(errno != 0 ? errno : EIO, std::generic_category());
            broken_ = ::ftruncate(fd_, end) != 0;  // a torn frame left inside would hide every later one
            return rtcrm::failure{ec, fmt::format("journal_store {}: write: {}", path_, ec.message())};
        }
        apply(batch);
        return {};
    }

    // Visits every profile until the visitor returns false: a consistent snapshot, under the
    // lock (writes wait; a real store reads an MVCC snapshot). `scan_parallel` and `expire`
    // keep their defaults: this scan on the calling thread; `store_error` (no TTL sweep).
    rtcrm::result<void> scan(const rtcrm::profile_visitor& visit) override {
        std::lock_guard lock(mutex_);
        for (const auto& [key, p] : profiles_) {
            if (!visit(p)) {
                break;
            }
        }
        return {};
    }

    // Makes everything written so far survive a power cut: done, each write fdatasyncs.
    rtcrm::result<void> flush() override { return {}; }

    // The source positions of earlier writes, the latest per source and partition.
    [[nodiscard]] std::vector<rtcrm::source_position> positions() override {
        std::lock_guard lock(mutex_);
        std::vector<rtcrm::source_position> out;
        for (const auto& [where, offset] : positions_) {
            out.push_back({where.first, where.second, offset});
        }
        return out;
    }

    // True: a completed write survives the process, so the runtime acks each event only
    // after the group commit holding its effects, and resumes resumable sources from here.
    [[nodiscard]] bool durable() const noexcept override { return true; }

    [[nodiscard]] std::size_t size() const {
        std::lock_guard lock(mutex_);
        return profiles_.size();
    }

private:
    // Decodes one frame's payload and applies it; false (nothing applied) if it is damaged.
    bool replay(std::string_view payload) {
        rtcrm::write_batch b;
        reader r{payload};
        while (r.ok && !r.in.empty()) {
            const char tag = r.num<char>();
            if (tag == 'P') {
                auto p = rtcrm::decode_profile(r.bytes());
                if (!p) {
                    return false;
                }
                b.profiles.push_back(std::move(p).value());
            } else if (tag == 'E') {
                b.erased.emplace_back(std::string{r.bytes()});
            } else if (tag == 'S') {
                const auto source = r.bytes();
                const auto partition = r.num<std::int32_t>();
                b.positions.push_back({std::string{source}, partition, r.num<std::int64_t>()});
            } else {
                r.ok = false;
            }
        }
        if (r.ok) {
            apply(b);  // whole frames only: all or nothing, as when it was written
        }
        return r.ok;
    }

    void apply(const rtcrm::write_batch& batch) {  // mutex_ held, or still constructing
        for (const auto& p : batch.profiles) {
            profiles_.insert_or_assign(std::string{p.key().text()}, p);
        }
        for (const auto& key : batch.erased) {
            profiles_.erase(std::string{key.text()});
        }
        for (const auto& pos : batch.positions) {
            auto [it, added] = positions_.try_emplace({pos.source, pos.partition}, pos.offset);
            it->second = std::max(it->second, pos.offset);
        }
    }

    std::string path_;
    int fd_ = -1;
    bool broken_ = false;       // a failed write could not be undone: refuse the next ones
    mutable std::mutex mutex_;  // one lock for everything: simple, and plenty for a demo
    std::map<std::string, rtcrm::profile, std::less<>> profiles_;             // by key text; a real store: on disk
    std::map<std::pair<std::string, std::int32_t>, std::int64_t> positions_;  // (source, partition) -> offset
};

}  // namespace

int main(int argc, char** argv) try {
    const std::string journal = argc > 1 ? argv[1] : "custom-store.journal";
    auto store = std::make_shared<journal_store>(journal);
    fmt::print("journal {}: {} profiles at open\n", journal, store->size());

    auto engine = std::make_shared<rtcrm::lua_engine>(rtcrm::lua_options{.script_dir = "lua/examples"});
    rtcrm::topology t;
    t.add_source(std::make_unique<rtcrm::generator_source>(
                     rtcrm::generator_options{.events = 20000, .players = 100, .seed = 7, .scenario = "bob"}))
        .add_shard_bolt(engine->make_bolt_factory())
        .add_sink(rtcrm::stream::main, std::make_shared<rtcrm::ndjson_sink>(rtcrm::ndjson_sink_options{.path = "-"}))
        .with_store(store)
        .with_options({.shards = 2});
    rtcrm::runtime rt{std::move(t)};
    rt.run();  // until the generator ends; the drain writes every profile back
    fmt::print(stderr, "rtcrm: {}\n", rt.stats().summary());

    // Bob, read back through the store's own get(), as a shard would.
    const std::vector<rtcrm::player_key> bob{rtcrm::player_key{4242}};
    std::vector<std::optional<rtcrm::profile>> found(1);
    if (const auto got = store->get(bob, found); !got) {
        fmt::print(stderr, "rtcrm-custom-store: {}\n", got.error().reason);
        return 1;
    }
    if (!found[0]) {
        fmt::print(stderr, "rtcrm-custom-store: Bob has no profile\n");
        return 1;
    }
    // Attributes and counters of the Lua updaters, and campaign 3's firings ("triggers").
    fmt::print("store: {} profiles\nbob: {}\n", store->size(), found[0]->to_json());
    return 0;
} catch (const std::exception& e) {
    fmt::print(stderr, "rtcrm-custom-store: {}\n", e.what());
    return 1;
}
