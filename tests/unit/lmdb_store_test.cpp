#include <rtcrm/error.hpp>
#include <rtcrm/store/lmdb_store.hpp>
#include <rtcrm/store/profile_codec.hpp>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace {

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
        ASSERT_FALSE(store.write(batch));
        ASSERT_FALSE(store.flush());
    }
    rtcrm::lmdb_store store{{.path = dir_.string()}};
    for (int i = 1; i <= 100; ++i) {
        std::vector<rtcrm::player_key> keys{rtcrm::player_key{i}};
        std::vector<std::optional<rtcrm::profile>> out(1);
        ASSERT_FALSE(store.get(keys, out));
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
    ASSERT_FALSE(store.write(batch)) << store.last_error();
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
    EXPECT_TRUE(store.write(batch));
    EXPECT_NE(store.last_error().find("full"), std::string::npos) << store.last_error();
    EXPECT_NE(store.last_error().find(dir_.string()), std::string::npos);
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
    ASSERT_FALSE(writer.write(batch));
    rtcrm::lmdb_store reader{{.path = dir_.string(), .read_only = true}};
    int n = 0;
    ASSERT_FALSE(reader.scan([&](const rtcrm::profile&) { return ++n, true; }));
    EXPECT_EQ(n, 1);
    EXPECT_TRUE(reader.write(batch));  // read-only
}

TEST_F(lmdb_store_test, a_reader_of_a_missing_store_creates_nothing) {
    EXPECT_THROW(rtcrm::lmdb_store({.path = dir_.string(), .read_only = true}), rtcrm::error);
    EXPECT_FALSE(fs::exists(dir_));
}

TEST_F(lmdb_store_test, a_file_where_the_directory_should_be_is_named) {
    std::ofstream(dir_) << "not a directory";
    EXPECT_THROW(rtcrm::lmdb_store({.path = dir_.string()}), rtcrm::error);
}

}  // namespace
