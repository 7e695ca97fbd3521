/// @file memory_store.hpp
/// The volatile in-memory profile store: the default for demos and tests.
///
/// Profiles live in hash maps split into stripes, each with its own mutex, so shards
/// writing back batches rarely contend. Nothing survives the process.
///
/// Caveats:
/// - Memory grows with the number of players; nothing is evicted.
/// - A batch is applied a stripe at a time: a concurrent reader may see part of it (its
///   profiles before its tallies, say). Nothing fails half-way: every batch is applied whole.
#pragma once

#include <rtcrm/core/profile_store.hpp>

#include <memory>

namespace rtcrm {

/// A thread-safe, volatile `profile_store`.
class memory_store final : public profile_store {
public:
    memory_store();
    ~memory_store() override;
    memory_store(const memory_store&) = delete;
    memory_store& operator=(const memory_store&) = delete;

    [[nodiscard]] std::string_view name() const noexcept override { return "memory"; }
    /// Never fails (nor do the other operations).
    result<void> get(std::span<const player_key> keys, std::span<std::optional<profile>> out) override;
    result<void> write(const write_batch& batch) override;
    result<void> scan(const profile_visitor& visit) override;
    result<void> scan_parallel(std::size_t workers, const visitor_factory& make) override;
    result<expiry_result> expire(const expiry_policy& policy, std::int64_t now_ms) override;
    /// From an in-memory index of the players with timers, kept by `write`.
    result<due_page> due_timers(std::int64_t until_ms, const std::optional<due_entry>& after, std::size_t limit,
                                const player_filter& accept) override;
    result<void> flush() override { return {}; }
    [[nodiscard]] std::vector<source_position> positions() override;
    /// Sums kept in memory, beside the profiles (gone with the process, like them).
    [[nodiscard]] bool keeps_tallies() const noexcept override { return true; }
    result<std::vector<tally>> tallies() override;

    /// Number of stored profiles.
    [[nodiscard]] std::size_t size() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace rtcrm
