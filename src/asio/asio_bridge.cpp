#include <rtcrm/asio/asio_bridge.hpp>
#include <rtcrm/core/runtime.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

namespace rtcrm {

std::shared_ptr<asio_bridge> asio_bridge::create(boost::asio::io_context& io, loop_output_handler handler,
                                                 loop_bridge_options options) {
    return std::shared_ptr<asio_bridge>(new asio_bridge(io, std::move(handler), options));
}

asio_bridge::asio_bridge(boost::asio::io_context& io, loop_output_handler handler, loop_bridge_options options)
    : loop_bridge(std::move(handler), options), io_(&io) {}

asio_bridge::~asio_bridge() = default;

void asio_bridge::wake() {
    // A weak reference: a turn that runs after the bridge is gone does nothing.
    boost::asio::post(*io_, [weak = weak_from_this()] {
        if (auto self = weak.lock()) {
            self->deliver();
        }
    });
}

void asio_bridge::shutdown() { detach(); }

void asio_bridge::stop_runtime(runtime& rt, std::function<void()> then) {
    rt.stop_async([weak = weak_from_this(), then = std::move(then)]() mutable {
        if (auto self = weak.lock()) {
            self->post([self = self.get(), then = std::move(then)] {
                self->shutdown();
                if (then) {
                    then();
                }
            });
        }
    });
}

}  // namespace rtcrm
