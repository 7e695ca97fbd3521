#include <rtcrm/core/player_key.hpp>

#include <cstring>

namespace rtcrm {

// Kafka's Utils.murmur2: the reference for which partition a key lands on. Kept bit for
// bit (including the signed-byte tail handling of the Java original, which only matters
// through the masking below) so that rtcrm's shards and Kafka's partitions agree.
std::uint32_t murmur2(std::string_view bytes) noexcept {
    constexpr std::uint32_t seed = 0x9747b28cU;
    constexpr std::uint32_t m = 0x5bd1e995U;
    constexpr int r = 24;
    const auto length = static_cast<std::uint32_t>(bytes.size());
    const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());

    std::uint32_t h = seed ^ length;
    const std::uint32_t blocks = length / 4;
    for (std::uint32_t i = 0; i < blocks; ++i) {
        const std::uint32_t i4 = i * 4;
        std::uint32_t k = static_cast<std::uint32_t>(data[i4]) | (static_cast<std::uint32_t>(data[i4 + 1]) << 8) |
                          (static_cast<std::uint32_t>(data[i4 + 2]) << 16) |
                          (static_cast<std::uint32_t>(data[i4 + 3]) << 24);
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
    }
    const std::uint32_t tail = length & ~3U;
    switch (length % 4) {
    case 3: h ^= static_cast<std::uint32_t>(data[tail + 2]) << 16; [[fallthrough]];
    case 2: h ^= static_cast<std::uint32_t>(data[tail + 1]) << 8; [[fallthrough]];
    case 1:
        h ^= static_cast<std::uint32_t>(data[tail]);
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

}  // namespace rtcrm
