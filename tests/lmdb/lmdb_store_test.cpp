#include <rtcrm/core/error.hpp>
#include <rtcrm/core/profile_codec.hpp>
#include <rtcrm/lmdb/lmdb_store.hpp>

#include "support/result_assertions.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <lmdb.h>
#include <csignal>
#include <functional>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>

namespace {

using rtcrm::testing::succeeded;

namespace fs = std::filesystem;

class lmdb_store_test : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / fmt::format("rtcrm_lmdb_test_{}", ::getpid());
        fs::remove_all(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    fs::path dir_;
};

TEST_F(lmdb_store_test, reopening_returns_byte_identical_profiles_and_positions) {
    std::vector<std::string> written;
    {
        rtcrm::lmdb_store store{{.path = dir_.string()}};
        rtcrm::write_batch batch;
        for (int i = 1; i <= 100; ++i) {
            rtcrm::profile p{rtcrm::player_key{i}};
            p.set("level", std::int64_t{i});
            p.record_event("login", i, "e");
            batch.profiles.push_back(p);
            written.emplace_back();
            rtcrm::encode_profile(p, written.back());
        }
        batch.positions = {{"kafka:raw", 3, 99}};
        ASSERT_TRUE(succeeded(store.write(batch)));
        ASSERT_TRUE(succeeded(store.flush()));
    }
    rtcrm::lmdb_store store{{.path = dir_.string()}};
    for (int i = 1; i <= 100; ++i) {
        std::vector<rtcrm::player_key> keys{rtcrm::player_key{i}};
        std::vector<std::optional<rtcrm::profile>> out(1);
        ASSERT_TRUE(succeeded(store.get(keys, out)));
        ASSERT_TRUE(out[0]);
        std::string bytes;
        rtcrm::encode_profile(*out[0], bytes);
        EXPECT_EQ(bytes, written[static_cast<std::size_t>(i - 1)]);
    }
    const auto positions = store.positions();
    ASSERT_EQ(positions.size(), 1U);
    EXPECT_EQ(positions[0], (rtcrm::source_position{"kafka:raw", 3, 99}));
}

TEST_F(lmdb_store_test, the_map_grows_when_full) {
    rtcrm::lmdb_store store{{.path = dir_.string(), .map_size = 1 << 20, .sync = false}};
    const auto before = store.map_size();
    rtcrm::write_batch batch;
    for (int i = 0; i < 3000; ++i) {
        rtcrm::profile p{rtcrm::player_key{i}};
        p.set("blob", std::string(1000, 'y'));
        batch.profiles.push_back(std::move(p));
    }
    ASSERT_TRUE(succeeded(store.write(batch)));
    EXPECT_GT(store.map_size(), before);
}

TEST_F(lmdb_store_test, a_full_map_at_its_limit_is_a_clear_error) {
    rtcrm::lmdb_store store{{.path = dir_.string(), .map_size = 1 << 20, .max_map_size = 1 << 20, .sync = false}};
    rtcrm::write_batch batch;
    for (int i = 0; i < 3000; ++i) {
        rtcrm::profile p{rtcrm::player_key{i}};
        p.set("blob", std::string(1000, 'y'));
        batch.profiles.push_back(std::move(p));
    }
    const auto written = store.write(batch);
    ASSERT_FALSE(written);
    EXPECT_NE(written.error().reason.find("full"), std::string::npos) << written.error().reason;
    EXPECT_NE(written.error().reason.find(dir_.string()), std::string::npos) << written.error().reason;
}

TEST_F(lmdb_store_test, a_foreign_file_in_place_of_the_store_is_named) {
    fs::create_directories(dir_);
    std::ofstream(dir_ / "data.mdb") << std::string(8192, 'z');
    try {
        rtcrm::lmdb_store store{{.path = dir_.string()}};
        FAIL() << "a foreign file was opened";
    } catch (const rtcrm::error& e) {
        EXPECT_NE(std::string{e.what()}.find(dir_.string()), std::string::npos) << e.what();
    }
}

TEST_F(lmdb_store_test, a_second_writer_is_refused_but_readers_are_welcome) {
    rtcrm::lmdb_store writer{{.path = dir_.string()}};
    try {
        rtcrm::lmdb_store second{{.path = dir_.string()}};
        FAIL() << "a second writer opened the store";
    } catch (const rtcrm::error& e) {
        EXPECT_NE(std::string{e.what()}.find("in use"), std::string::npos) << e.what();
    }
    rtcrm::write_batch batch;
    batch.profiles = {rtcrm::profile{rtcrm::player_key{1}}};
    ASSERT_TRUE(succeeded(writer.write(batch)));
    rtcrm::lmdb_store reader{{.path = dir_.string(), .read_only = true}};
    int n = 0;
    ASSERT_TRUE(succeeded(reader.scan([&](const rtcrm::profile&) { return ++n, true; })));
    EXPECT_EQ(n, 1);
    EXPECT_FALSE(reader.write(batch));  // read-only
}

TEST_F(lmdb_store_test, a_reader_of_a_missing_store_creates_nothing) {
    EXPECT_THROW(rtcrm::lmdb_store({.path = dir_.string(), .read_only = true}), rtcrm::error);
    EXPECT_FALSE(fs::exists(dir_));
}

TEST_F(lmdb_store_test, a_file_where_the_directory_should_be_is_named) {
    std::ofstream(dir_) << "not a directory";
    for (const bool read_only : {false, true}) {
        try {
            rtcrm::lmdb_store store{{.path = dir_.string(), .read_only = read_only}};
            ADD_FAILURE() << "a file was opened as a store";
        } catch (const rtcrm::error& e) {
            EXPECT_NE(std::string{e.what()}.find(dir_.string() + " is a file; the store path names a directory"),
                      std::string::npos)
                << e.what();
        }
    }
}

}  // namespace

namespace {

// Runs `body` in a child process (for setuid and resource limits that must not touch
// the test process); returns its exit status, or 128 + the signal that killed it.
int in_child(const std::function<int()>& body) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        int status = 3;
        try {
            status = body();
        } catch (...) {
            status = 4;
        }
        ::_exit(status);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

rtcrm::write_batch big_profiles(int from, int count) {
    rtcrm::write_batch batch;
    for (int i = from; i < from + count; ++i) {
        rtcrm::profile p{rtcrm::player_key{i}};
        p.set("bio", std::string(2000, 'x'));
        batch.profiles.push_back(std::move(p));
    }
    return batch;
}

}  // namespace

TEST_F(lmdb_store_test, a_location_the_process_may_not_write_is_a_clear_error) {
    fs::create_directories(dir_ / "locked");
    const auto locked = (dir_ / "locked").string();
    // Root may write anywhere: drop to an unprivileged user in a child first.
    const int status = in_child([&] {
        if (::geteuid() == 0) {
            if (::setgid(65534) != 0 || ::setuid(65534) != 0) {
                return 10;
            }
        } else {
            fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec);
        }
        try {
            rtcrm::lmdb_store store{{.path = locked + "/profiles"}};
            return 1;  // opened where it may not write
        } catch (const rtcrm::error& e) {
            const std::string what = e.what();
            return what.find(locked) != std::string::npos && e.code() == rtcrm::errc::io_error ? 0 : 2;
        }
    });
    ASSERT_NE(status, 10) << "could not drop privileges";
    EXPECT_EQ(status, 0) << "1: opened, 2: unclear error";
}

TEST_F(lmdb_store_test, an_existing_store_that_became_read_only_is_a_clear_error) {
    {
        rtcrm::lmdb_store store{{.path = dir_.string()}};
        ASSERT_TRUE(succeeded(store.write(big_profiles(1, 3))));
    }
    const int status = in_child([&] {
        if (::geteuid() == 0) {
            if (::setgid(65534) != 0 || ::setuid(65534) != 0) {
                return 10;
            }
        } else {
            for (const auto& f : fs::directory_iterator(dir_)) {
                fs::permissions(f.path(), fs::perms::owner_read);
            }
        }
        try {
            rtcrm::lmdb_store store{{.path = dir_.string()}};
            return 1;
        } catch (const rtcrm::error& e) {
            return std::string{e.what()}.find(dir_.string()) != std::string::npos ? 0 : 2;
        }
    });
    ASSERT_NE(status, 10) << "could not drop privileges";
    EXPECT_EQ(status, 0) << "1: opened for writing, 2: unclear error";
    rtcrm::lmdb_store reader{{.path = dir_.string(), .read_only = true}};  // still readable
}

// LMDB reports a short write as EIO ("Input/output error"): the failure names the real
// cause found on the filesystem, here the file size limit.
// Another process writing the store: the message says so and names it (not "I/O error").
TEST_F(lmdb_store_test, a_store_held_by_another_process_names_that_process) {
    rtcrm::lmdb_store writer{{.path = dir_.string()}};
    const auto expected = fmt::format("the LMDB store at {} is in use by another process (pid {})", dir_.string(), ::getpid());
    const int status = in_child([&] {
        try {
            rtcrm::lmdb_store second{{.path = dir_.string()}};
            return 1;
        } catch (const rtcrm::error& e) {
            const std::string what = e.what();
            if (what.find(expected) == std::string::npos || what.find("I/O error") != std::string::npos) {
                std::fprintf(stderr, "message: %s\n", what.c_str());
                return 2;
            }
            return e.code() == std::error_code(EBUSY, std::generic_category()) ? 0 : 3;
        }
    });
    EXPECT_EQ(status, 0) << "1: opened for writing, 2: the message does not name the holder, 3: not EBUSY";
}

TEST_F(lmdb_store_test, a_write_past_the_file_size_limit_names_the_limit_not_an_io_error) {
    const int status = in_child([&] {
        rtcrm::lmdb_store store{{.path = dir_.string(), .map_size = 64ULL << 20}};
        std::signal(SIGXFSZ, SIG_IGN);
        const rlimit limit{256 * 1024, 256 * 1024};
        if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) {
            return 10;
        }
        for (int round = 0; round < 200; ++round) {
            if (const auto written = store.write(big_profiles(round * 100, 100)); !written) {
                const auto& why = written.error();
                if (why.code != std::error_code(EFBIG, std::generic_category())) {
                    std::fprintf(stderr, "code %s: %s\n", why.code.message().c_str(), why.reason.c_str());
                    return 2;
                }
                if (why.reason.find("file size limit") == std::string::npos) {
                    std::fprintf(stderr, "reason: %s\n", why.reason.c_str());
                    return 3;
                }
                return 0;
            }
        }
        return 1;
    });
    ASSERT_NE(status, 10) << "setrlimit failed";
    EXPECT_EQ(status, 0) << "1: no error, 2: not EFBIG, 3: the reason does not name the limit";
}

TEST_F(lmdb_store_test, a_full_disk_fails_the_write_with_the_path_and_no_crash) {
    // A file-size limit stands in for a full disk: writes past it fail with EFBIG (the
    // signal that would come with it is ignored, as a daemon would).
    const int status = in_child([&] {
        rtcrm::lmdb_store store{{.path = dir_.string(), .map_size = 64ULL << 20}};
        std::signal(SIGXFSZ, SIG_IGN);
        const rlimit limit{256 * 1024, 256 * 1024};
        if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) {
            return 10;
        }
        for (int round = 0; round < 200; ++round) {
            if (const auto written = store.write(big_profiles(round * 100, 100)); !written) {
                return written.error().reason.find(dir_.string()) != std::string::npos ? 0 : 2;
            }
        }
        return 1;  // 40 MB written under a 256 KiB limit?
    });
    ASSERT_NE(status, 10) << "setrlimit failed";
    EXPECT_EQ(status, 0) << "1: no error, 2: the error does not name the store, >128: crashed";
    // The store is still consistent: what was committed reads back.
    rtcrm::lmdb_store reopened{{.path = dir_.string()}};
    std::size_t n = 0;
    EXPECT_TRUE(succeeded(reopened.scan([&](const rtcrm::profile&) {
        ++n;
        return true;
    })));
    EXPECT_EQ(n % 100, 0U) << "a partial batch was committed";
}

// --- the due-time index of pending timers -------------------------------------------------

namespace {

constexpr std::int64_t t0 = 1'763'800'000'000;

rtcrm::profile waiting(std::int64_t id, std::int64_t due) {
    rtcrm::profile p{rtcrm::player_key{id}};
    p.record_event("login", t0, "e");
    p.set_timer("winback", due);
    return p;
}

std::vector<rtcrm::due_entry> all_due(rtcrm::profile_store& store) {
    auto page = store.due_timers(std::numeric_limits<std::int64_t>::max(), std::nullopt, 1000, nullptr);
    EXPECT_TRUE(succeeded(page));
    return page ? page.value().entries : std::vector<rtcrm::due_entry>{};
}

// Writes `profiles` (raw, keyed by key text, in the codec) into an environment as a store
// without the due-time index left it: only the "profiles" and "positions" databases.
void write_raw(const fs::path& dir, const std::vector<std::pair<std::string, std::string>>& profiles, bool create) {
    fs::create_directories(dir);
    MDB_env* env = nullptr;
    ASSERT_EQ(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 2);
    ASSERT_EQ(mdb_env_open(env, dir.c_str(), 0, 0644), 0);
    MDB_txn* txn = nullptr;
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    MDB_dbi dbi = 0;
    const unsigned flags = create ? MDB_CREATE : 0U;
    ASSERT_EQ(mdb_dbi_open(txn, "profiles", flags, &dbi), 0);
    for (const auto& [key, bytes] : profiles) {
        MDB_val k{key.size(), const_cast<char*>(key.data())};
        MDB_val v{bytes.size(), const_cast<char*>(bytes.data())};
        ASSERT_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
    }
    if (create) {
        MDB_dbi positions = 0;
        ASSERT_EQ(mdb_dbi_open(txn, "positions", MDB_CREATE, &positions), 0);
    }
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

std::pair<std::string, std::string> encoded(const rtcrm::profile& p) {
    std::string bytes;
    rtcrm::encode_profile(p, bytes);
    return {std::string{p.key().text()}, bytes};
}

}  // namespace

TEST_F(lmdb_store_test, the_due_time_index_survives_a_restart) {
    {
        rtcrm::lmdb_store store{{.path = dir_.string(), .sync = false}};
        rtcrm::write_batch batch;
        batch.profiles = {waiting(1, t0 + 30), waiting(2, t0 + 10), waiting(3, t0 + 20)};
        ASSERT_TRUE(succeeded(store.write(batch)));
        batch.profiles = {waiting(3, t0 + 40)};  // re-armed
        ASSERT_TRUE(succeeded(store.write(batch)));
        ASSERT_TRUE(succeeded(store.flush()));
    }
    rtcrm::lmdb_store store{{.path = dir_.string(), .sync = false}};
    EXPECT_EQ(all_due(store), (std::vector<rtcrm::due_entry>{
                                  {t0 + 10, rtcrm::player_key{2}}, {t0 + 30, rtcrm::player_key{1}}, {t0 + 40, rtcrm::player_key{3}}}));
    rtcrm::lmdb_store reader{{.path = dir_.string(), .read_only = true}};
    EXPECT_EQ(all_due(reader), all_due(store));
}

TEST_F(lmdb_store_test, due_timers_reads_the_index_not_the_profiles) {
    {
        rtcrm::lmdb_store store{{.path = dir_.string(), .sync = false}};
        rtcrm::write_batch batch;
        batch.profiles = {waiting(1, t0 + 10)};
        ASSERT_TRUE(succeeded(store.write(batch)));
    }
    // The profile's bytes replaced by ones that do not decode: a scan would fail on them.
    write_raw(dir_, {{"1", std::string("\x09garbage")}}, false);
    rtcrm::lmdb_store store{{.path = dir_.string(), .sync = false}};
    EXPECT_FALSE(store.scan([](const rtcrm::profile&) { return true; }));
    EXPECT_EQ(all_due(store), (std::vector<rtcrm::due_entry>{{t0 + 10, rtcrm::player_key{1}}}));
}

TEST_F(lmdb_store_test, a_store_written_before_the_index_opens_and_gets_it) {
    // A profile without timers (codec version 1) and, as a build without the index could
    // have left one, a profile with a timer.
    rtcrm::profile plain{rtcrm::player_key{1}};
    plain.set("level", std::int64_t{3});
    write_raw(dir_, {encoded(plain), encoded(waiting(2, t0 + 10)), encoded(waiting(3, -5))}, true);
    {
        // A reader finds no index and scans instead.
        rtcrm::lmdb_store reader{{.path = dir_.string(), .read_only = true}};
        EXPECT_EQ(all_due(reader), (std::vector<rtcrm::due_entry>{{-5, rtcrm::player_key{3}}, {t0 + 10, rtcrm::player_key{2}}}));
    }
    rtcrm::lmdb_store store{{.path = dir_.string(), .sync = false}};
    EXPECT_EQ(all_due(store), (std::vector<rtcrm::due_entry>{{-5, rtcrm::player_key{3}}, {t0 + 10, rtcrm::player_key{2}}}));
    rtcrm::write_batch batch;
    batch.profiles = {waiting(1, t0 + 5)};
    batch.erased = {rtcrm::player_key{3}};
    ASSERT_TRUE(succeeded(store.write(batch)));
    EXPECT_EQ(all_due(store), (std::vector<rtcrm::due_entry>{{t0 + 5, rtcrm::player_key{1}}, {t0 + 10, rtcrm::player_key{2}}}));
    std::vector<rtcrm::player_key> keys{rtcrm::player_key{2}};
    std::vector<std::optional<rtcrm::profile>> out(1);
    ASSERT_TRUE(succeeded(store.get(keys, out)));
    EXPECT_EQ(out[0], waiting(2, t0 + 10));
}

// --- tallies -----------------------------------------------------------------------------

namespace {

std::vector<rtcrm::tally> sorted_tallies(rtcrm::profile_store& store) {
    auto read = store.tallies();
    EXPECT_TRUE(succeeded(read));
    auto out = read ? read.value() : std::vector<rtcrm::tally>{};
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

TEST_F(lmdb_store_test, tallies_survive_a_reopen_and_readers_see_them) {
    {
        rtcrm::lmdb_store store{{.path = dir_.string(), .sync = false}};
        EXPECT_TRUE(store.keeps_tallies());
        rtcrm::write_batch batch;
        batch.profiles = {waiting(1, t0 + 10)};
        batch.tallies = {{"seen", 5}, {"sent", 1}};
        ASSERT_TRUE(succeeded(store.write(batch)));
        ASSERT_TRUE(succeeded(store.flush()));
    }
    {
        rtcrm::lmdb_store store{{.path = dir_.string(), .sync = false}};
        EXPECT_EQ(sorted_tallies(store), (std::vector<rtcrm::tally>{{"seen", 5}, {"sent", 1}}));
        rtcrm::write_batch batch;
        batch.tallies = {{"seen", 2}};
        ASSERT_TRUE(succeeded(store.write(batch)));
    }
    rtcrm::lmdb_store reader{{.path = dir_.string(), .read_only = true}};
    EXPECT_EQ(sorted_tallies(reader), (std::vector<rtcrm::tally>{{"seen", 7}, {"sent", 1}}));
}

TEST_F(lmdb_store_test, a_failed_write_adds_no_tally) {
    rtcrm::lmdb_store store{{.path = dir_.string(), .sync = false}};
    rtcrm::write_batch batch;
    batch.tallies = {{"seen", 1}};
    ASSERT_TRUE(succeeded(store.write(batch)));
    // A key longer than LMDB's key limit fails the profile's put after the batch began:
    // the whole transaction is aborted, its tallies with it.
    batch.profiles = {rtcrm::profile{rtcrm::player_key{std::string(600, 'k')}}};
    batch.tallies = {{"seen", 10}, {"other", 3}};
    EXPECT_FALSE(store.write(batch));
    EXPECT_EQ(sorted_tallies(store), (std::vector<rtcrm::tally>{{"seen", 1}}));
}

TEST_F(lmdb_store_test, a_tally_name_lmdb_cannot_key_refuses_the_batch_with_its_reason) {
    rtcrm::lmdb_store store{{.path = dir_.string(), .sync = false}};
    rtcrm::write_batch batch;
    batch.profiles = {waiting(1, t0 + 10)};
    batch.tallies = {{"seen", 1}, {std::string(600, 'n'), 1}};
    const auto written = store.write(batch);
    ASSERT_FALSE(written);
    EXPECT_NE(written.error().reason.find("600 bytes"), std::string::npos) << written.error().reason;
    EXPECT_NE(written.error().reason.find(dir_.string()), std::string::npos) << written.error().reason;
    EXPECT_EQ(sorted_tallies(store), (std::vector<rtcrm::tally>{}));
    EXPECT_EQ(all_due(store), (std::vector<rtcrm::due_entry>{}));
    batch.tallies = {{"", 1}};
    EXPECT_FALSE(store.write(batch));
}

TEST_F(lmdb_store_test, a_store_written_before_tallies_existed_opens_with_none) {
    write_raw(dir_, {encoded(waiting(2, t0 + 10))}, true);
    {
        rtcrm::lmdb_store reader{{.path = dir_.string(), .read_only = true}};
        EXPECT_EQ(sorted_tallies(reader), (std::vector<rtcrm::tally>{}));
    }
    rtcrm::lmdb_store store{{.path = dir_.string(), .sync = false}};
    EXPECT_EQ(sorted_tallies(store), (std::vector<rtcrm::tally>{}));
    rtcrm::write_batch batch;
    batch.tallies = {{"seen", 4}};
    ASSERT_TRUE(succeeded(store.write(batch)));
    EXPECT_EQ(sorted_tallies(store), (std::vector<rtcrm::tally>{{"seen", 4}}));
}
