// NDJSON framing. The input is the bytes of an NDJSON file:
// - detail::next_ndjson_line, fed the input in chunks as ndjson_source's reads deliver it
//   (of 1, 3 and 64 bytes, and whole), must cut the same lines at the same offsets as a
//   plain split of the whole input at '\n' (one trailing '\r' dropped);
// - ndjson_source reading the input from a file must deliver exactly the non-blank ones
//   (blank: only spaces, tabs and '\r'), each with its offset, and resumed at one of them,
//   exactly those after it.
#include "core/ndjson_lines.hpp"
#include "fuzz_check.hpp"

#include <rtcrm/core/ndjson_source.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <string>
#include <vector>

namespace {

using rtcrm::fuzz::check;

struct line {
    std::string text;
    std::int64_t offset = 0;
    friend bool operator==(const line&, const line&) = default;
};

std::vector<line> reference_lines(std::string_view in) {
    std::vector<line> out;
    std::size_t start = 0;
    while (start < in.size()) {
        const auto end = in.find('\n', start);
        const auto stop = end == std::string_view::npos ? in.size() : end;
        std::string text{in.substr(start, stop - start)};
        if (!text.empty() && text.back() == '\r') {
            text.pop_back();
        }
        out.push_back({std::move(text), static_cast<std::int64_t>(start)});
        start = stop + 1;
    }
    return out;
}

// As ndjson_source::poll does: cut lines from a buffer, and append the next read of
// `chunk` bytes (dropping the bytes already cut) when no line is complete.
std::vector<line> chunked_lines(std::string_view in, std::size_t chunk) {
    std::vector<line> out;
    std::string buffer;
    std::size_t begin = 0;
    std::size_t buffer_offset = 0;
    std::size_t fed = 0;
    for (;;) {
        const auto next = rtcrm::detail::next_ndjson_line(std::string_view{buffer}.substr(begin), fed == in.size());
        if (!next) {
            if (fed == in.size()) {
                check(begin == buffer.size(), "the input ended with bytes not cut into a line");
                return out;
            }
            buffer.erase(0, begin);
            buffer_offset += begin;
            begin = 0;
            const auto n = std::min(chunk, in.size() - fed);
            buffer.append(in.substr(fed, n));
            fed += n;
            continue;
        }
        check(next->consumed > 0 && next->consumed <= buffer.size() - begin, "a line consumed no bytes, or too many");
        check(next->text.find('\n') == std::string_view::npos, "a line holds a newline");
        check(next->text.size() <= next->consumed, "a line is longer than the bytes it consumed");
        out.push_back({std::string{next->text}, static_cast<std::int64_t>(buffer_offset + begin)});
        begin += next->consumed;
    }
}

// The records of an ndjson_source over `path`, resumed after `resume_at` if given.
std::vector<line> source_lines(const std::string& path, std::optional<std::int64_t> resume_at) {
    rtcrm::ndjson_source source{rtcrm::ndjson_source_options{.path = path}};
    if (resume_at) {
        const rtcrm::source_position at{.source = "ndjson", .partition = 0, .offset = *resume_at};
        source.resume(std::span{&at, 1});
    }
    source.open();
    std::vector<rtcrm::record> records;
    while (source.poll(records, 7, std::chrono::milliseconds{0}) != rtcrm::poll_status::end) {
    }
    std::vector<line> out;
    for (auto& r : records) {
        check(r.origin.partition == 0 && !r.key, "a record of ndjson_source has a partition or a key");
        out.push_back({std::move(r.bytes), r.origin.offset});
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto in = rtcrm::fuzz::text_of(data, size);
    const auto expected = reference_lines(in);
    for (const std::size_t chunk : std::array<std::size_t, 4>{1, 3, 64, in.size() + 1}) {
        check(chunked_lines(in, chunk) == expected, "next_ndjson_line cut other lines than a split at '\\n'");
    }

    std::vector<line> non_empty;
    for (const auto& l : expected) {
        if (l.text.find_first_not_of(" \t\r") != std::string::npos) {
            non_empty.push_back(l);
        }
    }
    const int fd = ::memfd_create("ndjson_fuzz", MFD_CLOEXEC);
    check(fd >= 0, "memfd_create failed");
    for (std::size_t done = 0; done < in.size();) {
        const auto n = ::write(fd, in.data() + done, in.size() - done);
        check(n > 0, "write to the memfd failed");
        done += static_cast<std::size_t>(n);
    }
    const auto path = "/proc/self/fd/" + std::to_string(fd);
    check(source_lines(path, std::nullopt) == non_empty, "ndjson_source delivered other records than the lines");
    if (!non_empty.empty()) {
        // A committed position is a record's offset; resuming there skips that record.
        const auto k = in.size() % non_empty.size();
        const std::vector<line> after(non_empty.begin() + static_cast<std::ptrdiff_t>(k) + 1, non_empty.end());
        check(source_lines(path, non_empty[k].offset) == after, "ndjson_source resumed at a record delivered others than those after it");
    }
    ::close(fd);
    return 0;
}
