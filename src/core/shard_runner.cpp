#include "shard_runner.hpp"

#include <chrono>
#include <thread>

namespace rtcrm::detail {

void run_shard(std::uint32_t index, shard_stage& stage, router& queues, submit_source* submit, shard_mailbox& mailbox,
               const runtime_options& options, run_state& state) {
    using clock = std::chrono::steady_clock;
    router::batch batch;
    auto next_tick = clock::now() + options.flush_interval;
    auto lane_has_work = [&] { return submit != nullptr && submit->has_work(index); };
    for (;;) {
        mailbox.run(stage);
        bool worked = false;
        // Bounded, so ticks (flushes, write-back) happen even under full load. The
        // sources' queues and the submit lane take turns, a batch each.
        for (int k = 0; k < 64; ++k) {
            bool got = false;
            if (queues.pop(index, batch)) {
                stage.process(batch);
                got = true;
            }
            if (submit != nullptr && submit->take(index, batch, options.batch_size) > 0) {
                stage.process(batch);
                got = true;
            }
            if (!got) {
                break;
            }
            worked = true;
        }
        // Timers due by the clock, a bounded number between batches, so the records of
        // players with nothing due never wait long behind a crowd of them.
        const bool timers_due = stage.fire_due_timers(options.timer_batch);
        const auto now = clock::now();
        if (now >= next_tick) {
            stage.tick(now);
            next_tick = now + options.flush_interval;
        }
        if (!worked) {
            if (timers_due) {
                continue;
            }
            if (stage.write_back_while_idle()) {
                // One small chunk copied. Let any thread waiting for this core run
                // first (a host's loop or submitter: idle work must not delay them),
                // then look for events before the next chunk.
                std::this_thread::yield();
                continue;
            }
            const bool sources_done = queues.drained(index);
            if (sources_done && (submit == nullptr || submit->drained(index))) {
                break;
            }
            if (sources_done || (submit != nullptr && submit->held_back(index))) {
                // Waiting for acks (the submit lane's drain, or max_in_flight): they
                // come from other threads and wake nobody; look again shortly, ticking
                // meanwhile so batching sinks flush.
                std::this_thread::sleep_for(std::chrono::microseconds(200));
                continue;
            }
            queues.wait_for_work(index, next_tick, lane_has_work);
        }
    }
    stage.finish();
    state.shard_ended(index);
    mailbox.run(stage);  // anything posted before the end was seen
    state.thread_done();
}

}  // namespace rtcrm::detail
