#include <rtcrm/core/callback_sink.hpp>
#include <rtcrm/core/error.hpp>

namespace rtcrm {

void callback_sink::consume(std::span<output> batch) {
    try {
        if (concurrent_) {
            callback_(batch);
        } else {
            std::lock_guard lock(mutex_);
            callback_(batch);
        }
    } catch (...) {
        for (auto& out : batch) {
            out.ack.nack(make_error_code(errc::delivery_failed));
        }
        throw;  // the runtime counts and reports it
    }
    for (auto& out : batch) {
        out.ack.ack();
    }
}

}  // namespace rtcrm
