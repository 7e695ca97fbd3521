#include <rtcrm/core/error.hpp>
#include <rtcrm/core/ndjson_sink.hpp>

#include "core/logging.hpp"

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>

namespace rtcrm {

struct ndjson_sink::impl {
    std::FILE* file = nullptr;
    bool owned = false;
    std::string path;
    std::mutex mutex;
    std::string buffer;  // one batch, written with one call
    std::atomic<std::uint64_t> lines{0};
};

ndjson_sink::ndjson_sink(ndjson_sink_options options) : impl_(std::make_unique<impl>()) {
    impl_->path = options.path;
    if (options.path == "-") {
        impl_->file = stdout;
    } else if (options.path == "stderr") {
        impl_->file = stderr;
    } else {
        impl_->file = std::fopen(options.path.c_str(), options.append ? "ab" : "wb");
        if (impl_->file == nullptr) {
            throw error(std::error_code(errno, std::generic_category()), fmt::format("ndjson_sink: cannot open {}", options.path));
        }
        impl_->owned = true;
    }
}

ndjson_sink::~ndjson_sink() {
    if (impl_->owned) {
        std::fclose(impl_->file);
    } else {
        std::fflush(impl_->file);
    }
}

void ndjson_sink::consume(std::span<output> batch) {
    std::lock_guard lock(impl_->mutex);
    auto& buf = impl_->buffer;
    buf.clear();
    for (const auto& out : batch) {
        buf.append(out.body);
        buf.push_back('\n');
    }
    const bool ok = std::fwrite(buf.data(), 1, buf.size(), impl_->file) == buf.size() && std::fflush(impl_->file) == 0;
    if (!ok) {
        const std::error_code ec(errno, std::generic_category());
        detail::log_fmt(log_level::error, "sink", "ndjson_sink {}: write failed: {}", impl_->path, ec.message());
        for (auto& out : batch) {
            out.ack.nack(ec);
        }
        return;
    }
    impl_->lines.fetch_add(batch.size(), std::memory_order_relaxed);
    for (auto& out : batch) {
        out.ack.ack();
    }
}

void ndjson_sink::flush() {
    // Every batch is flushed as it is written; nothing is buffered between calls.
}

std::uint64_t ndjson_sink::lines() const noexcept { return impl_->lines.load(std::memory_order_relaxed); }

}  // namespace rtcrm
