/// @file sink.hpp
/// Where outputs go: a Kafka topic, a webhook, a file, a callback into the host.
///
/// The runtime binds sinks to streams (see topology.hpp) and hands each one batches of
/// outputs: shard threads call `consume` at the end of each batch they processed, so the
/// cost of a call (a lock, a write syscall, a produce call) is paid per batch.
///
/// Contract:
/// - `consume` may be called from several shard threads at once; a sink synchronises
///   itself.
/// - The sink takes over each output's ack share: it `ack()`s once the output is durably
///   accepted (written to the file, delivered to the broker, 2xx from the webhook) and
///   `nack()`s when it gives up. It may do so later, on any thread (delivery reports).
/// - A slow sink may block in `consume`: that is the backpressure that slows the sources
///   instead of growing queues.
///
/// Caveats: a sink must not call back into the runtime from `consume`.
#pragma once

#include <rtcrm/core/output.hpp>

#include <functional>
#include <span>
#include <string_view>

namespace rtcrm {

/// A destination for outputs. Thread-safe (see the contract above).
class sink {
public:
    virtual ~sink() = default;
    /// A short name for logs and metrics.
    [[nodiscard]] virtual std::string_view name() const noexcept = 0;
    /// Takes a batch of outputs and their ack shares (moved from; the span's elements are
    /// left valid but unspecified). May block.
    virtual void consume(std::span<output> batch) = 0;
    /// Writes out anything buffered and completes the acks it can. Called periodically by
    /// the runtime and once at stop. Should not block for long (shards call it).
    virtual void flush() {}
    /// Called once by the runtime at stop, after the last `consume` and `flush`: complete
    /// (ack, or nack after a bounded wait) every ack share still held, because the
    /// runtime's trackers behind them go away with the runtime.
    virtual void close() {}
};

}  // namespace rtcrm
