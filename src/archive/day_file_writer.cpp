#include <rtcrm/archive/day_file_writer.hpp>
#include <rtcrm/core/error.hpp>

#include "archive/zstd_frames.hpp"
#include "core/logging.hpp"

#include <fmt/format.h>
#include <zstd.h>

#include <cerrno>
#include <fcntl.h>
#include <system_error>
#include <unistd.h>

namespace rtcrm {

namespace {

[[noreturn]] void fail(const std::filesystem::path& path, std::string_view what, int err) {
    throw error(std::error_code(err, std::generic_category()),
                fmt::format("archive {}: {}", path.string(), what));
}

}  // namespace

std::uint64_t complete_frames_end(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail(path, "cannot open", errno);
    }
    const auto end = detail::archive::last_complete_frame_end(fd);
    ::close(fd);
    if (!end) {
        fail(path, "cannot read", end.error());
    }
    return *end;
}

day_file_writer::day_file_writer(std::filesystem::path path, day_file_options options)
    : path_(std::move(path)), options_(options) {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
        fail(path_, "cannot open for appending", errno);
    }
    try {
        const off_t length = ::lseek(fd_, 0, SEEK_END);
        if (length < 0) {
            fail(path_, "cannot seek", errno);
        }
        const auto end = detail::archive::last_complete_frame_end(fd_);
        if (!end) {
            fail(path_, "cannot read", end.error());
        }
        size_ = *end;
        cut_ = static_cast<std::uint64_t>(length) - size_;
        if (cut_ > options_.max_cut) {
            throw error(errc::io_error,
                        fmt::format("archive {}: {} bytes after the last complete zstd frame (at byte {}): more than "
                                    "the torn tail of a crash; move the file aside or cut it yourself "
                                    "(truncate -s {} FILE) after inspecting it",
                                    path_.string(), cut_, size_, size_));
        }
        if (cut_ > 0) {
            if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
                fail(path_, "cannot cut the torn last frame", errno);
            }
            if (::fdatasync(fd_) != 0) {
                fail(path_, "cannot sync after cutting the torn last frame", errno);
            }
            detail::log_fmt(log_level::warning, "archive", "{}: cut a torn last frame ({} bytes after byte {})",
                            path_.string(), cut_, size_);
        }
        cctx_ = ZSTD_createCCtx();
        if (cctx_ == nullptr) {
            throw std::bad_alloc();
        }
        auto* cctx = static_cast<ZSTD_CCtx*>(cctx_);
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, options_.level);
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    } catch (...) {
        ::close(fd_);
        throw;
    }
}

day_file_writer::~day_file_writer() {
    ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(cctx_));
    ::close(fd_);
}

void day_file_writer::append(std::string_view line) {
    buffer_.append(line);
    buffer_.push_back('\n');
}

void day_file_writer::flush() {
    if (buffer_.empty()) {
        return;
    }
    auto* cctx = static_cast<ZSTD_CCtx*>(cctx_);
    frame_.resize(ZSTD_compressBound(buffer_.size()));
    const std::size_t n = ZSTD_compress2(cctx, frame_.data(), frame_.size(), buffer_.data(), buffer_.size());
    buffer_.clear();
    if (ZSTD_isError(n)) {
        throw error(errc::io_error, fmt::format("archive {}: zstd: {}", path_.string(), ZSTD_getErrorName(n)));
    }
    std::size_t done = 0;
    int err = 0;
    while (done < n) {
        const ssize_t w = ::pwrite(fd_, frame_.data() + done, n - done, static_cast<off_t>(size_ + done));
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            err = w < 0 ? errno : EIO;
            break;
        }
        done += static_cast<std::size_t>(w);
    }
    if (err == 0 && options_.sync && ::fdatasync(fd_) != 0) {
        err = errno;
    }
    if (err != 0) {
        // The file keeps only its complete frames: a reader or the next writer never sees
        // part of this one (if the cut fails too, the next open cuts it).
        (void)::ftruncate(fd_, static_cast<off_t>(size_));
        fail(path_, options_.sync && done == n ? "cannot sync a frame" : "cannot write a frame", err);
    }
    size_ += n;
}

}  // namespace rtcrm
