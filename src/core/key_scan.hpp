// Internal: finds the player key in an event's bytes without parsing them, so the source
// thread can route events while the shards do the real parse in parallel.
#pragma once

#include <optional>
#include <string_view>

namespace rtcrm::detail {

// The outcome of scanning the top-level object for the key field.
struct scanned_key {
    enum class kind { integer, string, unknown } what = kind::unknown;
    std::string_view text;  // the integer's digits, or the string's contents (no escapes)
};

// Scans `json` for the top-level member `field`. Returns kind::integer or kind::string
// with the key's text when the value is a plain integer or a string without escapes;
// kind::unknown for anything else (absent, malformed, escaped, another type), in which
// case the caller falls back to a full parse.
scanned_key scan_key(std::string_view json, std::string_view field) noexcept;

}  // namespace rtcrm::detail
