// Internal: the counters of one stage (an ingest stage or a shard stage), summed into
// runtime_stats.
#pragma once

#include "latency_recorder.hpp"

#include <rtcrm/core/error.hpp>
#include <rtcrm/core/output.hpp>
#include <rtcrm/core/runtime_stats.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace rtcrm::detail {

// Counters written by one thread (plain load+store, no read-modify-write on the hot
// path) and read by any thread.
struct stage_counters {
    // One dead-letter slot per code of all_errc (slot 0, errc::ok, stays 0).
    static constexpr std::size_t reasons = all_errc.size();
    std::atomic<std::uint64_t> events_in{0};
    std::atomic<std::uint64_t> processed{0};
    std::atomic<std::uint64_t> dropped{0};
    std::atomic<std::uint64_t> replayed{0};
    std::atomic<std::uint64_t> dead_lettered{0};
    std::array<std::atomic<std::uint64_t>, reasons> by_reason{};
    std::array<std::atomic<std::uint64_t>, stream_count> outputs{};
    std::atomic<std::uint64_t> handler_errors{0};
    std::atomic<std::uint64_t> store_errors{0};
    std::atomic<std::uint64_t> cached{0};
    std::atomic<std::uint64_t> evicted{0};
    std::atomic<std::uint64_t> expired{0};             // profiles restarted by the lazy TTL check (shards) or deleted by the sweep
    std::atomic<std::uint64_t> trimmed{0};             // the sweep
    std::atomic<std::int64_t> newest_event_ts{0};      // shards: the TTL sweep's "now"
    std::atomic<std::uint64_t> timers_fired{0};        // shards: timer events delivered
    std::atomic<std::uint64_t> timers_waiting{0};      // shards: cached players with a pending timer
    std::atomic<std::int64_t> timer_clock{INT64_MIN};  // shards: the clock of the timers
    latency_recorder event_latency;                    // shards: parse → outputs handed to the sinks
    std::atomic<std::uint64_t> nacked{0};  // ingest stages: failed events over all partitions

    static void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
        c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    static void set(std::atomic<std::uint64_t>& c, std::uint64_t n) noexcept { c.store(n, std::memory_order_relaxed); }
    static constexpr const std::array<errc, reasons>& slot_codes = all_errc;
    // A value that is no errc (a cast from an arbitrary int) counts as a handler failure:
    // something refused the event without a code rtcrm knows.
    static std::size_t reason_slot(errc code) noexcept {
        for (std::size_t i = 1; i < reasons; ++i) {
            if (slot_codes[i] == code) {
                return i;
            }
        }
        return reason_slot(errc::handler_failed);
    }
    // Adds these counters to `s`, and the dead-letter reasons by slot to `reasons_sum`.
    void add_to(runtime_stats& s, std::array<std::uint64_t, reasons>& reasons_sum) const {
        s.events_in += events_in.load(std::memory_order_relaxed);
        s.processed += processed.load(std::memory_order_relaxed);
        s.dropped += dropped.load(std::memory_order_relaxed);
        s.replayed += replayed.load(std::memory_order_relaxed);
        s.dead_lettered += dead_lettered.load(std::memory_order_relaxed);
        for (std::size_t i = 0; i < reasons; ++i) {
            reasons_sum[i] += by_reason[i].load(std::memory_order_relaxed);
        }
        for (std::size_t i = 0; i < stream_count; ++i) {
            s.outputs[i] += outputs[i].load(std::memory_order_relaxed);
        }
        s.handler_errors += handler_errors.load(std::memory_order_relaxed);
        s.store_errors += store_errors.load(std::memory_order_relaxed);
        s.cached_profiles += cached.load(std::memory_order_relaxed);
        s.evicted_profiles += evicted.load(std::memory_order_relaxed);
        s.expired_profiles += expired.load(std::memory_order_relaxed);
        event_latency.add_to(s.event_latency);
        s.trimmed_profiles += trimmed.load(std::memory_order_relaxed);
        s.timers_fired += timers_fired.load(std::memory_order_relaxed);
        s.timer_players_cached += timers_waiting.load(std::memory_order_relaxed);
        const auto clock = timer_clock.load(std::memory_order_relaxed);
        if (clock != INT64_MIN && (s.timer_clock_ms == 0 || clock < s.timer_clock_ms)) {
            s.timer_clock_ms = clock;  // the slowest shard's
        }
    }
};

}  // namespace rtcrm::detail
