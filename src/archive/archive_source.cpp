#include <rtcrm/archive/archive_source.hpp>

#include "core/logging.hpp"

namespace rtcrm {

archive_source::archive_source(archive_source_options options) : options_(std::move(options)) {}

archive_source::~archive_source() = default;

void archive_source::open() { reader_ = std::make_unique<archive_reader>(options_.read); }

poll_status archive_source::poll(std::vector<record>& out, std::size_t max, std::chrono::milliseconds) {
    for (std::size_t n = 0; n < max; ++n) {
        const auto line = reader_->next();
        if (!line) {
            return poll_status::end;
        }
        out.push_back(record{.bytes = std::string{*line}});
    }
    return poll_status::more;
}

void archive_source::close() {
    if (reader_ == nullptr || reported_) {
        return;
    }
    reported_ = true;
    const auto& s = reader_->stats();
    detail::log_fmt(log_level::info, "archive",
                    "{}: {} events read from {} files, {} outside the time bounds skipped, {} files with a torn or "
                    "damaged frame",
                    options_.read.path, s.lines, s.files, s.skipped, s.torn);
}

archive_reader_stats archive_source::stats() const {
    return reader_ != nullptr ? reader_->stats() : archive_reader_stats{};
}

}  // namespace rtcrm
