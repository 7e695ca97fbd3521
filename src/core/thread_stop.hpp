// Internal: how rtcrm stops a thread it owns. The owner holds it as a std::jthread and
// requests the stop; the thread sees it on its std::stop_token. A thread that wakes up
// every so often until it is stopped (the runtime's watchdog and TTL sweeper, the Kafka
// maintenance reporter, the webhook worker's backoff) sleeps on a stoppable_sleep, so the
// request ends the sleep at once and the join does not wait out the period. A thread
// blocked elsewhere (a poll, an io_context, a condition variable of its own) is woken by
// a std::stop_callback its owner registers.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <thread>

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

// Requests the stop of `thread` and waits for it to end. Nothing happens to a thread that
// was never started or is joined already, so a second call is harmless.
inline void stop_and_join(std::jthread& thread) {
    thread.request_stop();
    if (thread.joinable()) {
        thread.join();
    }
}

}  // namespace rtcrm::detail
