/// @file loop_bridge.hpp
/// Delivers outputs on a host's event-loop thread: the common part of the libuv bridge
/// (`rtcrm/uv/uv_bridge.hpp`) and the Boost.Asio bridge (`rtcrm/asio/asio_bridge.hpp`).
///
/// A game server owns its loop and must never block on rtcrm. Shard threads `consume`
/// outputs into a bounded lock-free queue and wake the loop (a `uv_async_t`, a post to an
/// `io_context`); on the loop thread the bridge hands each output to the host's handler, at
/// most `max_per_turn` per wake-up so the loop keeps serving its other work, and acks it
/// when the handler returns. One player's outputs come from one shard, in order, and keep
/// that order through the queue.
///
/// Backpressure: when the queue is full, `consume` waits (the shard waits, its queues fill,
/// and the sources slow down): a slow loop slows the pipeline instead of growing memory.
///
/// Caveats:
/// - Ack: the bridge acks `out.ack` when the handler returns, or nacks it (handler_failed)
///   when the handler throws. A handler that wants to ack later (after its own write
///   completes) moves `out.ack` out and completes it itself.
/// - Shutdown: the runtime's `stop()` waits for acks, so it must not run on the loop
///   thread; stop with `runtime::stop_async` (or the bridges' `stop_runtime`), let the loop
///   run until the runtime stopped, then shut the bridge down on the loop thread.
/// - After shutdown, or when `close()` gave up waiting, outputs are nacked (stopped).
/// - Memory: once the handler returns, the output's body goes back to the shard that wrote
///   it and is freed there at its next `consume` (freeing it on the loop thread cost the
///   allocator a lock and page faults per output). A handler that keeps the body moves it
///   out of `out.body`.
/// - Duplicates: within one process each output reaches the handler once; after a crash,
///   events not yet committed are processed again and their triggers handed over again,
///   with the same `trigger_id` (core/trigger_id.hpp) at the end of the body. A handler
///   whose effect must happen once keys it on that id.
#pragma once

#include <rtcrm/core/sink.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace rtcrm {

/// Options of a loop bridge. An aggregate: use designated initialisers.
struct loop_bridge_options {
    std::size_t capacity = 65536;     ///< outputs waiting for the loop; past it `consume` waits
    std::size_t max_per_turn = 1024;  ///< outputs delivered per wake-up of the loop
    std::chrono::milliseconds close_timeout{
        5000};  ///< at `close()`, the longest wait for the loop to take what is queued

    /// @throws rtcrm::error(invalid_config) for a zero capacity or max_per_turn.
    void validate() const;
};

/// Counters of a loop bridge.
struct loop_bridge_stats {
    std::uint64_t delivered = 0;  ///< outputs handed to the handler
    std::uint64_t failed = 0;     ///< handler calls that threw (nacked)
    std::uint64_t refused = 0;    ///< outputs nacked because the bridge was shut down or gave up
    std::uint64_t wakeups = 0;    ///< times the loop ran a delivery turn
    std::size_t queued = 0;       ///< outputs waiting for the loop now
    std::uint64_t returned = 0;   ///< delivered bodies handed back to the thread that wrote them, to be freed there
};

/// The host's handler: runs on the loop thread, once per output, in order per player.
using loop_output_handler = std::function<void(output& out)>;

/// The loop-independent part of a bridge sink. Thread-safe as a sink (see sink.hpp).
class loop_bridge : public sink {
public:
    ~loop_bridge() override;
    loop_bridge(const loop_bridge&) = delete;
    loop_bridge& operator=(const loop_bridge&) = delete;

    /// Shard threads: queues the outputs and wakes the loop; waits while the queue is full.
    void consume(std::span<output> batch) override;
    /// The runtime, at stop: waits up to `close_timeout` for the loop to take what is
    /// queued, then nacks the rest.
    void close() override;
    /// Runs `fn` on the loop thread at its next delivery turn. Any thread; after shutdown
    /// it is dropped.
    void post(std::function<void()> fn);
    [[nodiscard]] loop_bridge_stats stats() const noexcept;

protected:
    /// @throws rtcrm::error(invalid_config) for an empty handler or bad options.
    loop_bridge(loop_output_handler handler, loop_bridge_options options);
    /// Loop thread: one delivery turn (posted functions, then up to `max_per_turn` outputs);
    /// wakes the loop again if more are waiting.
    void deliver();
    /// Loop thread: delivers everything still queued, then refuses (nacks) all later outputs.
    void detach();
    /// True once `detach` ran.
    [[nodiscard]] bool detached() const noexcept;
    /// Asks the loop to call `deliver()` soon. Any thread; the bridge coalesces calls (at
    /// most one pending at a time), and never calls it after `detach`.
    virtual void wake() = 0;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace rtcrm
