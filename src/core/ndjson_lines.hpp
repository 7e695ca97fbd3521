// Internal: how NDJSON bytes are cut into lines, apart from where the bytes come from, so
// that the rule is one pure function (ndjson_source applies it to its read buffer;
// tests/fuzz/ndjson_fuzz.cpp checks it).
#pragma once

#include <cstddef>
#include <cstring>
#include <optional>
#include <string_view>

namespace rtcrm::detail {

struct ndjson_line {
    std::string_view text;  // the line without its '\n' and one trailing '\r'; may be empty
    std::size_t consumed;   // bytes of the input the line takes, its '\n' included
};

// The first line of `bytes`. A line ends at '\n'. The bytes after the last '\n' are a
// line only when `at_end` (the input has no more bytes: the last line may lack its
// newline). nullopt when no line is complete yet, or none is left.
inline std::optional<ndjson_line> next_ndjson_line(std::string_view bytes, bool at_end) noexcept {
    if (bytes.empty()) {
        return std::nullopt;
    }
    const auto* nl = static_cast<const char*>(std::memchr(bytes.data(), '\n', bytes.size()));
    std::size_t len = 0;
    std::size_t consumed = 0;
    if (nl != nullptr) {
        len = static_cast<std::size_t>(nl - bytes.data());
        consumed = len + 1;
    } else if (at_end) {
        len = bytes.size();
        consumed = len;
    } else {
        return std::nullopt;
    }
    if (len > 0 && bytes[len - 1] == '\r') {
        --len;
    }
    return ndjson_line{bytes.substr(0, len), consumed};
}

}  // namespace rtcrm::detail
