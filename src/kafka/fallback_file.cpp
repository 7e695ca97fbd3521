#include "fallback_file.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace rtcrm::detail::kafka {

fallback_file::~fallback_file() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

// "" once all of `bytes` is written, else the step that failed (errno tells why).
std::string_view fallback_file::write_all(std::string_view bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
        const auto n = ::write(fd_, bytes.data() + done, bytes.size() - done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            partial_line_ = partial_line_ || done > 0;
            return "write";
        }
        done += static_cast<std::size_t>(n);
    }
    return {};
}

std::string fallback_file::append(std::string_view line) {
    std::lock_guard lock(mutex_);
    auto failed = [&](std::string_view step) {
        const int e = errno;
        if (fd_ >= 0) {
            ::close(fd_);  // opened afresh next time: the disk or the path may be back
            fd_ = -1;
        }
        return fmt::format("{}: {}: {}", path_, step, std::strerror(e));
    };
    if (fd_ < 0) {
        fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd_ < 0) {
            return failed("open");
        }
    }
    // A line an earlier failed write left half written is ended first, so this one
    // stays a line of its own.
    if (partial_line_) {
        if (auto why = write_all("\n"); !why.empty()) {
            return failed(why);
        }
        partial_line_ = false;
    }
    if (auto why = write_all(line); !why.empty()) {
        return failed(why);
    }
    if (::fsync(fd_) != 0) {
        return failed("fsync");
    }
    return {};
}

}  // namespace rtcrm::detail::kafka
