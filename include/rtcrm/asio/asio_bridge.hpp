/// @file asio_bridge.hpp
/// Triggers delivered on a Boost.Asio `io_context` (`rtcrm::asio`): the same as the libuv
/// bridge for hosts that run Asio. Shard threads queue outputs and post one delivery turn
/// at a time to the context; a thread running the context calls the host's handler for
/// each output, in order per player, and acks it when the handler returns. See
/// loop_bridge.hpp for backpressure, acks and the shutdown rules.
///
/// Caveats:
/// - Turns are posted to the context itself: if several threads run it, turns never
///   overlap (one is pending at a time) but may run on any of those threads.
/// - Create it with `create` (turns hold a weak reference, so a turn posted after the
///   bridge is gone does nothing). The context must outlive the runtime's use of it.
/// - The header does not include Asio; it only names `boost::asio::io_context`.
///
/// Example:
/// @code
///   boost::asio::io_context io;
///   auto bridge = rtcrm::asio_bridge::create(io, [&](rtcrm::output& out) { send_to_player(out.player, out.body); });
///   topology.add_sink(rtcrm::stream::main, bridge);
///   ...
///   bridge->stop_runtime(rt, [&] { acceptor.close(); });  // from the context: io.run() then returns
/// @endcode
#pragma once

#include <rtcrm/core/loop_bridge.hpp>

#include <functional>
#include <memory>

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace rtcrm {

class runtime;

/// A sink that delivers on an Asio io_context. See the file comment.
class asio_bridge final : public loop_bridge, public std::enable_shared_from_this<asio_bridge> {
public:
    /// @throws rtcrm::error(invalid_config) for an empty handler or bad options.
    static std::shared_ptr<asio_bridge> create(boost::asio::io_context& io, loop_output_handler handler,
                                               loop_bridge_options options = {});
    ~asio_bridge() override;

    [[nodiscard]] std::string_view name() const noexcept override { return "asio"; }

    /// On the context: delivers what is queued and nacks every later output. Idempotent.
    void shutdown();
    /// On the context: stops `rt` on another thread (`runtime::stop_async`) while the
    /// context keeps delivering, then, on the context, shuts this bridge down and calls `then`.
    void stop_runtime(runtime& rt, std::function<void()> then = {});

private:
    asio_bridge(boost::asio::io_context& io, loop_output_handler handler, loop_bridge_options options);
    void wake() override;
    boost::asio::io_context* io_;
};

}  // namespace rtcrm
