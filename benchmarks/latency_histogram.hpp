// A log-linear latency histogram (HdrHistogram-like): values below 16 have a bucket each;
// above, every power of two [2^m, 2^(m+1)) is split into 16 equal sub-buckets, so a
// reported quantile is at most ~6% above the true value. Written by one thread (no locks,
// no allocation when recording), merged after the run.
#pragma once

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>

namespace rtcrm::bench {

class latency_histogram {
public:
    static constexpr int sub_bits = 4;
    static constexpr std::uint64_t sub_count = std::uint64_t{1} << sub_bits;
    static constexpr std::size_t buckets = (64 - sub_bits + 1) << sub_bits;

    void record(std::uint64_t v) noexcept {
        ++counts_[index(v)];
        ++total_;
        if (v > max_) {
            max_ = v;
        }
    }

    void merge(const latency_histogram& other) noexcept {
        for (std::size_t i = 0; i < buckets; ++i) {
            counts_[i] += other.counts_[i];
        }
        total_ += other.total_;
        max_ = other.max_ > max_ ? other.max_ : max_;
    }

    // The quantile q (0..1) by the nearest-rank method: the upper bound of the bucket
    // holding the ceil(q * count)-th smallest value, capped at the maximum. 0 when empty.
    [[nodiscard]] std::uint64_t quantile(double q) const noexcept {
        if (total_ == 0) {
            return 0;
        }
        auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total_)));
        rank = rank < 1 ? 1 : (rank > total_ ? total_ : rank);
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < buckets; ++i) {
            seen += counts_[i];
            if (seen >= rank) {
                return upper(i) < max_ ? upper(i) : max_;
            }
        }
        return max_;
    }

    [[nodiscard]] std::uint64_t max() const noexcept { return max_; }
    [[nodiscard]] std::uint64_t count() const noexcept { return total_; }

    // The bucket of `v`; monotonic in `v`.
    static constexpr std::size_t index(std::uint64_t v) noexcept {
        if (v < sub_count) {
            return static_cast<std::size_t>(v);
        }
        const auto m = static_cast<std::uint64_t>(std::bit_width(v) - 1);  // 2^m <= v < 2^(m+1), m >= sub_bits
        const auto sub = (v >> (m - sub_bits)) - sub_count;                // 0..15
        return static_cast<std::size_t>(((m - sub_bits + 1) << sub_bits) + sub);
    }
    // The largest value of bucket `i`.
    static constexpr std::uint64_t upper(std::size_t i) noexcept {
        if (i < sub_count) {
            return i;
        }
        const auto m = (i >> sub_bits) + sub_bits - 1;
        const auto sub = i & (sub_count - 1);
        const auto width = std::uint64_t{1} << (m - sub_bits);
        // 2^m + (sub + 1) * width - 1, which for the last sub-bucket is 2^(m+1) - 1.
        return (std::uint64_t{1} << m) + (sub + 1) * width - 1;
    }

private:
    std::array<std::uint64_t, buckets> counts_{};
    std::uint64_t total_ = 0;
    std::uint64_t max_ = 0;
};

// The bucket bounds agree with the index at the edges of an octave.
static_assert(latency_histogram::index(15) == 15 && latency_histogram::upper(15) == 15);
static_assert(latency_histogram::index(16) == 16 && latency_histogram::upper(16) == 16);
static_assert(latency_histogram::index(31) == 31 && latency_histogram::index(32) == 32);
static_assert(latency_histogram::upper(latency_histogram::index(63)) == 63);
static_assert(latency_histogram::upper(latency_histogram::index(64)) == 67);
static_assert(latency_histogram::upper(latency_histogram::index((1ULL << 25) + 5)) == (1ULL << 25) + (1ULL << 21) - 1);
static_assert(latency_histogram::upper(latency_histogram::index((1ULL << 26) - 1)) == (1ULL << 26) - 1);
static_assert(latency_histogram::index(~0ULL) == latency_histogram::buckets - 1);

}  // namespace rtcrm::bench
