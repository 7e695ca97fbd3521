// The floor of rtcrm-embed-bench: the runtime's thread shape without the runtime.
//
// A host thread hands each event to a worker's lane (the runtime's submit lane: an
// mpmc_ring and a wait_point), the worker spends `work` of CPU on it instead of parsing it
// and running Lua, and hands a trigger to the same uv_bridge the runtime's shards use. So
// the threads, wake-ups and hand-offs are the runtime's, and the CPU per event is what one
// chooses (the runtime's own, measured, or none). Its latency, run in the same minutes as
// the runtime's, is what the machine and the scheduler alone cost that shape: a target
// the floor misses cannot be met by the runtime on that machine at that time either.
#pragma once

#include <rtcrm/core/event.hpp>
#include <rtcrm/core/thread_scheduling.hpp>
#include <rtcrm/uv/uv_bridge.hpp>

#include "core/mpmc_ring.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <pthread.h>

namespace rtcrm::bench {

class floor_pipeline {
public:
    floor_pipeline(std::uint32_t workers, std::chrono::nanoseconds work, std::shared_ptr<rtcrm::uv_bridge> bridge,
                   rtcrm::thread_scheduling scheduling = {})
        : iterations_(iterations_for(work)), bridge_(std::move(bridge)) {
        for (std::uint32_t i = 0; i < workers; ++i) {
            lanes_.push_back(std::make_unique<lane>());
        }
        for (std::uint32_t i = 0; i < workers; ++i) {
            threads_.emplace_back([this, i, scheduling] {
                pthread_setname_np(pthread_self(), ("floor" + std::to_string(i)).c_str());
                rtcrm::apply_to_this_thread(scheduling);  // as the runtime's shards do
                run_worker(*lanes_[i]);
            });
        }
    }
    floor_pipeline(const floor_pipeline&) = delete;
    floor_pipeline& operator=(const floor_pipeline&) = delete;
    ~floor_pipeline() { stop(); }

    // Host thread: the player's worker takes `rec` (waits while its lane is full).
    void submit(std::int64_t player, rtcrm::record& rec) {
        auto& l = *lanes_[static_cast<std::size_t>(player) % lanes_.size()];
        while (!l.ring.try_push(rec)) {
            std::this_thread::yield();
        }
        l.items.notify_all();
    }

    // Any thread but a worker: ends the workers once their lanes are empty.
    void stop() {
        if (stopping_.exchange(true)) {
            return;
        }
        for (auto& l : lanes_) {
            l->items.notify_all();
        }
        for (auto& t : threads_) {
            t.join();
        }
    }

private:
    struct lane {
        rtcrm::detail::mpmc_ring<rtcrm::record> ring{65536};
        rtcrm::detail::wait_point items;
    };

    // CPU work, not wall time: a fixed count of dependent multiply-adds, so that a vCPU
    // the hypervisor takes away, or a slower core, makes it take longer, as it makes
    // rtcrm's own work. Calibrated once: the count that takes `work` at best over a few
    // rounds (the best round is the one nothing interrupted).
    static std::uint64_t burn(std::uint64_t iterations) {
        std::uint64_t x = iterations;
        for (std::uint64_t i = 0; i < iterations; ++i) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        }
        return x;
    }
    static std::uint64_t iterations_for(std::chrono::nanoseconds work) {
        if (work.count() <= 0) {
            return 0;
        }
        constexpr std::uint64_t probe = 1'000'000;
        double best_ns_per_iteration = 1e9;
        for (int round = 0; round < 5; ++round) {
            const auto start = std::chrono::steady_clock::now();
            sink_ += burn(probe);
            const auto took =
                std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
            best_ns_per_iteration = std::min(best_ns_per_iteration, took / static_cast<double>(probe));
        }
        return static_cast<std::uint64_t>(static_cast<double>(work.count()) / best_ns_per_iteration);
    }
    void spend() const { sink_ += burn(iterations_); }
    static inline std::atomic<std::uint64_t> sink_{0};  // keeps the work from being optimised away

    void run_worker(lane& l) {
        std::vector<rtcrm::output> batch;
        rtcrm::record rec;
        for (;;) {
            // A batch at a time, as a shard takes one from its lane (batch_size 256).
            while (batch.size() < 256 && l.ring.try_pop(rec)) {
                spend();
                // The trigger carries the event id back, as the campaign's does.
                constexpr std::string_view id_key = R"("id":")";
                std::string id;
                if (const auto at = rec.bytes.find(id_key); at != std::string::npos) {
                    const auto from = at + id_key.size();
                    id = rec.bytes.substr(from, rec.bytes.find('"', from) - from);
                }
                rtcrm::output out;
                out.body = R"({"event_id":")" + id + R"("})";
                out.ingest_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                    std::chrono::steady_clock::now().time_since_epoch())
                                    .count();
                batch.push_back(std::move(out));
            }
            if (!batch.empty()) {
                bridge_->consume(batch);
                batch.clear();
                continue;
            }
            if (stopping_.load()) {
                return;
            }
            l.items.wait_until([&] { return !l.ring.empty() || stopping_.load(); },
                               std::chrono::steady_clock::now() + std::chrono::milliseconds(10));
        }
    }

    std::uint64_t iterations_;
    std::shared_ptr<rtcrm::uv_bridge> bridge_;
    std::vector<std::unique_ptr<lane>> lanes_;
    std::vector<std::thread> threads_;
    std::atomic<bool> stopping_{false};
};

}  // namespace rtcrm::bench
