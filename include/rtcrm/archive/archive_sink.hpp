/// @file archive_sink.hpp
/// The event archive: every validated event, as received, in one zstd-compressed NDJSON
/// file per UTC day of event time (`DIR/YYYY-MM-DD.ndjson.zst`, archive_layout.hpp).
///
/// Bind it to `stream::archive` and add `archive_bolt` after the validation bolt
/// (archive_bolt.hpp); that bolt emits each event's raw bytes, which this sink appends,
/// one per line, to the file of the event's day (`output::event_ts`).
///
/// Frames and acks: lines are buffered per day and written as one zstd frame per day file
/// (day_file_writer.hpp) at least every `flush_interval` (checked at each `consume` and at
/// the runtime's periodic `flush`), or as soon as a day's buffer reaches `max_frame_bytes`.
/// An output's share is acked once its frame is written (and fdatasync'd with `sync`), or
/// nacked if writing it failed, so the archive is at-least-once like every sink: an event
/// whose frame was lost in a crash was never acked, and is read again after a restart. A
/// crash loses at most the unflushed frame of each day; reopening a day file cuts a torn
/// last frame.
///
/// Retention (`keep`): whole day files older than `keep` are deleted, counted back from
/// the newest event day written, not from the wall clock: a day file D is deleted once an
/// event of day N with N - D >= keep / 1d was written (checked when the newest day moves
/// on, and at construction against the newest file already there). So an archive filled
/// by a replay of old history keeps that history, a stopped topology deletes nothing, and
/// the result depends only on the events. An event for a day already outside the window
/// (a very late event) is still written (it was accepted); its file goes at the next
/// sweep.
///
/// Caveats: one sink per directory (two processes appending to the same day file would
/// interleave frames, and the cut at open assumes no other writer). The sink writes under
/// its mutex, so a slow disk (or `sync`) slows the shards: that is the backpressure.
#pragma once

#include <rtcrm/core/sink.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace rtcrm {

class day_file_writer;

/// Options of `archive_sink`.
struct archive_sink_options {
    std::string dir;                                  ///< the archive directory (created if missing)
    bool sync = false;                                ///< fdatasync each frame before its events are acked
    std::optional<std::chrono::milliseconds> keep;    ///< keep this many whole days (at least 1d); nullopt = forever
    std::chrono::milliseconds flush_interval{1000};   ///< the longest a line waits for its frame; > 0
    std::size_t max_frame_bytes = 1 << 20;            ///< a day's buffer this large is written at once; > 0
    int level = 3;                                    ///< zstd compression level

    /// @throws rtcrm::error(invalid_config) naming the bad field.
    void validate() const;
};

/// Counters of an archive sink (monotonic).
struct archive_stats {
    std::uint64_t events = 0;         ///< lines written in complete frames (and acked)
    std::uint64_t frames = 0;         ///< frames written
    std::uint64_t failed = 0;         ///< lines whose frame could not be written (nacked)
    std::uint64_t files_deleted = 0;  ///< day files deleted by retention
    std::uint64_t bytes_cut = 0;      ///< torn tails cut from day files opened again
};

/// The archive sink. Thread-safe (see sink.hpp).
class archive_sink final : public sink {
public:
    /// Creates `dir` if needed and applies retention to the files already there.
    /// @throws rtcrm::error(invalid_config) from `validate`, rtcrm::error(io_error) naming
    ///         the directory if it cannot be created or listed.
    explicit archive_sink(archive_sink_options options);
    ~archive_sink() override;
    archive_sink(const archive_sink&) = delete;
    archive_sink& operator=(const archive_sink&) = delete;

    /// "archive".
    [[nodiscard]] std::string_view name() const noexcept override { return "archive"; }
    /// Buffers each output's body as a line of its event day's file; writes frames that are due.
    void consume(std::span<output> batch) override;
    /// Writes the frames that are due (skips if another thread is writing).
    void flush() override;
    /// Writes every buffered line and completes every share held.
    void close() override;

    /// Writes every buffered line now, whatever the interval (tests, hosts at a checkpoint).
    void flush_now();
    [[nodiscard]] archive_stats stats() const;

private:
    struct day_state;
    void flush_all_locked();
    void flush_day_locked(std::int64_t day, day_state& state);
    void sweep_locked();

    archive_sink_options options_;
    std::int64_t keep_days_ = 0;  // 0 = forever
    mutable std::mutex mutex_;
    std::map<std::int64_t, std::unique_ptr<day_state>> days_;
    std::int64_t newest_day_ = INT64_MIN;
    std::int64_t swept_for_ = INT64_MIN;
    std::chrono::steady_clock::time_point last_flush_;
    archive_stats stats_;
};

}  // namespace rtcrm
