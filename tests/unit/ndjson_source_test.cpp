#include <rtcrm/error.hpp>
#include <rtcrm/source/ndjson_source.hpp>

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace {

namespace fs = std::filesystem;

class ndjson_source_test : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("rtcrm_ndjson_" + std::to_string(::getpid()));
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string write(const std::string& content) {
        const auto path = dir_ / "in.ndjson";
        std::ofstream(path, std::ios::binary) << content;
        return path.string();
    }

    static std::vector<rtcrm::record> read_all(rtcrm::ndjson_source& src, std::size_t max = 1000) {
        std::vector<rtcrm::record> out;
        for (int guard = 0; guard < 100'000; ++guard) {
            if (src.poll(out, max, std::chrono::milliseconds(0)) == rtcrm::poll_status::end) {
                return out;
            }
        }
        ADD_FAILURE() << "the source never ended";
        return out;
    }

    fs::path dir_;
};

TEST_F(ndjson_source_test, records_carry_the_byte_offset_of_their_line) {
    rtcrm::ndjson_source src{{.path = write("{\"a\":1}\n\n{\"b\":2}\r\n{\"c\":3}")}};
    src.open();
    const auto records = read_all(src);
    ASSERT_EQ(records.size(), 3U);
    EXPECT_EQ(records[0].bytes, "{\"a\":1}");
    EXPECT_EQ(records[0].origin.offset, 0);
    EXPECT_EQ(records[1].bytes, "{\"b\":2}");  // the empty line is skipped, \r stripped
    EXPECT_EQ(records[1].origin.offset, 9);
    EXPECT_EQ(records[2].bytes, "{\"c\":3}");  // no final newline
    EXPECT_EQ(records[2].origin.offset, 18);
    EXPECT_EQ(records[2].origin.partition, 0);
}

TEST_F(ndjson_source_test, respects_max_per_poll) {
    rtcrm::ndjson_source src{{.path = write("1\n2\n3\n4\n5\n")}};
    src.open();
    std::vector<rtcrm::record> out;
    EXPECT_EQ(src.poll(out, 2, std::chrono::milliseconds(0)), rtcrm::poll_status::more);
    EXPECT_EQ(out.size(), 2U);
    const auto rest = read_all(src, 2);
    EXPECT_EQ(rest.size(), 3U);
    EXPECT_EQ(rest.back().bytes, "5");
}

TEST_F(ndjson_source_test, resumes_from_a_start_offset) {
    rtcrm::ndjson_source src{{.path = write("first\nsecond\nthird\n"), .start_offset = 6}};
    src.open();
    const auto records = read_all(src);
    ASSERT_EQ(records.size(), 2U);
    EXPECT_EQ(records[0].bytes, "second");
    EXPECT_EQ(records[0].origin.offset, 6);
    EXPECT_EQ(records[1].origin.offset, 13);
}

TEST_F(ndjson_source_test, resume_continues_after_the_stored_line) {
    rtcrm::ndjson_source src{{.path = write("first\nsecond\nthird\n")}};
    EXPECT_TRUE(src.resumable());
    const std::vector<rtcrm::source_position> stored{{"ndjson", 0, 6}};  // "second" was processed
    src.resume(stored);
    src.open();
    const auto records = read_all(src);
    ASSERT_EQ(records.size(), 1U);
    EXPECT_EQ(records[0].bytes, "third");
    EXPECT_EQ(records[0].origin.offset, 13);
    EXPECT_FALSE(rtcrm::ndjson_source({.path = "-"}).resumable());
}

TEST_F(ndjson_source_test, a_missing_file_names_its_path) {
    rtcrm::ndjson_source src{{.path = (dir_ / "missing.ndjson").string()}};
    try {
        src.open();
        FAIL() << "expected a throw";
    } catch (const rtcrm::error& e) {
        EXPECT_NE(std::string{e.what()}.find("missing.ndjson"), std::string::npos);
    }
}

TEST_F(ndjson_source_test, commit_keeps_the_highest_position) {
    rtcrm::ndjson_source src{{.path = write("x\n")}};
    EXPECT_EQ(src.committed(), -1);
    const std::vector<rtcrm::source_position> positions{{"ndjson", 0, 40}, {"ndjson", 0, 12}};
    src.commit(positions);
    EXPECT_EQ(src.committed(), 40);
}

TEST_F(ndjson_source_test, a_file_larger_than_the_read_chunk_comes_through_whole_and_in_order) {
    std::string content;
    std::vector<std::int64_t> offsets;
    for (int i = 0; i < 10'000; ++i) {
        offsets.push_back(static_cast<std::int64_t>(content.size()));
        content += "{\"n\":" + std::to_string(i) + ",\"pad\":\"" + std::string(180, 'x') + "\"}\n";
    }
    ASSERT_GT(content.size(), 1U << 20);
    rtcrm::ndjson_source src{{.path = write(content)}};
    src.open();
    const auto records = read_all(src, 256);
    ASSERT_EQ(records.size(), 10'000U);
    for (std::size_t i = 0; i < records.size(); ++i) {
        ASSERT_EQ(records[i].origin.offset, offsets[i]);
        ASSERT_EQ(records[i].bytes.rfind("{\"n\":" + std::to_string(i) + ",", 0), 0U);
    }
}

}  // namespace
