#include <rtcrm/core/error.hpp>
#include <rtcrm/core/runtime.hpp>
#include <rtcrm/uv/uv_bridge.hpp>

#include <fmt/format.h>
#include <uv.h>

#include <atomic>
#include <mutex>

namespace rtcrm {

// The async handle lives apart from the bridge: libuv owns it from uv_close until its
// close callback, which may come after the bridge is gone.
struct uv_bridge::handle {
    uv_async_t async{};
    // Held while a turn runs, so a bridge destroyed on another thread waits for the turn.
    std::mutex turn_mutex;
    std::atomic<uv_bridge*> owner{nullptr};  // null once shut down or destroyed

    static void on_close(uv_handle_t* h) { delete static_cast<handle*>(h->data); }

    static void on_async(uv_async_t* a) {
        auto* self = static_cast<handle*>(a->data);
        std::unique_lock lock(self->turn_mutex);
        if (auto* bridge = self->owner.load(std::memory_order_acquire)) {
            bridge->deliver();
            return;
        }
        // The bridge went away without shutdown(): close the handle here, on the loop thread.
        lock.unlock();
        if (uv_is_closing(reinterpret_cast<uv_handle_t*>(a)) == 0) {
            uv_close(reinterpret_cast<uv_handle_t*>(a), on_close);
        }
    }
};

uv_bridge::uv_bridge(uv_loop_s* loop, loop_output_handler handler, loop_bridge_options options)
    : loop_bridge(std::move(handler), options), handle_(nullptr) {
    if (loop == nullptr) {
        throw error(errc::invalid_config, "uv_bridge: null loop");
    }
    auto h = std::make_unique<handle>();
    h->async.data = h.get();
    if (const int rc = uv_async_init(loop, &h->async, &handle::on_async); rc != 0) {
        throw error(errc::io_error, fmt::format("uv_bridge: uv_async_init: {}", uv_strerror(rc)));
    }
    h->owner.store(this, std::memory_order_release);
    handle_ = h.release();
}

uv_bridge::~uv_bridge() {
    if (handle_ != nullptr) {
        {
            std::lock_guard lock(handle_->turn_mutex);  // a running turn finishes first
            handle_->owner.store(nullptr, std::memory_order_release);
        }
        uv_async_send(&handle_->async);  // the loop closes it (on_async)
    }
}

void uv_bridge::wake() { uv_async_send(&handle_->async); }

void uv_bridge::shutdown() {
    if (handle_ == nullptr) {
        return;
    }
    detach();  // after this, wake() is never called again
    handle_->owner.store(nullptr, std::memory_order_release);
    uv_close(reinterpret_cast<uv_handle_t*>(&handle_->async), &handle::on_close);
    handle_ = nullptr;
}

void uv_bridge::stop_runtime(runtime& rt, std::function<void()> then) {
    rt.stop_async([this, then = std::move(then)]() mutable {
        post([this, then = std::move(then)] {
            shutdown();
            if (then) {
                then();
            }
        });
    });
}

}  // namespace rtcrm
