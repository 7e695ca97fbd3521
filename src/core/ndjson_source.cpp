#include <rtcrm/core/error.hpp>
#include <rtcrm/core/ndjson_source.hpp>

#include "ndjson_lines.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

namespace rtcrm {

namespace {

// A line that carries no event: empty, or only spaces, tabs and carriage returns.
bool blank(std::string_view line) noexcept { return line.find_first_not_of(" \t\r") == std::string_view::npos; }

}  // namespace

// Reads with large read(2) calls into one buffer and cuts lines out of it, so a line
// costs a memchr and a copy into its record, not a stdio call. A pipe, FIFO, terminal or
// socket is waited on with poll(2), together with an eventfd that wakeup() signals, so a
// read never blocks past the poll's timeout or a stop.
struct ndjson_source::impl {
    static constexpr std::size_t chunk = 1 << 20;

    ndjson_source_options options;
    int fd = -1;
    bool owned = false;
    int wake_fd = -1;       // eventfd: wakeup() makes a waiting poll return
    bool may_block = false; // not a regular file: a read may wait for a writer
    std::string buffer;      // unread bytes; buffer[begin..] is not yet cut into lines
    std::size_t begin = 0;
    std::int64_t buffer_offset = 0;  // file offset of buffer[0]
    bool eof = false;
    std::int64_t committed = -1;
    bool skip_first_line = false;  // resuming: the line at the start offset was processed

    [[nodiscard]] std::string shown_path() const { return options.path == "-" ? "standard input" : options.path; }

    bool fill() {
        if (eof) {
            return false;
        }
        // Keep the unconsumed tail, then append a chunk after it.
        buffer.erase(0, begin);
        buffer_offset += static_cast<std::int64_t>(begin);
        begin = 0;
        const auto old = buffer.size();
        buffer.resize(old + chunk);
        ssize_t n = 0;
        do {
            n = ::read(fd, buffer.data() + old, chunk);
        } while (n < 0 && errno == EINTR);
        if (n < 0) {
            const int err = errno;
            buffer.resize(old);
            throw error(errc::io_error, fmt::format("ndjson_source: read {}: {}", shown_path(), std::strerror(err)));
        }
        buffer.resize(old + static_cast<std::size_t>(n));
        if (n == 0) {
            eof = true;
            return false;
        }
        return true;
    }

    // Waits until the input has bytes (or its end), wakeup() is called, or `timeout`
    // passes; true if a read will not block.
    bool wait_readable(std::chrono::milliseconds timeout) {
        pollfd fds[2] = {{fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
        int n = 0;
        do {
            n = ::poll(fds, 2, static_cast<int>(std::max<std::int64_t>(timeout.count(), 0)));
        } while (n < 0 && errno == EINTR);
        if (n < 0) {
            throw error(errc::io_error, fmt::format("ndjson_source: poll {}: {}", shown_path(), std::strerror(errno)));
        }
        if ((fds[1].revents & POLLIN) != 0) {
            std::uint64_t count = 0;
            (void)!::read(wake_fd, &count, sizeof count);  // consumed: the next wait waits again
        }
        return (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
    }
};

ndjson_source::ndjson_source(ndjson_source_options options) : impl_(std::make_unique<impl>()) {
    impl_->options = std::move(options);
}

ndjson_source::~ndjson_source() { close(); }

std::string_view ndjson_source::name() const noexcept { return impl_->options.name; }

bool ndjson_source::resumable() const noexcept { return impl_->options.path != "-"; }

void ndjson_source::resume(std::span<const source_position> positions) {
    for (const auto& p : positions) {
        if (p.partition == 0 && p.offset >= 0) {
            impl_->options.start_offset = p.offset;
            impl_->skip_first_line = true;
            impl_->committed = p.offset;
        }
    }
}

void ndjson_source::open() {
    auto& d = *impl_;
    if (d.fd >= 0) {
        throw error(errc::invalid_config, fmt::format("ndjson_source: {} is already open", d.options.path));
    }
    if (d.options.start_offset < 0) {
        throw error(errc::invalid_config, fmt::format("ndjson_source: start offset {} is negative", d.options.start_offset));
    }
    if (d.options.path == "-") {
        d.fd = STDIN_FILENO;
    } else {
        d.fd = ::open(d.options.path.c_str(), O_RDONLY | O_CLOEXEC);
        if (d.fd < 0) {
            throw error(errc::io_error, fmt::format("ndjson_source: cannot open {}: {}", d.options.path, std::strerror(errno)));
        }
        d.owned = true;
    }
    struct stat st {};
    if (::fstat(d.fd, &st) != 0) {
        const int err = errno;
        const bool was_owned = std::exchange(d.owned, false);
        if (was_owned) {
            ::close(d.fd);
        }
        d.fd = -1;
        throw error(errc::io_error, fmt::format("ndjson_source: {}: {}", d.shown_path(),
                                                err == EBADF ? "not open (closed by the parent process)" : std::strerror(err)));
    }
    if (S_ISDIR(st.st_mode)) {
        throw error(errc::io_error, fmt::format("ndjson_source: {} is a directory; name an NDJSON file, or - for "
                                                "standard input",
                                                d.options.path));
    }
    const bool regular = S_ISREG(st.st_mode);
    d.may_block = !regular;
    if (d.may_block && d.wake_fd < 0) {
        d.wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (d.wake_fd < 0) {
            throw error(errc::io_error, fmt::format("ndjson_source: eventfd: {}", std::strerror(errno)));
        }
    }
    if (regular && st.st_size < d.options.start_offset) {
        // The position came from a store: the file it named was truncated or replaced.
        throw error(errc::io_error, fmt::format("ndjson_source: {} has {} bytes, fewer than the position {} to resume from "
                                                "(was it truncated or replaced?)",
                                                d.options.path, st.st_size, d.options.start_offset));
    }
    if (d.options.start_offset > 0) {
        if (regular) {
            if (::lseek(d.fd, d.options.start_offset, SEEK_SET) != d.options.start_offset) {
                throw error(errc::io_error, fmt::format("ndjson_source: cannot seek {} to {}: {}", d.options.path,
                                                        d.options.start_offset, std::strerror(errno)));
            }
            d.buffer_offset = d.options.start_offset;
        } else {
            // Not seekable (a pipe): read and discard up to the offset.
            std::int64_t skipped = 0;
            while (skipped < d.options.start_offset && d.fill()) {
                const auto take = std::min<std::int64_t>(d.options.start_offset - skipped, static_cast<std::int64_t>(d.buffer.size()));
                d.begin = static_cast<std::size_t>(take);
                skipped += take;
            }
            if (skipped < d.options.start_offset) {
                throw error(errc::io_error, fmt::format("ndjson_source: {} ends before start offset {}", d.options.path,
                                                        d.options.start_offset));
            }
        }
    }
}

poll_status ndjson_source::poll(std::vector<record>& out, std::size_t max, std::chrono::milliseconds timeout) {
    auto& d = *impl_;
    if (d.fd < 0) {
        throw error(errc::invalid_config, "ndjson_source: poll() before open()");
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t taken = 0;
    while (taken < max) {
        const auto line = detail::next_ndjson_line(std::string_view{d.buffer}.substr(d.begin), d.eof);
        if (!line) {
            if (!d.eof) {
                if (d.may_block) {
                    if (taken > 0) {
                        break;  // hand on what is there: never wait for a full batch
                    }
                    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now());
                    if (!d.wait_readable(std::max(left, std::chrono::milliseconds(0)))) {
                        break;  // nothing within the timeout, or woken up
                    }
                }
                d.fill();
                continue;
            }
            return poll_status::end;
        }
        const auto offset = d.buffer_offset + static_cast<std::int64_t>(d.begin);
        d.begin += line->consumed;
        if (d.skip_first_line) {
            d.skip_first_line = false;  // the stored position's own line: already processed
            continue;
        }
        if (blank(line->text)) {
            continue;  // blank lines carry no event: skipped; their bytes still advance the offsets
        }
        record rec{std::string{line->text}, std::nullopt, {}};
        rec.origin.partition = 0;
        rec.origin.offset = offset;
        out.push_back(std::move(rec));
        ++taken;
    }
    return d.eof && d.begin == d.buffer.size() ? poll_status::end : poll_status::more;
}

void ndjson_source::commit(std::span<const source_position> positions) {
    for (const auto& p : positions) {
        if (p.partition == 0 && p.offset > impl_->committed) {
            impl_->committed = p.offset;
        }
    }
}

void ndjson_source::close() {
    if (!impl_) {
        return;
    }
    if (impl_->owned && impl_->fd >= 0) {
        ::close(impl_->fd);
        impl_->owned = false;
    }
    impl_->fd = -1;
    if (impl_->wake_fd >= 0) {
        ::close(impl_->wake_fd);
        impl_->wake_fd = -1;
    }
}

void ndjson_source::wakeup() {
    if (const int fd = impl_->wake_fd; fd >= 0) {
        const std::uint64_t one = 1;
        (void)!::write(fd, &one, sizeof one);
    }
}

std::int64_t ndjson_source::committed() const noexcept { return impl_->committed; }

}  // namespace rtcrm
