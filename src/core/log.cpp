#include <rtcrm/core/error.hpp>
#include <rtcrm/core/log.hpp>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

#include <sys/uio.h>
#include <unistd.h>

namespace rtcrm {

namespace {

constinit std::atomic<log_level> threshold{log_level::info};

// The host's sink, or null for the default. A logging thread copies the pointer under the
// mutex and calls the sink outside it: sinks run concurrently, a slow one holds only its
// own caller, and the copies tell set_log_sink when the calls of a replaced sink are over.
struct sink_slot {
    std::mutex mutex;
    std::shared_ptr<const log_sink> sink;
};

// Never destroyed: threads the host did not join may still log while statics are torn down.
sink_slot& slot() {
    static auto* s = new sink_slot;
    return *s;
}

// Set while this thread runs the host's sink, so that a sink that logs reaches standard
// error instead of itself (no recursion) and set_log_sink can refuse to wait for itself.
thread_local bool in_sink = false;

}  // namespace

void set_log_sink(log_sink sink) {
    if (in_sink) {
        throw error(errc::invalid_config, "set_log_sink: called from inside the log sink");
    }
    std::shared_ptr<const log_sink> next;
    if (sink) {
        next = std::make_shared<const log_sink>(std::move(sink));
    }
    auto& s = slot();
    std::shared_ptr<const log_sink> previous;
    {
        std::lock_guard lock(s.mutex);
        previous = std::exchange(s.sink, std::move(next));
    }
    // Every call of `previous` in progress holds a copy, and no new call can take one. The
    // last reset below synchronises with those copies' release, so once it returns, what
    // the host's old sink used may go. (The destructor runs outside the mutex: it may log.)
    for (int spins = 0; previous && previous.use_count() > 1; ++spins) {
        if (spins < 64) {
            std::this_thread::yield();
        } else {
            std::this_thread::sleep_for(std::chrono::microseconds(100));  // a slow sink: do not take a core
        }
    }
    previous.reset();
}

void set_log_level(log_level threshold_level) noexcept { threshold.store(threshold_level, std::memory_order_relaxed); }

log_level get_log_level() noexcept { return threshold.load(std::memory_order_relaxed); }

bool log_enabled(log_level level) noexcept {
    return level != log_level::off && level >= threshold.load(std::memory_order_relaxed);
}

void log(log_level level, std::string_view component, std::string_view message) noexcept {
    if (!log_enabled(level)) {
        return;
    }
    if (in_sink) {
        log_to_stderr(level, component, message);
        return;
    }
    std::shared_ptr<const log_sink> current;
    {
        auto& s = slot();
        std::lock_guard lock(s.mutex);
        current = s.sink;
    }
    if (!current) {
        log_to_stderr(level, component, message);
        return;
    }
    in_sink = true;
    try {
        (*current)(level, component, message);
    } catch (...) {
        // The library logs from catch blocks and C callbacks: nothing may escape from here.
    }
    in_sink = false;
}

void log_to_stderr(log_level, std::string_view component, std::string_view message) noexcept {
    constexpr std::string_view head = "rtcrm: ";
    constexpr std::string_view separator = ": ";
    constexpr std::string_view end = "\n";
    const auto part = [](std::string_view text) { return iovec{const_cast<char*>(text.data()), text.size()}; };
    std::array<iovec, 5> parts{part(head), part(component), part(separator), part(message), part(end)};
    // One writev, so concurrent lines do not interleave; the loop only finishes a short write.
    const int saved_errno = errno;
    iovec* next = parts.data();
    int left = static_cast<int>(parts.size());
    while (left > 0) {
        const auto written = ::writev(STDERR_FILENO, next, left);
        if (written < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        auto done = static_cast<std::size_t>(written);
        while (left > 0 && done >= next->iov_len) {
            done -= next->iov_len;
            ++next;
            --left;
        }
        if (left > 0) {
            next->iov_base = static_cast<char*>(next->iov_base) + done;
            next->iov_len -= done;
        }
    }
    errno = saved_errno;
}

std::string_view log_level_name(log_level level) noexcept {
    switch (level) {
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warning: return "warning";
    case log_level::error: return "error";
    case log_level::off: return "off";
    }
    return "unknown";
}

std::optional<log_level> parse_log_level(std::string_view name) noexcept {
    for (const auto level : {log_level::debug, log_level::info, log_level::warning, log_level::error, log_level::off}) {
        if (name == log_level_name(level)) {
            return level;
        }
    }
    return std::nullopt;
}

}  // namespace rtcrm
