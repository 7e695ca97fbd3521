// Internal: the runtime's source and shard threads as the rest of it sees them: whether
// they were started, which have ended, how many still run, and the stop.
//
// A stop is a request on a std::stop_source (the source threads stop polling; their stop
// callbacks wake a blocking poll) plus a deadline: from the first stop(), in-flight
// events are waited for at most the drain timeout. The threads report their end here;
// stop(), wait() and the destructor wait for that. Any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <stop_token>
#include <vector>

namespace rtcrm::detail {

class run_state {
public:
    using clock = std::chrono::steady_clock;

    run_state(std::uint32_t sources, std::uint32_t shards)
        : shard_done_(shards, false), source_done_(sources, false), draining_(sources) {}

    // Requests the stop; the first call sets the deadline, `drain_timeout` from now.
    void request_stop(std::chrono::milliseconds drain_timeout);
    [[nodiscard]] std::stop_token stop_token() const noexcept { return stopping_.get_token(); }
    // The first stop()'s deadline for in-flight events; nullopt before it.
    [[nodiscard]] std::optional<clock::time_point> stop_deadline() const noexcept;
    // Past the first stop()'s deadline: sources stop waiting for the shards.
    [[nodiscard]] bool past_stop_deadline() const noexcept;
    // Source `source` has read its last record and waits for its events until `deadline`.
    void source_draining(std::uint32_t source, clock::time_point deadline);
    // Until when events in flight are waited for: the first stop()'s deadline, else,
    // once every source is draining, the latest of their deadlines; nullopt while a
    // source still reads. Past it, a failing store's writes are given up.
    [[nodiscard]] std::optional<clock::time_point> drain_deadline() const;

    // start(): false if it was called before.
    bool mark_started();
    // start(): how many threads will report their end (thread_done).
    void set_running(std::uint32_t threads);
    [[nodiscard]] bool started() const;
    // A source or shard thread has finished its work; thread_done() follows (a shard first
    // runs the tasks posted meanwhile).
    void source_ended(std::uint32_t source);
    void shard_ended(std::uint32_t shard);
    void thread_done();

    struct snapshot {
        bool started = false;
        std::vector<bool> sources_ended;
        std::vector<bool> shards_ended;
    };
    [[nodiscard]] snapshot now() const;

    // Runs `use` and returns true when no thread runs shard `s` (not started, or ended),
    // so `use` may touch its stage; start() waits for `use` to return. False otherwise.
    template <typename Use>
    bool if_shard_idle(std::uint32_t s, Use&& use) {
        std::lock_guard lock(mutex_);
        if (started_ && !shard_done_[s]) {
            return false;
        }
        use();
        return true;
    }

    // Waits until every thread has ended (true), or, once `deadline` has passed, until the
    // sources have ended and every shard still running is stuck (`stuck(shard, now_ns)`),
    // or a settle time more has passed (false: some thread goes on running, and waiters
    // in wait_ended return). A call after the deadline (a second stop()) gets its own
    // settle time.
    bool await_threads(clock::time_point deadline, const std::function<bool(std::uint32_t, std::int64_t)>& stuck);

    enum class ending { not_started, ended, gave_up, timed_out };
    // Waits until every thread has ended or a stop() gave up on one, at most `timeout`
    // if given.
    ending wait_ended(std::optional<std::chrono::milliseconds> timeout = std::nullopt);
    // Waits until every thread has ended; true for the first caller, who joins them.
    bool begin_join();

private:
    std::stop_source stopping_;
    std::atomic<std::int64_t> stop_deadline_ns_{0};  // the first stop()'s deadline (clock's epoch); 0 before

    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::uint32_t running_ = 0;      // threads not yet finished (guarded by mutex_)
    std::vector<bool> shard_done_;   // per shard: its thread finished (guarded by mutex_)
    std::vector<bool> source_done_;  // per source: its thread finished (guarded by mutex_)
    std::vector<std::optional<clock::time_point>> draining_;  // per source: its drain deadline (guarded by mutex_)
    bool started_ = false;           // guarded by mutex_
    bool joined_ = false;            // guarded by mutex_
    bool gave_up_ = false;           // a stop() returned with threads still running (guarded by mutex_)
};

}  // namespace rtcrm::detail
