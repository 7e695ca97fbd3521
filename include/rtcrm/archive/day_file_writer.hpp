/// @file day_file_writer.hpp
/// Appends lines to one day file of an event archive, in zstd frames.
///
/// Lines are buffered; `flush` compresses the buffer into one zstd frame (with a content
/// checksum) and appends it with one `write`, then `fdatasync`s when `sync` is set. A
/// crash can therefore leave at most a torn last frame: a prefix of the frame being
/// written. Every frame before it is complete, and a zstd reader decompresses them (the
/// `zstd` tool reports the torn tail as an error after writing what came before it).
///
/// Opening a file for appending walks its frames (headers and block sizes, without
/// decompressing) and decompresses the last one to check it; whatever follows the last
/// complete frame (a torn frame, or a last frame that fails its checksum) is cut: the
/// file is truncated to the end of the last complete frame, and `cut_bytes()` says how
/// much went. A damaged region larger than `max_cut` is not cut but refused (it is not
/// the torn tail of a crash, and cutting it could drop frames after it).
///
/// A failed write or sync truncates the file back to its end before the frame, drops the
/// buffered lines and throws: the caller nacks the events it held for them.
///
/// Caveats: not thread-safe (its owner, archive_sink, locks). One writer per file: two
/// writers appending to the same file interleave their frames harmlessly but the cut at
/// open assumes nobody else is writing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace rtcrm {

/// Options of `day_file_writer`.
struct day_file_options {
    bool sync = false;                       ///< fdatasync after each frame (power-loss safe)
    int level = 3;                           ///< zstd compression level
    std::uint64_t max_cut = 64ULL << 20;     ///< the largest damaged tail cut at open
};

/// The writer of one day file. Not thread-safe.
class day_file_writer {
public:
    /// Opens (or creates) `path` for appending and cuts a torn tail.
    /// @throws rtcrm::error(io_error) naming the file if it cannot be opened, read,
    ///         truncated, or if its damaged tail exceeds `max_cut`.
    day_file_writer(std::filesystem::path path, day_file_options options);
    ~day_file_writer();
    day_file_writer(const day_file_writer&) = delete;
    day_file_writer& operator=(const day_file_writer&) = delete;

    /// Buffers one line (a newline is added).
    void append(std::string_view line);
    /// Bytes buffered since the last flush.
    [[nodiscard]] std::size_t buffered() const noexcept { return buffer_.size(); }
    /// Writes the buffered lines as one frame (nothing if none), then syncs if asked.
    /// @throws rtcrm::error naming the file and the cause; the lines are dropped.
    void flush();

    [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
    /// The file's size: the end of its last complete frame.
    [[nodiscard]] std::uint64_t size() const noexcept { return size_; }
    /// Bytes cut from the tail when the file was opened.
    [[nodiscard]] std::uint64_t cut_bytes() const noexcept { return cut_; }

private:
    std::filesystem::path path_;
    day_file_options options_;
    int fd_ = -1;
    std::uint64_t size_ = 0;
    std::uint64_t cut_ = 0;
    std::string buffer_;
    std::string frame_;
    void* cctx_ = nullptr;  // ZSTD_CCtx, reused across frames
};

/// The end of the last complete zstd frame of `path` (0 for an empty file): what
/// `day_file_writer` keeps when it opens it. Reads the file; changes nothing.
/// @throws rtcrm::error(io_error) if it cannot be read.
[[nodiscard]] std::uint64_t complete_frames_end(const std::filesystem::path& path);

}  // namespace rtcrm
