#include "cql/cql_values.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <random>

namespace rtcrm::detail::cql {

namespace {

template <typename U>
std::string big_endian(U v) {
    std::string s(sizeof(U), '\0');
    for (std::size_t i = 0; i < sizeof(U); ++i) {
        s[sizeof(U) - 1 - i] = static_cast<char>(v & 0xFFU);
        v = static_cast<U>(v >> 8U);
    }
    return s;
}

template <typename U>
U from_big_endian(const std::string& s) {
    U v = 0;
    for (const char c : s) {
        v = static_cast<U>((v << 8U) | static_cast<std::uint8_t>(c));
    }
    return v;
}

// --- MurmurHash3_x64_128, as org.apache.cassandra.utils.MurmurHash computes it -----------

constexpr std::uint64_t c1 = 0x87c37b91114253d5ULL;
constexpr std::uint64_t c2 = 0x4cf5ad432745937fULL;

constexpr std::uint64_t rotl(std::uint64_t x, unsigned r) noexcept { return (x << r) | (x >> (64U - r)); }

constexpr std::uint64_t fmix(std::uint64_t k) noexcept {
    k ^= k >> 33U;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33U;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33U;
    return k;
}

std::uint64_t block_le(const std::uint8_t* p) noexcept {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) {
        v = (v << 8U) | p[i];
    }
    return v;
}

// Java's tail reads `(long) key.get(i)`: a signed byte, sign-extended before the shift.
// Keys with a byte >= 0x80 in the tail hash differently from the reference MurmurHash3;
// the partitioner (and every driver) keeps the quirk, so tokens must too.
std::uint64_t tail_byte(const std::uint8_t* p, std::size_t i, unsigned shift) noexcept {
    const auto sign_extended = static_cast<std::int64_t>(static_cast<std::int8_t>(p[i]));
    return static_cast<std::uint64_t>(sign_extended) << shift;
}

// The 100-ns intervals between the Gregorian reform (1582-10-15) and the Unix epoch.
constexpr std::int64_t gregorian_offset = uuid_gregorian_offset;
constexpr std::int64_t ticks_per_ms = uuid_ticks_per_ms;

}  // namespace

std::string int_value(std::int32_t v) { return big_endian(static_cast<std::uint32_t>(v)); }
std::string bigint_value(std::int64_t v) { return big_endian(static_cast<std::uint64_t>(v)); }
std::string timestamp_value(std::int64_t ms_since_epoch) { return bigint_value(ms_since_epoch); }
std::string boolean_value(bool v) { return std::string(1, v ? '\x01' : '\x00'); }
std::string uuid_value(const uuid_bytes& u) { return std::string(reinterpret_cast<const char*>(u.data()), u.size()); }

std::optional<std::int32_t> as_int(const value& v) {
    if (!v || v->size() != 4) {
        return std::nullopt;
    }
    return static_cast<std::int32_t>(from_big_endian<std::uint32_t>(*v));
}

std::optional<std::int64_t> as_bigint(const value& v) {
    if (!v || v->size() != 8) {
        return std::nullopt;
    }
    return static_cast<std::int64_t>(from_big_endian<std::uint64_t>(*v));
}

std::optional<bool> as_boolean(const value& v) {
    if (!v || v->size() != 1) {
        return std::nullopt;
    }
    return (*v)[0] != '\0';
}

std::optional<uuid_bytes> as_uuid(const value& v) {
    if (!v || v->size() != 16) {
        return std::nullopt;
    }
    uuid_bytes u{};
    std::memcpy(u.data(), v->data(), u.size());
    return u;
}

std::int64_t murmur3_token(std::string_view routing_key) noexcept {
    const auto* data = reinterpret_cast<const std::uint8_t*>(routing_key.data());
    const std::size_t len = routing_key.size();
    const std::size_t nblocks = len / 16;
    std::uint64_t h1 = 0;
    std::uint64_t h2 = 0;

    for (std::size_t i = 0; i < nblocks; ++i) {
        std::uint64_t k1 = block_le(data + i * 16);
        std::uint64_t k2 = block_le(data + i * 16 + 8);
        k1 *= c1;
        k1 = rotl(k1, 31);
        k1 *= c2;
        h1 ^= k1;
        h1 = rotl(h1, 27);
        h1 += h2;
        h1 = h1 * 5 + 0x52dce729;
        k2 *= c2;
        k2 = rotl(k2, 33);
        k2 *= c1;
        h2 ^= k2;
        h2 = rotl(h2, 31);
        h2 += h1;
        h2 = h2 * 5 + 0x38495ab5;
    }

    const std::uint8_t* tail = data + nblocks * 16;
    std::uint64_t k1 = 0;
    std::uint64_t k2 = 0;
    const std::size_t rest = len & 15U;
    // Java's switch falls through from the highest byte down; written as loops here.
    for (std::size_t i = rest; i > 8; --i) {
        k2 ^= tail_byte(tail, i - 1, static_cast<unsigned>((i - 9) * 8));
    }
    if (rest > 8) {
        k2 *= c2;
        k2 = rotl(k2, 33);
        k2 *= c1;
        h2 ^= k2;
    }
    for (std::size_t i = std::min<std::size_t>(rest, 8); i > 0; --i) {
        k1 ^= tail_byte(tail, i - 1, static_cast<unsigned>((i - 1) * 8));
    }
    if (rest > 0) {
        k1 *= c1;
        k1 = rotl(k1, 31);
        k1 *= c2;
        h1 ^= k1;
    }

    h1 ^= len;
    h2 ^= len;
    h1 += h2;
    h2 += h1;
    h1 = fmix(h1);
    h2 = fmix(h2);
    h1 += h2;

    const auto token = static_cast<std::int64_t>(h1);
    // Long.MIN_VALUE is the partitioner's minimum token, which no key may have.
    return token == std::numeric_limits<std::int64_t>::min() ? std::numeric_limits<std::int64_t>::max() : token;
}

std::string routing_key(const std::vector<std::string_view>& components) {
    if (components.size() == 1) {
        return std::string(components.front());
    }
    std::string key;
    for (const auto c : components) {
        key.push_back(static_cast<char>((c.size() >> 8U) & 0xFFU));
        key.push_back(static_cast<char>(c.size() & 0xFFU));
        key.append(c);
        key.push_back('\0');
    }
    return key;
}

timeuuid_generator::timeuuid_generator() {
    std::random_device rd;
    std::mt19937_64 rng(static_cast<std::uint64_t>(rd()) << 32U ^ rd());
    const std::uint64_t r = rng();
    for (std::size_t i = 0; i < node_.size(); ++i) {
        node_[i] = static_cast<std::uint8_t>(r >> (8U * i));
    }
    // RFC 4122 §4.5: a random node id sets the multicast bit, so it never equals a real MAC.
    node_[0] |= 0x01U;
    clock_seq_ = static_cast<std::uint16_t>(rng() & 0x3FFFU);
}

uuid_bytes make_timeuuid(std::uint64_t gregorian_ticks, std::uint16_t clock_seq,
                         const std::array<std::uint8_t, 6>& node) noexcept {
    const auto t = gregorian_ticks;
    uuid_bytes u{};
    const auto time_low = static_cast<std::uint32_t>(t & 0xFFFFFFFFU);
    const auto time_mid = static_cast<std::uint16_t>((t >> 32U) & 0xFFFFU);
    const auto time_hi = static_cast<std::uint16_t>(((t >> 48U) & 0x0FFFU) | 0x1000U);  // version 1
    u[0] = static_cast<std::uint8_t>(time_low >> 24U);
    u[1] = static_cast<std::uint8_t>(time_low >> 16U);
    u[2] = static_cast<std::uint8_t>(time_low >> 8U);
    u[3] = static_cast<std::uint8_t>(time_low);
    u[4] = static_cast<std::uint8_t>(time_mid >> 8U);
    u[5] = static_cast<std::uint8_t>(time_mid);
    u[6] = static_cast<std::uint8_t>(time_hi >> 8U);
    u[7] = static_cast<std::uint8_t>(time_hi);
    u[8] = static_cast<std::uint8_t>(((clock_seq >> 8U) & 0x3FU) | 0x80U);  // variant 10xx (RFC 4122)
    u[9] = static_cast<std::uint8_t>(clock_seq & 0xFFU);
    std::memcpy(u.data() + 10, node.data(), node.size());
    return u;
}

uuid_bytes timeuuid_generator::next(std::int64_t unix_ms) {
    std::int64_t ticks = unix_ms * ticks_per_ms + gregorian_offset;
    std::uint16_t seq = 0;
    {
        const std::lock_guard lock(mutex_);
        if (ticks <= last_ticks_) {
            if (last_ticks_ + 1 < ticks + ticks_per_ms) {
                // Same millisecond (or a little behind): the next 100-ns tick keeps the
                // UUID in that millisecond and unique.
                ticks = last_ticks_ + 1;
            } else {
                // The millisecond's ticks are used up, or the clock went back: a new clock
                // sequence makes (time, sequence) unique again (RFC 4122 §4.1.5).
                clock_seq_ = static_cast<std::uint16_t>((clock_seq_ + 1U) & 0x3FFFU);
            }
        }
        last_ticks_ = ticks;
        seq = clock_seq_;
    }
    return make_timeuuid(static_cast<std::uint64_t>(ticks), seq, node_);
}

std::int64_t timeuuid_generator::unix_ms_of(const uuid_bytes& u) noexcept {
    const std::uint64_t t = (static_cast<std::uint64_t>(u[6] & 0x0FU) << 56U) | (static_cast<std::uint64_t>(u[7]) << 48U) |
                            (static_cast<std::uint64_t>(u[4]) << 40U) | (static_cast<std::uint64_t>(u[5]) << 32U) |
                            (static_cast<std::uint64_t>(u[0]) << 24U) | (static_cast<std::uint64_t>(u[1]) << 16U) |
                            (static_cast<std::uint64_t>(u[2]) << 8U) | static_cast<std::uint64_t>(u[3]);
    const std::int64_t since_epoch = static_cast<std::int64_t>(t) - gregorian_offset;
    // Floor, so times before 1970 land in the millisecond they belong to.
    std::int64_t ms = since_epoch / ticks_per_ms;
    if (since_epoch % ticks_per_ms < 0) {
        --ms;
    }
    return ms;
}

}  // namespace rtcrm::detail::cql
