// A durable profile store for tests whose writes fail with ENOSPC while `full` is set
// (a full disk without a full disk); reads, scans and positions go to a memory store.
#pragma once

#include <rtcrm/core/memory_store.hpp>
#include <rtcrm/core/profile_store.hpp>

#include <atomic>
#include <cerrno>
#include <system_error>

namespace rtcrm::testing {

class full_disk_store final : public profile_store {
public:
    [[nodiscard]] std::string_view name() const noexcept override { return "full-disk"; }
    result<void> get(std::span<const player_key> keys, std::span<std::optional<profile>> out) override {
        return inner_.get(keys, out);
    }
    result<void> write(const write_batch& batch) override {
        if (full.load()) {
            attempts.fetch_add(1);
            return failure{std::error_code(ENOSPC, std::generic_category()), "full-disk: write: No space left on device"};
        }
        return inner_.write(batch);
    }
    result<void> scan(const profile_visitor& visit) override { return inner_.scan(visit); }
    result<void> flush() override { return {}; }
    [[nodiscard]] std::vector<source_position> positions() override { return inner_.positions(); }
    [[nodiscard]] bool durable() const noexcept override { return true; }

    std::atomic<bool> full{true};
    std::atomic<int> attempts{0};  // writes refused so far

private:
    memory_store inner_;
};

}  // namespace rtcrm::testing
