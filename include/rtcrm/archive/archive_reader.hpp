/// @file archive_reader.hpp
/// Reads events back, one line at a time, from an event archive directory, a `.zst` file
/// or a plain NDJSON file, within time bounds. Used by `archive_source` (and by anything
/// that replays history: one reader for every tool).
///
/// - A directory: its day files (`YYYY-MM-DD.ndjson.zst`, archive_layout.hpp) in date
///   order; other files are ignored. Day files wholly outside the bounds are not opened.
/// - A file whose name ends in `.zst`: zstd frames, decompressed as they are read. The
///   lines of a frame are handed on once the frame ended and its checksum matched, so a
///   torn last frame (a crash while it was written) gives none of its lines: the reader
///   stops at the last complete frame and logs a warning naming the file and the bytes
///   left. A damaged frame elsewhere ends that file the same way (an error in the log).
///   A frame larger than `max_frame_text` decompressed (not one the archive writes) hands
///   its complete lines on as they come.
/// - Any other file: plain NDJSON.
/// Lines are the file's lines: a trailing '\r' is removed, blank lines are skipped.
///
/// Bounds: `from` (inclusive) and `to` (exclusive), ms since the epoch, on each event's
/// `ts`, read from the bytes without parsing (the top-level `ts` member when it is a
/// plain integer). Events outside are skipped and counted; an event whose `ts` cannot be
/// read that way is delivered (the parser decides about it).
///
/// Within a day file, events come in the order they were archived (arrival order, not
/// sorted by `ts`).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtcrm {

/// Options of `archive_reader`.
struct archive_reader_options {
    std::string path;                    ///< an archive directory, a `.zst` file or an NDJSON file
    std::optional<std::int64_t> from;    ///< first `ts` read (inclusive, ms)
    std::optional<std::int64_t> to;      ///< end of the range (exclusive, ms)
    std::string key_field = "player_id"; ///< the key member (the `ts` scan skips over it)
    std::size_t max_frame_text = 64 << 20;  ///< decompressed bytes of one frame held back before its end
};

/// What a reader has done so far.
struct archive_reader_stats {
    std::uint64_t lines = 0;        ///< lines handed on
    std::uint64_t skipped = 0;      ///< lines outside the bounds
    std::uint64_t files = 0;        ///< files opened
    std::uint64_t torn = 0;         ///< files whose last frame was torn or damaged
    std::uint64_t bytes_read = 0;   ///< file bytes read (compressed), for progress
    std::uint64_t bytes_total = 0;  ///< file bytes of every file to read
};

/// A sequential reader. Not thread-safe.
class archive_reader {
public:
    /// Lists the files to read (nothing is opened yet).
    /// @throws rtcrm::error(io_error) naming the path if it does not exist or cannot be
    ///         listed, or is a directory without any day file (a mistaken path, most likely).
    explicit archive_reader(archive_reader_options options);
    ~archive_reader();
    archive_reader(const archive_reader&) = delete;
    archive_reader& operator=(const archive_reader&) = delete;

    /// The next line within the bounds, valid until the next call; nullopt at the end.
    /// @throws rtcrm::error(io_error) naming the file if one cannot be opened or read.
    std::optional<std::string_view> next();

    /// The files it reads, in order.
    [[nodiscard]] const std::vector<std::filesystem::path>& files() const noexcept;
    [[nodiscard]] const archive_reader_stats& stats() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace rtcrm
