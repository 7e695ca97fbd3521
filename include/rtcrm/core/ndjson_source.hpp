/// @file ndjson_source.hpp
/// Reads events from an NDJSON file (one JSON object per line) or from standard input.
///
/// Each line that is not blank is one record; its offset is the byte offset of the line's
/// start, so a committed position names exactly where to resume: with a durable store, a
/// restarted runtime continues after the last line whose effects were stored. A line
/// longer than `max_line` is still delivered whole (the runtime dead-letters it as too
/// large). A trailing '\r' is stripped. Blank lines (empty, or only spaces, tabs and
/// '\r') carry no event: they are skipped, neither delivered nor dead-lettered nor
/// counted (as the HTTP gateway skips them in a request body).
///
/// Standard input, a pipe, a FIFO or a terminal is read as its writer writes: `poll`
/// hands on the complete lines there are as soon as there are any (never waiting for a
/// full batch), waits at most its timeout when there are none, and `wakeup()` (the
/// runtime's stop) ends that wait at once, so a stop does not wait for an idle writer.
/// A regular file is read in large chunks.
///
/// Caveats: a path naming a FIFO is opened in `open()`, which waits for its writer.
#pragma once

#include <rtcrm/core/source.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace rtcrm {

/// Options of `ndjson_source`.
struct ndjson_source_options {
    std::string path = "-";          ///< file path, or "-" for standard input
    std::int64_t start_offset = 0;   ///< byte offset to start at (resume after a restart)
    std::string name = "ndjson";     ///< the source name (keys committed positions)
};

/// NDJSON file/stdin source. Used on its runtime's source thread only.
class ndjson_source final : public source {
public:
    explicit ndjson_source(ndjson_source_options options);
    ~ndjson_source() override;
    ndjson_source(const ndjson_source&) = delete;
    ndjson_source& operator=(const ndjson_source&) = delete;

    [[nodiscard]] std::string_view name() const noexcept override;
    /// A file is resumable; standard input is not.
    [[nodiscard]] bool resumable() const noexcept override;
    /// Always: a file or a pipe ends.
    [[nodiscard]] bool bounded() const noexcept override { return true; }
    /// Continues after the line that starts at the stored position (partition 0).
    void resume(std::span<const source_position> positions) override;
    /// @throws rtcrm::error(io_error) naming the path if it cannot be opened or seeked, or
    ///         is a directory.
    void open() override;
    poll_status poll(std::vector<record>& out, std::size_t max, std::chrono::milliseconds timeout) override;
    void commit(std::span<const source_position> positions) override;
    void close() override;
    /// Ends a `poll` waiting for standard input or a pipe. Any thread, while open.
    void wakeup() override;

    /// The highest committed byte offset (start of the last fully processed line), or -1.
    [[nodiscard]] std::int64_t committed() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace rtcrm
