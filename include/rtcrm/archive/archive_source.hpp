/// @file archive_source.hpp
/// A source that reads events from an event archive directory, a `.zst` file or an
/// NDJSON file, within time bounds (archive_reader.hpp): what `rtcrm-topology --source
/// ndjson --input X` uses when X is a directory or a `.zst` file, or when `--from`/`--to`
/// are given.
///
/// Records carry no position: the source is not resumable (a replay of an archive is
/// started over, with `--from` to narrow it), and it ends at the end of its last file.
/// At the end it logs how many lines it read, how many it skipped outside the bounds and
/// which files had a torn last frame.
#pragma once

#include <rtcrm/archive/archive_reader.hpp>
#include <rtcrm/core/source.hpp>

#include <memory>
#include <string>

namespace rtcrm {

/// Options of `archive_source`.
struct archive_source_options {
    archive_reader_options read;   ///< what to read and the bounds
    std::string name = "archive";  ///< the source name
};

/// Reads an archive as a source. Used on its runtime's source thread only.
class archive_source final : public source {
public:
    explicit archive_source(archive_source_options options);
    ~archive_source() override;
    archive_source(const archive_source&) = delete;
    archive_source& operator=(const archive_source&) = delete;

    [[nodiscard]] std::string_view name() const noexcept override { return options_.name; }
    /// Always: its files end.
    [[nodiscard]] bool bounded() const noexcept override { return true; }
    /// Lists the files. @throws rtcrm::error(io_error) as `archive_reader`.
    void open() override;
    poll_status poll(std::vector<record>& out, std::size_t max, std::chrono::milliseconds timeout) override;
    void close() override;

    /// What the reader did (after `open`); read on the source's thread or after the run.
    [[nodiscard]] archive_reader_stats stats() const;

private:
    archive_source_options options_;
    std::unique_ptr<archive_reader> reader_;
    bool reported_ = false;
};

}  // namespace rtcrm
