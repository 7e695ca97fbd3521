#include <rtcrm/archive/archive_layout.hpp>
#include <rtcrm/archive/archive_reader.hpp>
#include <rtcrm/core/error.hpp>

#include "core/key_scan.hpp"
#include "core/logging.hpp"

#include <fmt/format.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <system_error>

namespace rtcrm {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t chunk = 1 << 17;

}  // namespace

struct archive_reader::impl {
    archive_reader_options options;
    std::vector<fs::path> files;
    archive_reader_stats stats;
    std::size_t next_file = 0;

    // The file being read.
    std::FILE* file = nullptr;
    bool zstd = false;
    bool eof = false;
    ZSTD_DCtx* dctx = nullptr;
    std::vector<char> in = std::vector<char>(chunk);
    ZSTD_inBuffer input{nullptr, 0, 0};
    bool in_frame = false;  // the decoder is inside a frame
    // Decompressed text: [pos, ready) is whole lines of complete frames (or of a plain
    // file); [ready, text.size()) is the frame being decoded.
    std::string text;
    std::size_t pos = 0;
    std::size_t ready = 0;
    std::string line;

    ~impl() {
        close_file();
        ZSTD_freeDCtx(dctx);
    }

    void close_file() {
        if (file != nullptr) {
            std::fclose(file);
            file = nullptr;
        }
    }

    [[nodiscard]] const fs::path& current() const { return files[next_file - 1]; }

    bool open_next() {
        close_file();
        if (next_file == files.size()) {
            return false;
        }
        const auto& path = files[next_file++];
        file = std::fopen(path.c_str(), "rb");
        if (file == nullptr) {
            throw error(std::error_code(errno, std::generic_category()),
                        fmt::format("archive_reader: cannot open {}", path.string()));
        }
        ++stats.files;
        zstd = path.extension() == ".zst";
        eof = false;
        in_frame = false;
        input = {in.data(), 0, 0};
        text.clear();
        pos = ready = 0;
        if (zstd) {
            if (dctx == nullptr) {
                dctx = ZSTD_createDCtx();
                if (dctx == nullptr) {
                    throw std::bad_alloc();
                }
            }
            ZSTD_DCtx_reset(dctx, ZSTD_reset_session_only);
        }
        return true;
    }

    // Reads more of the current file into `text`; false once it has no more.
    bool fill() {
        if (eof) {
            return false;
        }
        text.erase(0, pos);
        ready -= pos;
        pos = 0;
        if (input.pos == input.size) {
            const std::size_t n = std::fread(in.data(), 1, in.size(), file);
            if (n == 0) {
                if (std::ferror(file) != 0) {
                    throw error(errc::io_error, fmt::format("archive_reader: cannot read {}", current().string()));
                }
                eof = true;
                if (zstd && (in_frame || ready != text.size())) {
                    log_torn(text.size() - ready);
                    text.resize(ready);
                }
                ready = text.size();
                return false;
            }
            stats.bytes_read += n;
            input = {in.data(), n, 0};
        }
        if (!zstd) {
            text.append(in.data(), input.size);
            input.pos = input.size;
            ready = text.size();
            return true;
        }
        // Until the input is used up and the decoder has handed on all it holds (a full
        // output buffer may leave more to flush).
        bool full = false;
        while (input.pos < input.size || full) {
            const std::size_t at = text.size();
            text.resize(at + ZSTD_DStreamOutSize());
            ZSTD_outBuffer output{text.data() + at, ZSTD_DStreamOutSize(), 0};
            const std::size_t ret = ZSTD_decompressStream(dctx, &output, &input);
            text.resize(at + output.pos);
            full = output.pos == output.size;
            if (ZSTD_isError(ret)) {
                detail::log_fmt(log_level::error, "archive", "{}: damaged zstd frame ({}); the rest of the file is "
                                "not read", current().string(), ZSTD_getErrorName(ret));
                ++stats.torn;
                text.resize(ready);
                eof = true;
                return ready > pos;
            }
            in_frame = ret != 0;
            if (!in_frame) {
                ready = text.size();  // a frame ended, its checksum matched
            } else if (text.size() - ready > options.max_frame_text) {
                const auto last = text.rfind('\n');
                if (last != std::string::npos && last >= ready) {
                    ready = last + 1;
                }
            }
        }
        return true;
    }

    void log_torn(std::size_t text_bytes) {
        ++stats.torn;
        detail::log_fmt(log_level::warning, "archive",
                        "{}: the last zstd frame is incomplete (torn by a crash?): read up to the last complete "
                        "frame, {} decompressed bytes of the torn one ignored",
                        current().string(), text_bytes);
    }

    // The next line of the current file, or nullopt at its end.
    std::optional<std::string_view> next_line() {
        for (;;) {
            const auto nl = std::string_view{text}.substr(0, ready).find('\n', pos);
            if (nl != std::string_view::npos) {
                const std::string_view l{text.data() + pos, nl - pos};
                pos = nl + 1;
                return l;
            }
            if (!fill()) {
                if (eof && pos < ready) {
                    line.assign(text, pos, ready - pos);
                    pos = ready;
                    return std::string_view{line};
                }
                if (eof) {
                    return std::nullopt;
                }
            }
        }
    }

    bool in_bounds(std::string_view l) const {
        if (!options.from && !options.to) {
            return true;
        }
        const auto ts = detail::scan_key(l, options.key_field).ts;
        if (!ts) {
            return true;
        }
        return (!options.from || *ts >= *options.from) && (!options.to || *ts < *options.to);
    }
};

archive_reader::archive_reader(archive_reader_options options) : impl_(std::make_unique<impl>()) {
    impl_->options = std::move(options);
    const fs::path root{impl_->options.path};
    std::error_code ec;
    const auto status = fs::status(root, ec);
    if (ec || !fs::exists(status)) {
        throw error(errc::io_error, fmt::format("archive_reader: {} does not exist", root.string()));
    }
    const auto& o = impl_->options;
    if (fs::is_directory(status)) {
        std::vector<std::pair<std::int64_t, fs::path>> days;
        std::size_t day_files = 0;
        for (const auto& entry : fs::directory_iterator(root, ec)) {
            const auto day = archive::day_of_file_name(entry.path().filename().string());
            if (!day) {
                continue;
            }
            ++day_files;
            const bool before = o.from && (*day + 1) * archive::day_ms <= *o.from;
            const bool after = o.to && *day * archive::day_ms >= *o.to;
            if (!before && !after) {
                days.emplace_back(*day, entry.path());
            }
        }
        if (ec) {
            throw error(ec, fmt::format("archive_reader: cannot list {}", root.string()));
        }
        if (day_files == 0) {
            throw error(errc::io_error, fmt::format("archive_reader: {} is a directory without event archive day "
                                                    "files (YYYY-MM-DD{})",
                                                    root.string(), archive::day_file_suffix));
        }
        std::sort(days.begin(), days.end());
        for (auto& d : days) {
            impl_->files.push_back(std::move(d.second));
        }
    } else {
        impl_->files.push_back(root);
    }
    for (const auto& f : impl_->files) {
        impl_->stats.bytes_total += fs::file_size(f, ec);
    }
}

archive_reader::~archive_reader() = default;

std::optional<std::string_view> archive_reader::next() {
    auto& m = *impl_;
    for (;;) {
        if (m.file == nullptr && !m.open_next()) {
            return std::nullopt;
        }
        auto l = m.next_line();
        if (!l) {
            m.close_file();
            continue;
        }
        if (!l->empty() && l->back() == '\r') {
            l->remove_suffix(1);
        }
        if (l->find_first_not_of(" \t\r") == std::string_view::npos) {
            continue;
        }
        if (!m.in_bounds(*l)) {
            ++m.stats.skipped;
            continue;
        }
        ++m.stats.lines;
        return l;
    }
}

const std::vector<fs::path>& archive_reader::files() const noexcept { return impl_->files; }
const archive_reader_stats& archive_reader::stats() const noexcept { return impl_->stats; }

}  // namespace rtcrm
