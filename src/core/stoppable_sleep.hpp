// Internal: a sleep that a stop request cuts short, for the threads that wake up every
// so often until their owner stops them (the runtime's watchdog and TTL sweeper, the
// Kafka maintenance reporter, the webhook worker's backoff). The owner holds the thread
// as a std::jthread: request_stop() wakes the sleeper at once, join() then returns
// without waiting out the period.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>

namespace rtcrm::detail {

class stoppable_sleep {
public:
    // Sleeps for `period`, or until a stop is requested on `stop`. True when the period
    // passed; false once a stop is requested (also when it was before the call).
    template <typename Rep, typename Period>
    bool sleep_for(const std::stop_token& stop, std::chrono::duration<Rep, Period> period) {
        std::unique_lock lock(mutex_);
        // The predicate stays false: only the stop or the time ends the wait. Whether a
        // stop was requested is read afterwards (wait_for's result does not say so on
        // every standard library).
        cv_.wait_for(lock, stop, period, [] { return false; });
        return !stop.stop_requested();
    }

private:
    std::mutex mutex_;
    std::condition_variable_any cv_;  // waited on with the stop token: a stop request notifies it
};

}  // namespace rtcrm::detail
