/// @file runtime_stats.hpp
/// Counters of a running topology, summed over its threads on demand.
///
/// Every input ends as exactly one of processed, dropped or dead-lettered, so after a
/// drain `events_in == processed + dropped + dead_lettered`: nothing is lost silently.
///
/// Caveats: a snapshot taken while running is not atomic across counters (each is exact,
/// their sum may lag by the events in flight).
#pragma once

#include <rtcrm/core/error.hpp>
#include <rtcrm/core/output.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace rtcrm {

/// A latency distribution in fixed buckets (seconds), as Prometheus histograms have them.
struct latency_histogram {
    /// Upper bounds of the buckets, in seconds: 100 µs, 250 µs, 500 µs, 1 ms, ... 10 s.
    static constexpr std::array<double, 15> bounds{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                   0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   10.0};
    std::array<std::uint64_t, bounds.size() + 1> counts{};  ///< per bucket (not cumulative); the last is over 10 s
    std::uint64_t count = 0;
    double sum_seconds = 0;
};

/// A snapshot of a topology's counters.
struct runtime_stats {
    std::uint64_t events_in = 0;      ///< records received from sources
    std::uint64_t processed = 0;      ///< events that went through every shard bolt
    std::uint64_t dropped = 0;        ///< events filtered out on purpose by a bolt
    std::uint64_t replayed = 0;       ///< events skipped because their profile already had them (replay after a crash)
    std::uint64_t dead_lettered = 0;  ///< events sent to the dead-letter stream
    std::vector<std::pair<errc, std::uint64_t>> dead_lettered_by_reason;  ///< non-zero reasons only
    std::array<std::uint64_t, stream_count> outputs{};  ///< outputs emitted, per stream
    std::uint64_t nacked = 0;          ///< events whose ack failed (their positions are not committed)
    std::uint64_t handler_errors = 0;  ///< exceptions caught around bolts
    std::uint64_t store_errors = 0;    ///< failed store reads or writes
    std::uint64_t unstored = 0;        ///< processed events whose store writes were given up at the drain deadline (not committed)
    std::uint64_t cached_profiles = 0; ///< profiles held in the shards' caches
    std::uint64_t timers_fired = 0;    ///< timer events delivered (profile timers and delayed campaigns)
    std::uint64_t timer_players_cached = 0; ///< cached players with a pending timer (the store's index holds the others)
    std::int64_t timer_clock_ms = 0;   ///< the timers' clock of the slowest shard (event time, ms); 0 before any
    std::uint64_t evicted_profiles = 0; ///< profiles dropped from the caches to respect cache_max_profiles
    std::uint64_t expired_profiles = 0; ///< profiles that started afresh or were deleted by the profile TTL
    std::uint64_t trimmed_profiles = 0; ///< stored profiles whose old history the TTL sweep dropped
    std::vector<std::size_t> queue_depth;  ///< batches waiting per shard (all source queues)
    latency_histogram event_latency;       ///< per event: parsed on its shard → outputs handed to the sinks
    latency_histogram store_commit;        ///< per durable group commit: the write and its fsync
    std::uint32_t shards = 0;

    /// One line for logs: "in=.. processed=.. dropped=.. replayed=.. dead_lettered=.. outputs=.. ... store_errors=.. unstored=.. cached=.. ...".
    [[nodiscard]] std::string summary() const;
};

}  // namespace rtcrm
