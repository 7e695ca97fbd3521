/// @file thread_scheduling.hpp
/// How the kernel schedules a thread: the runtime's shard threads
/// (`runtime_options::shard_scheduling`), and a host's own threads (its event loop,
/// the thread that submits) through `apply_to_this_thread`.
///
/// Why it matters: on a small machine (2 cores running a host thread, a loop thread and
/// the shards) Linux's default time sharing lets each woken thread preempt a busy one in
/// the middle of its batch, and the events behind that batch wait for the next turn.
/// The tail of submit → trigger latency is mostly that; measured on 2 vCPUs:
/// - `fifo` (SCHED_FIFO): a thread runs until it blocks, and before every time-shared
///   thread of the machine. Every pipeline thread (shards, the loop, the submitting
///   thread) at the same priority gave p99 ≈ 0.25 ms at 50% of the maximum on 2 vCPUs,
///   against 1-3 ms by default. Needs CAP_SYS_NICE or an RLIMIT_RTPRIO of at least the
///   priority (`ulimit -r`, or `LimitRTPRIO=` in a systemd unit).
/// - `batch` (SCHED_BATCH): a woken thread does not preempt a running one. No privilege;
///   about half the default's tail when every pipeline thread has it.
/// - `inherit`: as the thread that created it (for shards: the one calling
///   `runtime::start`). The default: the library changes nothing unless asked.
///
/// @code
///   // A game server that wants the tail: its loop thread and the shards at the same level.
///   rtcrm::thread_scheduling realtime{.policy = rtcrm::thread_policy::fifo, .priority = 1};
///   rtcrm::apply_to_this_thread(realtime);  // on the loop thread; throws if not permitted
///   topology.with_options({.shards = 2, .submit_capacity = 65536, .shard_scheduling = realtime});
/// @endcode
///
/// Caveats:
/// - Give every thread of the pipeline the same level. A host thread at `fifo` above
///   time-shared shards starves them when it is busy (the shards then fall behind by
///   hundreds of milliseconds); shards at `fifo` above a time-shared loop delay its
///   triggers whenever both cores are busy with shards.
/// - Real-time threads that never block would own their cores. Shards block whenever
///   they are idle and Lua handlers run under an instruction budget, and Linux keeps 5%
///   of each second for time-shared threads (`kernel.sched_rt_runtime_us`), but a
///   custom bolt that spins should not run at `fifo`.
/// - Linux only; elsewhere only `inherit` is accepted.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace rtcrm {

/// A scheduling policy (see the overview).
enum class thread_policy : std::uint8_t {
    inherit,  ///< leave the thread as created
    batch,    ///< SCHED_BATCH: woken, it does not preempt a running thread
    fifo,     ///< SCHED_FIFO at a priority: runs until it blocks, before time-shared threads
};

/// A policy and, for `fifo`, its priority. An aggregate; compare with ==.
struct thread_scheduling {
    thread_policy policy = thread_policy::inherit;
    int priority = 1;  ///< `fifo` only: 1 (lowest) to 99; ignored otherwise

    /// @throws rtcrm::error(errc::invalid_config) when `fifo` has a priority outside 1-99,
    ///   or the platform has no such policy.
    void validate() const;

    friend bool operator==(const thread_scheduling&, const thread_scheduling&) = default;
};

/// "inherit", "batch" or "fifo".
[[nodiscard]] std::string_view thread_policy_name(thread_policy p) noexcept;

/// The policy of that name (as thread_policy_name writes it), or std::nullopt.
[[nodiscard]] std::optional<thread_policy> parse_thread_policy(std::string_view name) noexcept;

/// Applies `s` to the calling thread (nothing for `inherit`). Thread-safe.
/// @throws rtcrm::error(errc::invalid_config) when `s` is invalid or the kernel refuses
///   it (for `fifo` without the privilege: the message says which one is needed).
void apply_to_this_thread(const thread_scheduling& s);

}  // namespace rtcrm
