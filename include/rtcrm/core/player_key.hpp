/// @file player_key.hpp
/// The key that owns a player's events and profile: a 64-bit integer or a string.
///
/// The key's canonical bytes are its text (an integer key 42 is the bytes "42"), so a
/// player hashes to the same shard, and to the same Kafka partition, whether the game
/// sends `"player_id": 42` or `"player_id": "42"` is configured as a string. The hash is
/// Kafka's murmur2 (as its default partitioner), computed once when the key is made.
///
/// Caveats: `42` and `"42"` are the same player. The hash is not a security measure.
///
/// Example:
/// @code
///   rtcrm::player_key bob{42};
///   auto shard = bob.shard(8);   // same as Kafka: (murmur2("42") & 0x7fffffff) % 8
/// @endcode
#pragma once

#include <charconv>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace rtcrm {

/// Kafka's murmur2 hash of `bytes` (seed 0x9747b28c), bit for bit as the Java client's
/// `Utils.murmur2`. Pure; thread-safe.
std::uint32_t murmur2(std::string_view bytes) noexcept;

/// A player's identity. Cheap to copy for short keys (small-string optimisation).
/// Value type; not synchronised.
class player_key {
public:
    /// The empty key (no player). `empty()` is true.
    player_key() = default;

    /// An integer key; its text is the decimal form.
    explicit player_key(std::int64_t id) : text_(to_text(id)), integer_(id), hash_(murmur2(text_)) {}

    /// A string key. If the text is a canonical decimal integer it equals that integer key.
    explicit player_key(std::string text) : text_(std::move(text)), hash_(murmur2(text_)) {
        std::int64_t value = 0;
        auto [end, ec] = std::from_chars(text_.data(), text_.data() + text_.size(), value);
        if (ec == std::errc{} && end == text_.data() + text_.size() && !text_.empty() && to_text(value) == text_) {
            integer_ = value;
        }
    }

    /// The canonical bytes (decimal text for integer keys).
    [[nodiscard]] std::string_view text() const noexcept { return text_; }
    /// The integer value, when the key is (or reads as) a canonical decimal integer.
    [[nodiscard]] std::optional<std::int64_t> integer() const noexcept { return integer_; }
    /// murmur2 of `text()`, computed once.
    [[nodiscard]] std::uint32_t hash() const noexcept { return hash_; }
    /// True for the default-constructed key.
    [[nodiscard]] bool empty() const noexcept { return text_.empty(); }

    /// The shard (or Kafka partition) among `count` that owns this key, as Kafka's
    /// default partitioner computes it. `count` must be > 0.
    [[nodiscard]] std::uint32_t shard(std::uint32_t count) const noexcept {
        return (hash_ & 0x7fffffffU) % count;
    }

    friend bool operator==(const player_key& a, const player_key& b) noexcept {
        return a.hash_ == b.hash_ && a.text_ == b.text_;
    }

private:
    static std::string to_text(std::int64_t v) {
        char buf[24];
        auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
        return {buf, end};
    }

    std::string text_;
    std::optional<std::int64_t> integer_;
    std::uint32_t hash_ = 0;
};

}  // namespace rtcrm

/// Hashing for unordered containers reuses the precomputed murmur2.
template <>
struct std::hash<rtcrm::player_key> {
    std::size_t operator()(const rtcrm::player_key& k) const noexcept { return k.hash(); }
};
