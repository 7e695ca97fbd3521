#include <rtcrm/archive/day_file_writer.hpp>
#include <rtcrm/core/error.hpp>

#include "archive_test_support.hpp"

#include <zstd.h>

#include <gtest/gtest.h>

namespace rtcrm {
namespace {

using test::read_all;
using test::scratch_dir;
using test::write_all;

std::string frame_of(const std::string& text) {
    std::string frame(ZSTD_compressBound(text.size()), '\0');
    frame.resize(ZSTD_compress(frame.data(), frame.size(), text.data(), text.size(), 3));
    return frame;
}

TEST(DayFileWriter, EachFlushAppendsOneFrameTheZstdToolReads) {
    RTCRM_REQUIRE_ZSTD_TOOL();
    scratch_dir dir{"frames"};
    const auto file = dir.path / "2026-11-01.ndjson.zst";
    {
        day_file_writer w{file, {}};
        w.append(R"({"id":"a","ts":1})");
        w.append(R"({"id":"b","ts":2})");
        w.flush();
        const auto after_one = w.size();
        EXPECT_EQ(after_one, std::filesystem::file_size(file));
        w.flush();  // nothing buffered: no empty frame
        EXPECT_EQ(w.size(), after_one);
        w.append(R"({"id":"c","ts":3})");
        w.flush();
        EXPECT_GT(w.size(), after_one);
    }
    {
        day_file_writer again{file, {}};  // appends after what is there
        EXPECT_EQ(again.cut_bytes(), 0U);
        again.append(R"({"id":"d","ts":4})");
        again.flush();
    }
    int status = -1;
    EXPECT_EQ(test::zstd_tool_decompress(file, &status),
              "{\"id\":\"a\",\"ts\":1}\n{\"id\":\"b\",\"ts\":2}\n{\"id\":\"c\",\"ts\":3}\n{\"id\":\"d\",\"ts\":4}\n");
    EXPECT_EQ(status, 0);
}

TEST(DayFileWriter, ReopeningCutsATornLastFrame) {
    scratch_dir dir{"torn"};
    const auto file = dir.path / "2026-11-01.ndjson.zst";
    {
        day_file_writer w{file, {}};
        w.append("one");
        w.flush();
        w.append("two");
        w.flush();
    }
    const auto whole = read_all(file);
    // A crash in the middle of writing a third frame: only its first bytes reached the file.
    const auto third = frame_of(std::string(5000, 'x') + "\n");
    for (const std::size_t torn_at : {std::size_t{1}, std::size_t{4}, std::size_t{9}, third.size() / 2, third.size() - 1}) {
        write_all(file, whole + third.substr(0, torn_at));
        EXPECT_EQ(complete_frames_end(file), whole.size()) << torn_at;
        day_file_writer w{file, {}};
        EXPECT_EQ(w.cut_bytes(), torn_at);
        EXPECT_EQ(w.size(), whole.size());
        EXPECT_EQ(std::filesystem::file_size(file), whole.size()) << "truncated on open";
    }
    // The next frame follows the complete ones, and the file reads whole.
    {
        day_file_writer w{file, {}};
        w.append("three");
        w.flush();
    }
    if (test::have_zstd_tool()) {
        int status = -1;
        EXPECT_EQ(test::zstd_tool_decompress(file, &status), "one\ntwo\nthree\n");
        EXPECT_EQ(status, 0);
    }
}

TEST(DayFileWriter, AFrameWhoseChecksumFailsIsCutToo) {
    scratch_dir dir{"checksum"};
    const auto file = dir.path / "2026-11-01.ndjson.zst";
    {
        day_file_writer w{file, {}};
        w.append("kept");
        w.flush();
    }
    const auto kept = read_all(file);
    // A whole frame written with a checksum, then damaged in its content, as a crash can
    // leave a file extended to its new length before its data reached the disk.
    std::string frame(ZSTD_compressBound(100), '\0');
    {
        ZSTD_CCtx* c = ZSTD_createCCtx();
        ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
        ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 1);
        const std::string text(90, 'y');
        frame.resize(ZSTD_compress2(c, frame.data(), frame.size(), text.data(), text.size()));
        ZSTD_freeCCtx(c);
    }
    frame[frame.size() - 1] = static_cast<char>(frame.back() ^ 0x5a);  // the checksum no longer matches
    write_all(file, kept + frame);
    day_file_writer w{file, {}};
    EXPECT_EQ(w.cut_bytes(), frame.size());
    EXPECT_EQ(read_all(file), kept);
}

TEST(DayFileWriter, ZerosAfterTheFramesAreCut) {
    scratch_dir dir{"zeros"};
    const auto file = dir.path / "2026-11-01.ndjson.zst";
    {
        day_file_writer w{file, {}};
        w.append("kept");
        w.flush();
    }
    const auto kept = read_all(file);
    write_all(file, kept + std::string(4096, '\0'));
    day_file_writer w{file, {}};
    EXPECT_EQ(w.cut_bytes(), 4096U);
    EXPECT_EQ(read_all(file), kept);
}

TEST(DayFileWriter, RefusesToCutMoreThanATornTail) {
    scratch_dir dir{"refuse"};
    const auto file = dir.path / "2026-11-01.ndjson.zst";
    write_all(file, std::string(2000, 'g'));  // not a zstd file at all
    try {
        day_file_writer w{file, {.max_cut = 1000}};
        FAIL() << "opened a file it would have emptied";
    } catch (const error& e) {
        EXPECT_NE(std::string{e.what()}.find("2000 bytes after the last complete zstd frame"), std::string::npos)
            << e.what();
    }
    EXPECT_EQ(std::filesystem::file_size(file), 2000U) << "left as it was";
}

}  // namespace
}  // namespace rtcrm
