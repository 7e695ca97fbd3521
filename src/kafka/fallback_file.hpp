// Internal: the local file where the Kafka sink writes the dead letters it cannot deliver
// (see kafka_sink.hpp). One line per dead letter, appended, then fsync'd, so an acked
// dead letter survives a crash. Thread-safe (a mutex; dead letters only, never on the
// per-event path of triggers).
#pragma once

#include <mutex>
#include <string>
#include <string_view>

namespace rtcrm::detail::kafka {

class fallback_file {
public:
    explicit fallback_file(std::string path) : path_(std::move(path)) {}
    ~fallback_file();
    fallback_file(const fallback_file&) = delete;
    fallback_file& operator=(const fallback_file&) = delete;

    [[nodiscard]] const std::string& path() const noexcept { return path_; }

    // Appends `line` whole (the file is opened, and created 0644, at the first line) and
    // fsyncs it. "" when it is on disk, else why not (the path and strerror).
    [[nodiscard]] std::string append(std::string_view line);

private:
    std::string_view write_all(std::string_view bytes);

    std::string path_;
    std::mutex mutex_;
    int fd_ = -1;                // guarded by mutex_; -1 until the first line, or after a failure
    bool partial_line_ = false;  // guarded by mutex_; a failed write left part of a line
};

}  // namespace rtcrm::detail::kafka
