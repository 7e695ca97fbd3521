#include <rtcrm/core/error.hpp>
#include <rtcrm/core/ndjson_source.hpp>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

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
            if (src.poll(out, max, std::chrono::milliseconds(100)) == rtcrm::poll_status::end) {
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

TEST_F(ndjson_source_test, empty_lines_are_skipped_but_still_advance_the_offsets) {
    rtcrm::ndjson_source src{{.path = write("\n\na\n\r\n\nbb\n\n")}};
    src.open();
    const auto records = read_all(src);
    ASSERT_EQ(records.size(), 2U);
    EXPECT_EQ(records[0].bytes, "a");
    EXPECT_EQ(records[0].origin.offset, 2);
    EXPECT_EQ(records[1].bytes, "bb");  // "\r\n" counts as an empty line too
    EXPECT_EQ(records[1].origin.offset, 7);
}

// Blank lines carry no event, as in the HTTP gateway: not delivered, so never dead-lettered.
TEST_F(ndjson_source_test, lines_of_only_spaces_tabs_and_carriage_returns_are_skipped) {
    rtcrm::ndjson_source src{{.path = write("  \n\t\na\n \t \r\n\r\r\n b \n   ")}};
    src.open();
    const auto records = read_all(src);
    ASSERT_EQ(records.size(), 2U);
    EXPECT_EQ(records[0].bytes, "a");
    EXPECT_EQ(records[0].origin.offset, 5);
    EXPECT_EQ(records[1].bytes, " b ");  // spaces around an event stay: the parser judges it
    EXPECT_EQ(records[1].origin.offset, 15);
}

TEST_F(ndjson_source_test, a_directory_is_refused_at_open_with_its_path) {
    rtcrm::ndjson_source src{{.path = dir_.string()}};
    try {
        src.open();
        FAIL() << "a directory was opened as input";
    } catch (const rtcrm::error& e) {
        EXPECT_NE(std::string{e.what()}.find("is a directory"), std::string::npos) << e.what();
        EXPECT_NE(std::string{e.what()}.find(dir_.string()), std::string::npos) << e.what();
    }
}

TEST_F(ndjson_source_test, only_a_trailing_carriage_return_is_stripped) {
    rtcrm::ndjson_source src{{.path = write("a\rb\r\nc\r")}};
    src.open();
    const auto records = read_all(src);
    ASSERT_EQ(records.size(), 2U);
    EXPECT_EQ(records[0].bytes, "a\rb");  // an inner \r is data
    EXPECT_EQ(records[1].bytes, "c");      // also on a last line without newline
    EXPECT_EQ(records[1].origin.offset, 5);
}

TEST_F(ndjson_source_test, a_last_line_without_newline_is_delivered) {
    rtcrm::ndjson_source src{{.path = write("first\nlast")}};
    src.open();
    const auto records = read_all(src);
    ASSERT_EQ(records.size(), 2U);
    EXPECT_EQ(records[1].bytes, "last");
    EXPECT_EQ(records[1].origin.offset, 6);
    EXPECT_EQ(records[1].origin.partition, 0);
}

TEST_F(ndjson_source_test, max_holds_for_every_poll_and_end_comes_with_the_last_line) {
    rtcrm::ndjson_source src{{.path = write("1\n2\n3\n4\n5\n")}};
    src.open();
    std::vector<rtcrm::record> out;
    EXPECT_EQ(src.poll(out, 2, std::chrono::milliseconds(0)), rtcrm::poll_status::more);
    EXPECT_EQ(out.size(), 2U);
    EXPECT_EQ(src.poll(out, 2, std::chrono::milliseconds(0)), rtcrm::poll_status::more);
    EXPECT_EQ(out.size(), 4U);
    EXPECT_EQ(src.poll(out, 2, std::chrono::milliseconds(0)), rtcrm::poll_status::end);
    ASSERT_EQ(out.size(), 5U);
    for (std::size_t i = 0; i < out.size(); ++i) {
        EXPECT_EQ(out[i].bytes, std::to_string(i + 1));
        EXPECT_EQ(out[i].origin.offset, static_cast<std::int64_t>(2 * i));
    }
    // Once ended, it stays ended and adds nothing.
    EXPECT_EQ(src.poll(out, 2, std::chrono::milliseconds(0)), rtcrm::poll_status::end);
    EXPECT_EQ(out.size(), 5U);
}

TEST_F(ndjson_source_test, an_empty_file_ends_at_once) {
    rtcrm::ndjson_source src{{.path = write("")}};
    src.open();
    std::vector<rtcrm::record> out;
    EXPECT_EQ(src.poll(out, 10, std::chrono::milliseconds(0)), rtcrm::poll_status::end);
    EXPECT_TRUE(out.empty());
}

TEST_F(ndjson_source_test, polling_before_open_throws) {
    rtcrm::ndjson_source src{{.path = write("x\n")}};
    std::vector<rtcrm::record> out;
    EXPECT_THROW(src.poll(out, 10, std::chrono::milliseconds(0)), rtcrm::error);
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
        EXPECT_NE(std::string{e.what()}.find((dir_ / "missing.ndjson").string()), std::string::npos) << e.what();
        EXPECT_EQ(e.code(), rtcrm::errc::io_error);  // as the header promises; the errno text is in the message
        EXPECT_NE(std::string{e.what()}.find("No such file"), std::string::npos) << e.what();
    }
}

TEST_F(ndjson_source_test, a_file_shorter_than_its_resume_position_is_refused) {
    rtcrm::ndjson_source src{{.path = write("{}\n{}\n"), .start_offset = 100}};
    try {
        src.open();
        FAIL() << "a truncated file was read from a position past its end";
    } catch (const rtcrm::error& e) {
        EXPECT_EQ(e.code(), rtcrm::errc::io_error);
        EXPECT_NE(std::string{e.what()}.find("truncated or replaced"), std::string::npos) << e.what();
    }
}

TEST_F(ndjson_source_test, a_negative_start_offset_and_a_second_open_are_refused) {
    rtcrm::ndjson_source negative{{.path = write("{}\n"), .start_offset = -5}};
    EXPECT_THROW(negative.open(), rtcrm::error);
    rtcrm::ndjson_source twice{{.path = write("{}\n")}};
    twice.open();
    try {
        twice.open();
        FAIL() << "opened twice";
    } catch (const rtcrm::error& e) {
        EXPECT_EQ(e.code(), rtcrm::errc::invalid_config);
    }
}

TEST_F(ndjson_source_test, commit_keeps_the_highest_position) {
    rtcrm::ndjson_source src{{.path = write("x\n")}};
    EXPECT_EQ(src.committed(), -1);
    const std::vector<rtcrm::source_position> positions{{"ndjson", 0, 40}, {"ndjson", 0, 12}};
    src.commit(positions);
    EXPECT_EQ(src.committed(), 40);
    const std::vector<rtcrm::source_position> lower{{"ndjson", 0, 20}};
    src.commit(lower);
    EXPECT_EQ(src.committed(), 40);
    const std::vector<rtcrm::source_position> other_partition{{"ndjson", 1, 99}};
    src.commit(other_partition);
    EXPECT_EQ(src.committed(), 40);  // a file has only partition 0
    const std::vector<rtcrm::source_position> higher{{"ndjson", 0, 41}};
    src.commit(higher);
    EXPECT_EQ(src.committed(), 41);
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

// A FIFO cannot seek: the source reads and discards up to the start offset instead.
TEST_F(ndjson_source_test, a_start_offset_in_an_unseekable_file_is_reached_by_reading) {
    const auto fifo = dir_ / "in.fifo";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    std::string content;
    for (int i = 0; i < 5'000; ++i) {  // over the 64 KiB a pipe holds, so reads come in pieces
        content += "{\"n\":" + std::to_string(i) + ",\"pad\":\"" + std::string(40, 'y') + "\"}\n";
    }
    const std::string tail = "{\"after\":1}\n{\"after\":2}\n";
    const auto start = static_cast<std::int64_t>(content.size());
    std::jthread writer{[&] { std::ofstream(fifo, std::ios::binary) << content << tail; }};
    rtcrm::ndjson_source src{{.path = fifo.string(), .start_offset = start}};
    src.open();
    const auto records = read_all(src);
    writer.join();
    ASSERT_EQ(records.size(), 2U);
    EXPECT_EQ(records[0].bytes, "{\"after\":1}");
    EXPECT_EQ(records[0].origin.offset, start);
    EXPECT_EQ(records[1].origin.offset, start + 12);
}

TEST_F(ndjson_source_test, an_unseekable_file_that_ends_before_the_start_offset_throws) {
    const auto fifo = dir_ / "short.fifo";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    std::jthread writer{[&] { std::ofstream(fifo, std::ios::binary) << "a\nb\n"; }};
    rtcrm::ndjson_source src{{.path = fifo.string(), .start_offset = 100}};
    EXPECT_THROW(src.open(), rtcrm::error);
    writer.join();
}

// A FIFO whose writer stays open (idle) until release() or the test's end; it closes on
// its own after a minute so a source that waits for the end does not hang the test.
class idle_writer {
public:
    explicit idle_writer(const fs::path& fifo)
        : thread_([this, fifo] {
              const int fd = ::open(fifo.c_str(), O_WRONLY | O_CLOEXEC);
              std::unique_lock lock(mutex_);
              fd_ = fd;
              opened_.notify_all();
              if (!opened_.wait_for(lock, std::chrono::minutes(1), [&] { return released_; })) {
                  closed_early = true;
              }
              ::close(fd_);
          }) {}
    ~idle_writer() { release(); }
    void write(const std::string& bytes) {
        std::unique_lock lock(mutex_);
        opened_.wait(lock, [&] { return fd_ >= 0; });
        ASSERT_EQ(::write(fd_, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    }
    void release() {
        {
            std::lock_guard lock(mutex_);
            released_ = true;
        }
        opened_.notify_all();
        if (thread_.joinable()) {
            thread_.join();
        }
    }
    std::atomic<bool> closed_early{false};  // the writer closed before release(): the source waited for it

private:
    std::mutex mutex_;
    std::condition_variable opened_;
    int fd_ = -1;
    bool released_ = false;
    std::jthread thread_;
};

TEST_F(ndjson_source_test, a_pipe_hands_on_its_lines_without_waiting_for_a_full_batch_or_the_writer) {
    const auto fifo = dir_ / "live.fifo";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    idle_writer writer{fifo};
    rtcrm::ndjson_source src{{.path = fifo.string()}};
    src.open();
    writer.write("{\"n\":1}\n{\"n\":2}\n{\"n\":");  // and a line not yet complete
    std::vector<rtcrm::record> out;
    while (out.size() < 2 && !writer.closed_early) {
        EXPECT_EQ(src.poll(out, 1000, std::chrono::seconds(30)), rtcrm::poll_status::more);
    }
    EXPECT_FALSE(writer.closed_early) << "the source waited for the writer to close";
    ASSERT_EQ(out.size(), 2U);
    EXPECT_EQ(out[1].bytes, "{\"n\":2}");
    writer.write("3}\n");
    while (out.size() < 3 && !writer.closed_early) {
        src.poll(out, 1000, std::chrono::seconds(30));
    }
    ASSERT_EQ(out.size(), 3U);
    EXPECT_EQ(out[2].bytes, "{\"n\":3}");
    writer.release();
    EXPECT_EQ(src.poll(out, 1000, std::chrono::seconds(30)), rtcrm::poll_status::end);
}

TEST_F(ndjson_source_test, wakeup_ends_a_poll_waiting_for_an_idle_writer) {
    const auto fifo = dir_ / "idle.fifo";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    idle_writer writer{fifo};
    rtcrm::ndjson_source src{{.path = fifo.string()}};
    src.open();
    std::jthread waker{[&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        src.wakeup();
    }};
    std::vector<rtcrm::record> out;
    EXPECT_EQ(src.poll(out, 1000, std::chrono::minutes(2)), rtcrm::poll_status::more);
    EXPECT_TRUE(out.empty());
    EXPECT_FALSE(writer.closed_early) << "poll waited for the writer, not for wakeup()";
}

}  // namespace
