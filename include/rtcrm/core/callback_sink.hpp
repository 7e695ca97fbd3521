/// @file callback_sink.hpp
/// Hands outputs to host code: a function called with each batch of outputs.
///
/// The callback runs on the shard thread that produced the batch. By default calls are
/// serialised with a mutex, so the callback needs no locking of its own; set `concurrent`
/// to let shards call it at once. Each output is acked when the callback returns
/// normally; if it throws, the batch is nacked. After a crash, events not yet committed
/// are processed again and the callback sees their triggers again, with the same
/// `trigger_id` (core/trigger_id.hpp): deduplicate on it where an effect must happen once.
///
/// Example:
/// @code
///   auto triggers = std::make_shared<rtcrm::callback_sink>([](std::span<const rtcrm::output> batch) {
///       for (const auto& out : batch) send_offer(out.player, out.body);
///   });
///   topology.add_sink(rtcrm::stream::main, triggers);
/// @endcode
#pragma once

#include <rtcrm/core/sink.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <span>

namespace rtcrm {

/// Receives a batch of outputs; runs on a shard thread (see above).
using output_callback = std::function<void(std::span<const output> batch)>;

/// A sink that calls host code. Thread-safe.
class callback_sink final : public sink {
public:
    /// @param concurrent let several shards call `callback` at once
    explicit callback_sink(output_callback callback, bool concurrent = false)
        : callback_(std::move(callback)), concurrent_(concurrent) {}

    [[nodiscard]] std::string_view name() const noexcept override { return "callback"; }
    void consume(std::span<output> batch) override;

private:
    output_callback callback_;
    bool concurrent_;
    std::mutex mutex_;
};

}  // namespace rtcrm
