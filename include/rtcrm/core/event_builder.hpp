/// @file event_builder.hpp
/// Builds an event record in code, for hosts that submit events in-process
/// (`runtime::submit`) and have no JSON text at hand.
///
/// The builder writes the standard wire format (see event.hpp) with RapidJSON's writer in
/// one pass: the key field, `type`, `ts`, `id`, any top-level `meta` members, then the
/// `data` object holding every `field`. Handlers read `event.data.result` as for any
/// other source. The record's transport key is set to the player, so the runtime routes it
/// without scanning the bytes. The text is still made once because profiles keep recent
/// events and dead letters keep the original bytes.
///
/// Caveats:
/// - Names are written as given; a field set twice appears twice (the JSON parser keeps
///   the first). Strings are escaped; doubles that are not finite are written as null.
/// - Without `ts`, `build()` stamps the wall-clock time in ms.
/// - A builder can be reused: `build()` resets it.
///
/// Example:
/// @code
///   rtcrm::record r = rtcrm::event_builder{}.player(42).type("fight").field("result", "loss").build();
///   // r.bytes == {"player_id":42,"type":"fight","ts":1763800000000,"data":{"result":"loss"}}
/// @endcode
#pragma once

#include <rtcrm/core/event.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace rtcrm {

/// Builds one event record. Not thread-safe (use one per thread); cheap to create.
class event_builder {
public:
    /// A scalar JSON value.
    using value = std::variant<std::nullptr_t, bool, std::int64_t, double, std::string>;

    /// @param key_field the member naming the player (as `parse_options::key_field`).
    explicit event_builder(std::string key_field = "player_id") : key_field_(std::move(key_field)) {}

    /// The player (an integer key).
    event_builder& player(std::int64_t id);
    /// The player (a string key).
    event_builder& player(std::string_view id);
    /// The event type, e.g. "fight".
    event_builder& type(std::string_view type);
    /// Event time, ms since the epoch (the game's clock).
    event_builder& ts(std::int64_t ms);
    /// The event id (for deduplication downstream).
    event_builder& id(std::string_view id);
    /// A member of `data`, the event's payload: a bool, an integer, a floating-point
    /// number, a string, nullptr, or a `value`.
    template <typename T>
    event_builder& field(std::string_view name, T&& v) {
        data_.emplace_back(std::string{name}, to_value(std::forward<T>(v)));
        return *this;
    }
    /// A top-level member beside `type` and `ts` (e.g. "game"); the same value types.
    template <typename T>
    event_builder& meta(std::string_view name, T&& v) {
        meta_.emplace_back(std::string{name}, to_value(std::forward<T>(v)));
        return *this;
    }

    /// The record: JSON bytes, and the player as its key.
    /// @throws rtcrm::error(invalid_config) without a player or a type.
    [[nodiscard]] record build();

private:
    template <typename T>
    static value to_value(T&& v) {
        using U = std::remove_cvref_t<T>;
        if constexpr (std::is_same_v<U, value>) {
            return std::forward<T>(v);
        } else if constexpr (std::is_same_v<U, bool> || std::is_same_v<U, std::nullptr_t>) {
            return value{v};
        } else if constexpr (std::is_integral_v<U>) {
            return value{static_cast<std::int64_t>(v)};
        } else if constexpr (std::is_floating_point_v<U>) {
            return value{static_cast<double>(v)};
        } else {
            static_assert(std::is_convertible_v<T, std::string_view>, "event_builder: unsupported value type");
            return value{std::string{std::string_view{v}}};
        }
    }

    std::string key_field_;
    std::variant<std::monostate, std::int64_t, std::string> player_;
    std::string type_;
    std::string id_;
    std::int64_t ts_ = -1;
    std::vector<std::pair<std::string, value>> meta_;
    std::vector<std::pair<std::string, value>> data_;
};

}  // namespace rtcrm
