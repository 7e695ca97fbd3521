#include <rtcrm/archive/archive_layout.hpp>
#include <rtcrm/archive/archive_sink.hpp>
#include <rtcrm/archive/day_file_writer.hpp>
#include <rtcrm/core/error.hpp>

#include "core/logging.hpp"

#include <fmt/format.h>

#include <system_error>

namespace rtcrm {

namespace fs = std::filesystem;

struct archive_sink::day_state {
    std::unique_ptr<day_file_writer> writer;
    std::vector<ack_token> acks;  // the shares of the buffered lines, completed by their frame
};

void archive_sink_options::validate() const {
    auto require = [](bool ok, std::string_view what) {
        if (!ok) {
            throw error(errc::invalid_config, fmt::format("archive_sink: {}", what));
        }
    };
    require(!dir.empty(), "dir is empty");
    require(!keep || *keep >= std::chrono::milliseconds{archive::day_ms},
            "keep must be at least a day (whole day files are kept or deleted)");
    require(flush_interval.count() > 0, "flush_interval must be positive");
    require(max_frame_bytes > 0, "max_frame_bytes must be positive");
}

archive_sink::archive_sink(archive_sink_options options) : options_(std::move(options)) {
    options_.validate();
    if (options_.keep) {
        keep_days_ = options_.keep->count() / archive::day_ms;
    }
    std::error_code ec;
    fs::create_directories(options_.dir, ec);
    if (ec) {
        throw error(ec, fmt::format("archive {}: cannot create the directory: {}", options_.dir, ec.message()));
    }
    for (const auto& entry : fs::directory_iterator(options_.dir, ec)) {
        if (const auto day = archive::day_of_file_name(entry.path().filename().string())) {
            newest_day_ = std::max(newest_day_, *day);
        }
    }
    if (ec) {
        throw error(ec, fmt::format("archive {}: cannot list the directory: {}", options_.dir, ec.message()));
    }
    last_flush_ = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex_);
    sweep_locked();
}

archive_sink::~archive_sink() { close(); }

void archive_sink::consume(std::span<output> batch) {
    std::lock_guard lock(mutex_);
    for (auto& out : batch) {
        const auto day = archive::day_of(out.event_ts);
        auto& state = days_[day];
        if (!state) {
            state = std::make_unique<day_state>();
        }
        if (!state->writer) {
            try {
                state->writer = std::make_unique<day_file_writer>(
                    fs::path{options_.dir} / archive::day_file_name(day), day_file_options{.sync = options_.sync,
                                                                                             .level = options_.level});
                stats_.bytes_cut += state->writer->cut_bytes();
            } catch (const error& e) {
                detail::log_fmt(log_level::error, "archive", "{}", e.what());
                out.ack.nack(e.code());
                ++stats_.failed;
                continue;
            }
        }
        state->writer->append(out.body);
        state->acks.push_back(std::move(out.ack));
        newest_day_ = std::max(newest_day_, day);
        if (state->writer->buffered() >= options_.max_frame_bytes) {
            flush_day_locked(day, *state);
        }
    }
    if (std::chrono::steady_clock::now() - last_flush_ >= options_.flush_interval) {
        flush_all_locked();
    }
}

void archive_sink::flush() {
    std::unique_lock lock(mutex_, std::try_to_lock);
    if (lock.owns_lock() && std::chrono::steady_clock::now() - last_flush_ >= options_.flush_interval) {
        flush_all_locked();
    }
}

void archive_sink::flush_now() {
    std::lock_guard lock(mutex_);
    flush_all_locked();
}

void archive_sink::close() {
    std::lock_guard lock(mutex_);
    flush_all_locked();
    days_.clear();
}

archive_stats archive_sink::stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

void archive_sink::flush_day_locked(std::int64_t day, day_state& state) {
    if (state.acks.empty()) {
        return;
    }
    try {
        state.writer->flush();
        ++stats_.frames;
        stats_.events += state.acks.size();
        for (auto& a : state.acks) {
            a.ack();
        }
    } catch (const error& e) {
        detail::log_fmt(log_level::error, "archive", "{} ({} events of {} nacked)", e.what(), state.acks.size(),
                        archive::day_text(day));
        stats_.failed += state.acks.size();
        for (auto& a : state.acks) {
            a.nack(e.code());
        }
    }
    state.acks.clear();
}

void archive_sink::flush_all_locked() {
    for (auto& [day, state] : days_) {
        flush_day_locked(day, *state);
    }
    last_flush_ = std::chrono::steady_clock::now();
    // Days two behind the newest rarely get more events: their files are closed (and
    // opened again, cut-checked, if one comes).
    std::erase_if(days_, [&](const auto& kv) { return kv.first + 1 < newest_day_; });
    if (newest_day_ != swept_for_) {
        sweep_locked();
    }
}

void archive_sink::sweep_locked() {
    swept_for_ = newest_day_;
    if (keep_days_ == 0 || newest_day_ == INT64_MIN) {
        return;
    }
    std::error_code ec;
    std::vector<fs::path> old;
    for (const auto& entry : fs::directory_iterator(options_.dir, ec)) {
        const auto day = archive::day_of_file_name(entry.path().filename().string());
        if (day && newest_day_ - *day >= keep_days_ && !days_.contains(*day)) {
            old.push_back(entry.path());
        }
    }
    if (ec) {
        detail::log_fmt(log_level::error, "archive", "{}: cannot list the directory for retention: {}", options_.dir,
                        ec.message());
        return;
    }
    for (const auto& path : old) {
        if (fs::remove(path, ec)) {
            ++stats_.files_deleted;
            detail::log_fmt(log_level::info, "archive", "{}: deleted (older than {} days before {})", path.string(),
                            keep_days_, archive::day_text(newest_day_));
        } else if (ec) {
            detail::log_fmt(log_level::error, "archive", "{}: cannot delete: {}", path.string(), ec.message());
        }
    }
}

}  // namespace rtcrm
