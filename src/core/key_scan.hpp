// Internal: finds the player key in an event's bytes without parsing them, so the source
// thread can route events while the shards do the real parse in parallel.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace rtcrm::detail {

// The outcome of scanning the top-level object for the key field.
struct scanned_key {
    enum class kind { integer, string, unknown } what = kind::unknown;
    std::string_view text;  // the integer's digits, or the string's contents (no escapes)
    // The event time, when exactly one member is "ts" (unescaped, and no escaped name may
    // decode to it) and its value is a plain integer: what parse_event reads as `ts`.
    std::optional<std::int64_t> ts;
};

// Scans the whole top-level object of `json` for the member `field`. Returns
// kind::integer or kind::string with the key's text only when exactly one member is the
// key field, its name has no escapes, no escaped member name may decode to the key field,
// and the value is a plain integer or a non-empty string without escapes: then the text
// is what parse_event reads as the key. Anything else (absent, duplicated, an escaped
// name that decodes to the field or has a malformed escape, an escaped value, another
// type, malformed bytes) is kind::unknown, and the caller asks the parser
// (parsed_key.hpp). The `ts` is read in the same pass (for the event-time clock), also
// when the key is unknown, but not from malformed bytes.
scanned_key scan_key(std::string_view json, std::string_view field) noexcept;

}  // namespace rtcrm::detail
