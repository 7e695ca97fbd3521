/// @file ndjson_sink.hpp
/// Writes each output's body as one line (NDJSON) to a file, standard output or standard
/// error. Each `consume` batch is written with one write call and flushed to the OS before
/// the outputs are acked.
///
/// Caveats: "acked" means handed to the operating system, not fsync'ed. Lines from
/// concurrent shards interleave by batch, never within a line. After a crash between the
/// write and the source's commit, a trigger's line is written again when its event is read
/// again, with the same `trigger_id` (core/trigger_id.hpp).
#pragma once

#include <rtcrm/core/sink.hpp>

#include <memory>
#include <string>

namespace rtcrm {

/// Options of `ndjson_sink`.
struct ndjson_sink_options {
    std::string path = "-";  ///< a file path, "-" for standard output, "stderr" for standard error
    bool append = false;     ///< append to an existing file instead of truncating it
};

/// NDJSON file/stdout sink. Thread-safe.
class ndjson_sink final : public sink {
public:
    /// @throws rtcrm::error(errc::io_error) naming the path if it cannot be opened.
    explicit ndjson_sink(ndjson_sink_options options);
    ~ndjson_sink() override;
    ndjson_sink(const ndjson_sink&) = delete;
    ndjson_sink& operator=(const ndjson_sink&) = delete;

    [[nodiscard]] std::string_view name() const noexcept override { return "ndjson"; }
    void consume(std::span<output> batch) override;
    void flush() override;
    /// Lines written so far.
    [[nodiscard]] std::uint64_t lines() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace rtcrm
