// Internal: the source behind runtime::submit.
//
// Host threads push records into a bounded lock-free ring (mpmc_ring); the runtime's
// thread for this source polls them like any other source's records, so submitted events
// are routed, tracked and acked the same way. Each record gets the next sequence number
// as its offset (partition 0), in the order the source thread takes them.
//
// Nothing accepted is lost: `close()` (the runtime's stop) refuses new records, and
// `poll` reports the end only once every record accepted before it has been taken.
#pragma once

#include "mpmc_ring.hpp"

#include <rtcrm/runtime.hpp>
#include <rtcrm/source.hpp>

#include <atomic>
#include <chrono>
#include <span>

namespace rtcrm::detail {

class submit_source final : public source {
public:
    explicit submit_source(std::size_t capacity) : ring_(capacity) {}

    [[nodiscard]] std::string_view name() const noexcept override { return "submit"; }
    poll_status poll(std::vector<record>& out, std::size_t max, std::chrono::milliseconds timeout) override;
    void wakeup() override { items_.notify_all(); }

    // Any thread. `rec` is moved from only when accepted.
    submit_status push(record& rec, std::chrono::milliseconds timeout);
    // Any thread: accepts a prefix of `recs` (each moved from), returns its length.
    std::size_t push(std::span<record> recs, std::chrono::milliseconds timeout);
    // From now on pushes are refused with `submit_status::stopped`.
    void close();

    [[nodiscard]] std::size_t queued() const noexcept { return ring_.size(); }

private:
    // Pushes one record unless closed; -1 refused (closed), 0 full, 1 accepted.
    int try_push(record& rec);

    mpmc_ring<record> ring_;
    wait_point room_;   // producers waiting for room
    wait_point items_;  // the source thread waiting for records
    std::atomic<bool> closed_{false};
    std::atomic<std::uint32_t> pushing_{0};  // producers between their closed_ check and their push
    std::int64_t next_offset_ = 0;           // source thread
};

}  // namespace rtcrm::detail
