/// @file cql_values.hpp
/// CQL value serialisation (the bytes inside a [bytes] value, spec §6) for the types rtcrm
/// uses, the Murmur3 partitioner's token, routing keys, and version-1 time UUIDs.
#pragma once

#include "cql/cql_protocol.hpp"

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtcrm::detail::cql {

/// A UUID's 16 bytes in network order (as CQL uuid/timeuuid values carry them).
using uuid_bytes = std::array<std::uint8_t, 16>;

// --- To bytes --------------------------------------------------------------------------
std::string int_value(std::int32_t v);       ///< int: 4 bytes big-endian
std::string bigint_value(std::int64_t v);    ///< bigint, counter: 8 bytes
std::string timestamp_value(std::int64_t ms_since_epoch);  ///< timestamp: 8 bytes
std::string boolean_value(bool v);            ///< boolean: 1 byte, 0 or 1
std::string uuid_value(const uuid_bytes& u);  ///< uuid, timeuuid: the 16 bytes
inline std::string text_value(std::string_view s) { return std::string(s); }  ///< varchar/ascii/blob

// --- From bytes (nullopt: null or wrong size) -------------------------------------------
std::optional<std::int32_t> as_int(const value& v);     ///< int
std::optional<std::int64_t> as_bigint(const value& v);  ///< also timestamp, counter
std::optional<bool> as_boolean(const value& v);         ///< boolean (any non-zero byte is true)
std::optional<uuid_bytes> as_uuid(const value& v);      ///< uuid, timeuuid

// --- Partitioning ------------------------------------------------------------------------
/// The token of a serialized partition key under Cassandra's Murmur3Partitioner (the
/// x64 128-bit MurmurHash3 with the partitioner's signed-byte quirk; its first half;
/// Long.MIN_VALUE maps to Long.MAX_VALUE).
std::int64_t murmur3_token(std::string_view routing_key) noexcept;

/// The routing key of a partition key: the single component's bytes as they are, or for a
/// composite key each component as [short length][bytes][0x00]. Components over 65535
/// bytes are the caller's bug (partition keys are limited to 65535 bytes).
std::string routing_key(const std::vector<std::string_view>& components);

// --- Time UUIDs --------------------------------------------------------------------------
/// Lays out a version-1 UUID (RFC 4122 §4.1): `gregorian_ticks` is the time in 100-ns
/// ticks since 1582-10-15, `clock_seq` keeps its low 14 bits, `node` is the node id.
uuid_bytes make_timeuuid(std::uint64_t gregorian_ticks, std::uint16_t clock_seq,
                         const std::array<std::uint8_t, 6>& node) noexcept;

/// 100-ns ticks between 1582-10-15 (the UUID epoch) and 1970-01-01, and per millisecond.
inline constexpr std::int64_t uuid_gregorian_offset = 122'192'928'000'000'000;
inline constexpr std::int64_t uuid_ticks_per_ms = 10'000;

/// Makes version-1 (time-based) UUIDs for timeuuid columns, unique within this generator
/// even for equal timestamps (the clock sequence and 100-ns ticks step on collision), with
/// a random node id. Thread-safe.
class timeuuid_generator {
public:
    /// Picks a random node id (multicast bit set, RFC 4122 §4.5) and clock sequence.
    timeuuid_generator();
    /// A UUID whose time is `unix_ms` (plus sub-millisecond ticks for uniqueness).
    uuid_bytes next(std::int64_t unix_ms);
    /// The Unix time in ms a version-1 UUID carries.
    static std::int64_t unix_ms_of(const uuid_bytes& u) noexcept;

private:
    std::mutex mutex_;
    std::array<std::uint8_t, 6> node_{};
    std::uint16_t clock_seq_ = 0;
    std::int64_t last_ticks_ = 0;  // 100-ns ticks since 1582-10-15 of the last UUID made
};

}  // namespace rtcrm::detail::cql
