// A log-linear latency histogram (16 sub-buckets per power of two: ~6% resolution),
// written by one thread, merged after the run. No locks, no allocation when recording.
#pragma once

#include <array>
#include <bit>
#include <cstdint>

namespace rtcrm::bench {

class latency_histogram {
public:
    static constexpr int sub_bits = 4;
    static constexpr std::size_t buckets = 64 << sub_bits;

    void record(std::uint64_t ns) noexcept {
        ++counts_[index(ns)];
        ++total_;
        if (ns > max_) {
            max_ = ns;
        }
    }

    void merge(const latency_histogram& other) noexcept {
        for (std::size_t i = 0; i < buckets; ++i) {
            counts_[i] += other.counts_[i];
        }
        total_ += other.total_;
        max_ = other.max_ > max_ ? other.max_ : max_;
    }

    // The upper bound of the bucket that holds quantile q (0..1), in ns.
    [[nodiscard]] std::uint64_t quantile(double q) const noexcept {
        if (total_ == 0) {
            return 0;
        }
        const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_ - 1)) + 1;
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

private:
    static std::size_t index(std::uint64_t v) noexcept {
        if (v < (1U << sub_bits)) {
            return static_cast<std::size_t>(v);
        }
        const int msb = std::bit_width(v) - 1;
        const auto sub = (v >> (msb - sub_bits)) & ((1U << sub_bits) - 1);
        return (static_cast<std::size_t>(msb - sub_bits + 1) << sub_bits) + sub;
    }
    static std::uint64_t upper(std::size_t i) noexcept {
        if (i < (1U << sub_bits)) {
            return i;
        }
        const auto msb = static_cast<int>(i >> sub_bits) + sub_bits - 1;
        const auto sub = i & ((1U << sub_bits) - 1);
        return ((std::uint64_t{1} << msb) | ((sub + 1) << (msb - sub_bits))) - 1;
    }

    std::array<std::uint64_t, buckets> counts_{};
    std::uint64_t total_ = 0;
    std::uint64_t max_ = 0;
};

}  // namespace rtcrm::bench
