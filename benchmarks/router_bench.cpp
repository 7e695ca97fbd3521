// Routing: hashing a player key to its shard, and handing batches between threads.
#include <rtcrm/player_key.hpp>

#include "core/router.hpp"

#include <benchmark/benchmark.h>

#include <thread>

namespace {

void key_to_shard(benchmark::State& state) {
    std::int64_t id = 1;
    for (auto _ : state) {
        const rtcrm::player_key key{id++};
        benchmark::DoNotOptimize(key.shard(8));
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(key_to_shard);

// Batches of 256 events through one SPSC ring to a consumer thread; items are events.
void spsc_hand_off(benchmark::State& state) {
    constexpr std::size_t batch = 256;
    rtcrm::detail::spsc_ring<std::vector<int>> ring{64};
    std::atomic<bool> done{false};
    std::atomic<std::uint64_t> consumed{0};
    std::thread consumer([&] {
        std::vector<int> out;
        while (!done.load(std::memory_order_relaxed)) {
            if (ring.try_pop(out)) {
                consumed.fetch_add(out.size(), std::memory_order_relaxed);
                out.clear();
            }
        }
        while (ring.try_pop(out)) {
            consumed.fetch_add(out.size(), std::memory_order_relaxed);
            out.clear();
        }
    });
    std::vector<int> items;
    for (auto _ : state) {
        items.resize(batch);
        while (!ring.try_push(items)) {
        }
    }
    done.store(true);
    consumer.join();
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch));
}
BENCHMARK(spsc_hand_off)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
