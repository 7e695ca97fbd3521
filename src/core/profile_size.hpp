// Internal: the sizes of the pieces of a profile's binary encoding (store/profile_codec.cpp),
// so a profile can keep its encoded size up to date without encoding itself. They must
// follow the codec; profile_test checks them against it.
#pragma once

#include <rtcrm/core/profile.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <variant>

namespace rtcrm::detail::encoded {

constexpr std::size_t varint(std::uint64_t v) noexcept {
    return v < 0x80 ? 1 : (static_cast<std::size_t>(std::bit_width(v)) + 6) / 7;
}
constexpr std::size_t integer(std::int64_t v) noexcept {
    return varint((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));  // zig-zag
}
constexpr std::size_t string(std::string_view s) noexcept { return varint(s.size()) + s.size(); }

// A tag byte and the payload.
inline std::size_t value(const attribute& a) noexcept {
    return 1 + std::visit(
                   [](const auto& v) -> std::size_t {
                       using T = std::decay_t<decltype(v)>;
                       if constexpr (std::is_same_v<T, std::monostate>) {
                           return 0;
                       } else if constexpr (std::is_same_v<T, bool>) {
                           return 1;
                       } else if constexpr (std::is_same_v<T, std::int64_t>) {
                           return integer(v);
                       } else if constexpr (std::is_same_v<T, double>) {
                           return 8;
                       } else if constexpr (std::is_same_v<T, std::string>) {
                           return string(v);
                       } else {
                           return string(v.text);
                       }
                   },
                   a);
}
inline std::size_t attribute_entry(std::string_view name, const attribute& a) noexcept {
    return string(name) + value(a);
}

constexpr std::size_t bucket(std::int64_t start, std::int64_t n) noexcept { return integer(start) + integer(n); }
inline std::size_t counter_entry(std::string_view name, const windowed_counter& c) noexcept {
    std::size_t size = string(name) + integer(c.total) + integer(c.bucket_ms) + varint(c.buckets.size());
    for (const auto& [start, n] : c.buckets) {
        size += bucket(start, n);
    }
    return size;
}

inline std::size_t recent_entry(std::string_view type, std::int64_t ts, std::string_view id) noexcept {
    return string(type) + integer(ts) + string(id);
}

inline std::size_t trigger_entry(std::string_view campaign, const trigger_history& h) noexcept {
    std::size_t size = string(campaign) + integer(h.total) + varint(h.recent.size());
    for (const auto t : h.recent) {
        size += integer(t);
    }
    return size;
}

inline std::size_t applied_entry(const applied_position& a) noexcept {
    return string(a.source) + integer(a.partition) + integer(a.offset);
}

inline std::size_t timer_entry(const pending_timer& t) noexcept {
    return string(t.name) + integer(t.due) + string(t.event_id) + string(t.data) + string(t.ref);
}

// The timers follow the applied positions, and only when there are any (codec version 2).
inline std::size_t timers_section(const std::vector<pending_timer>& timers) noexcept {
    if (timers.empty()) {
        return 0;
    }
    std::size_t size = varint(timers.size());
    for (const auto& t : timers) {
        size += timer_entry(t);
    }
    return size;
}

// The conversions (codec version 3): a count, then the index and `converted` of each
// trigger history whose `converted` is not 0; nothing when there is none.
inline std::size_t conversions_section(const std::vector<std::pair<std::string, trigger_history>>& triggers) noexcept {
    std::size_t count = 0;
    std::size_t size = 0;
    for (std::size_t i = 0; i < triggers.size(); ++i) {
        if (triggers[i].second.converted != 0) {
            ++count;
            size += varint(i) + integer(triggers[i].second.converted);
        }
    }
    return count == 0 ? 0 : varint(count) + size;
}

// What follows the applied positions: the timers (version 2), and with conversions the
// timer count even when it is 0, then the conversions (version 3).
inline std::size_t tail_sections(const std::vector<pending_timer>& timers,
                                 const std::vector<std::pair<std::string, trigger_history>>& triggers) noexcept {
    const auto conversions = conversions_section(triggers);
    if (conversions == 0) {
        return timers_section(timers);
    }
    return (timers.empty() ? varint(0) : timers_section(timers)) + conversions;
}

}  // namespace rtcrm::detail::encoded
