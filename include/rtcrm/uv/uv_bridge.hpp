/// @file uv_bridge.hpp
/// Triggers delivered on a libuv loop (`rtcrm::uv`): a sink for game servers that run
/// libuv. Shard threads queue outputs and signal a `uv_async_t`; the loop thread calls the
/// host's handler for each, in order per player, and acks it when the handler returns.
/// See loop_bridge.hpp for backpressure, acks and the shutdown rules.
///
/// Caveats:
/// - Construct and `shutdown()` on the loop thread. The async handle keeps the loop alive
///   until `shutdown()`; call it once the runtime has stopped (see the example), before
///   the loop ends.
/// - The header does not include uv.h: it takes the loop as `uv_loop_s*`, which is what
///   `uv_loop_t*` points to.
///
/// Example (on the loop thread):
/// @code
///   auto bridge = std::make_shared<rtcrm::uv_bridge>(loop, [&](rtcrm::output& out) {
///       send_to_player(out.player, out.body);   // the loop thread
///   });
///   topology.add_sink(rtcrm::stream::main, bridge);
///   ...
///   // on SIGINT (a uv_signal_t callback, the loop thread):
///   bridge->stop_runtime(rt, [&] { uv_close(server, nullptr); });  // the loop then ends
/// @endcode
#pragma once

#include <rtcrm/core/loop_bridge.hpp>

#include <functional>
#include <memory>

struct uv_loop_s;

namespace rtcrm {

class runtime;

/// A sink that delivers on a libuv loop. See the file comment.
class uv_bridge final : public loop_bridge {
public:
    /// Loop thread: registers the async handle on `loop`.
    /// @throws rtcrm::error(invalid_config) for a null loop, an empty handler or bad options;
    ///         error(io_error) if libuv refuses the handle.
    uv_bridge(uv_loop_s* loop, loop_output_handler handler, loop_bridge_options options = {});
    /// Any thread. If `shutdown()` was not called, the handle is closed by the loop at its
    /// next turn (the loop must still run).
    ~uv_bridge() override;

    [[nodiscard]] std::string_view name() const noexcept override { return "uv"; }

    /// Loop thread: delivers what is queued, closes the async handle (the loop can end),
    /// and nacks every later output. Idempotent.
    void shutdown();
    /// Loop thread: stops `rt` on another thread (`runtime::stop_async`) while this loop
    /// keeps delivering, then, on the loop thread, shuts this bridge down and calls `then`.
    void stop_runtime(runtime& rt, std::function<void()> then = {});

private:
    void wake() override;
    struct handle;
    handle* handle_;  // owned by the loop once closing (freed in the close callback)
};

}  // namespace rtcrm
