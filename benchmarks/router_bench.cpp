// Routing: hashing a player key to its shard (murmur2, as Kafka's partitioner), and
// handing batches from one thread to another through the runtime's SPSC ring. Items are
// events: a hand-off moves a batch of 256 (the runtime's default batch_size) through a
// ring of 64 batches (its default queue_batches).
#include <rtcrm/core/event.hpp>
#include <rtcrm/core/player_key.hpp>

#include "core/router.hpp"

#include <benchmark/benchmark.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr std::size_t batch_events = 256;
constexpr std::size_t ring_batches = 64;

constexpr std::string_view typical =
    R"({"id":"e-1","player_id":42,"type":"fight","ts":1763800000000,"game":"foe","market":"de","data":{"result":"loss","opponent":17}})";

// -- keys -------------------------------------------------------------------------------

// An integer key as the parser makes it: decimal text, murmur2 once, then the shard.
void key_to_shard(benchmark::State& state) {
    std::int64_t id = 1;
    const auto shards = static_cast<std::uint32_t>(state.range(0));
    for (auto _ : state) {
        const rtcrm::player_key key{id++};
        benchmark::DoNotOptimize(key.shard(shards));
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(key_to_shard)->Arg(2)->Arg(8);

// A string key (e.g. a UUID): no decimal conversion, but a canonical-integer check.
void string_key_to_shard(benchmark::State& state) {
    const std::string text = "5f0c2e7a-9b1d-4c3e-8f6a-2d4b7e9c1a03";
    for (auto _ : state) {
        const rtcrm::player_key key{std::string{text}};
        benchmark::DoNotOptimize(key.shard(8));
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(string_key_to_shard);

// murmur2 alone on a typical integer key's text (what the source thread computes per record).
void murmur2_of_a_short_key(benchmark::State& state) {
    const std::string text = "1234567";
    for (auto _ : state) {
        benchmark::DoNotOptimize(rtcrm::murmur2(text));
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(murmur2_of_a_short_key);

// -- hand-off ---------------------------------------------------------------------------

// Runs `state` on the producer side (this thread) against a consumer thread that spins on
// the ring. `fill(batch)` makes the batch full before each push (the ring hands back the
// slot's previous batch: recycled buffers, and in the event variant recycled events);
// `consume(batch)` runs on the consumer for each popped batch.
template <typename Batch, typename Fill, typename Consume>
void hand_off(benchmark::State& state, Fill&& fill, Consume&& consume) {
    rtcrm::detail::spsc_ring<Batch> ring{ring_batches};
    std::atomic<bool> done{false};
    std::thread consumer([&] {
        Batch out;
        for (;;) {
            if (ring.try_pop(out)) {
                consume(out);
            } else if (done.load(std::memory_order_acquire)) {
                if (!ring.try_pop(out)) {
                    break;
                }
                consume(out);
            }
        }
    });
    Batch items;
    for (auto _ : state) {
        fill(items);
        while (!ring.try_push(items)) {
        }
    }
    done.store(true, std::memory_order_release);
    consumer.join();
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch_events));
}

// The queue alone: batches of 256 ints, swapped in and out, the consumer clears them.
void spsc_hand_off_ints(benchmark::State& state) {
    std::uint64_t seen = 0;
    hand_off<std::vector<int>>(
        state, [](std::vector<int>& b) { b.resize(batch_events); },
        [&](std::vector<int>& b) {
            seen += b.size();
            b.clear();
        });
    benchmark::DoNotOptimize(seen);
}
BENCHMARK(spsc_hand_off_ints)->UseRealTime();

// Batches of 256 parsed events. The consumer reads each event's key hash and event time
// (so the event objects' cache lines move to its core) and leaves them in the batch: the
// ring hands the batch back to the producer on a later push, which sends it again. So
// this measures moving live events between cores, not making or freeing them.
void spsc_hand_off_events(benchmark::State& state) {
    std::int64_t sum = 0;
    hand_off<std::vector<rtcrm::event>>(
        state,
        [](std::vector<rtcrm::event>& b) {
            // Only while the circulating batches are being created (the first ~66 pushes).
            while (b.size() < batch_events) {
                b.push_back(std::move(rtcrm::parse_event(typical, {}).value()));
            }
        },
        [&](std::vector<rtcrm::event>& b) {
            for (const auto& ev : b) {
                sum += ev.ts() + ev.player().hash();
            }
        });
    benchmark::DoNotOptimize(sum);
}
BENCHMARK(spsc_hand_off_events)->UseRealTime();

// The runtime's own hand-off: routed records (the bytes of each event in a std::string)
// made on the producer and freed on the consumer, as the source thread and the shards do.
// The difference to spsc_hand_off_ints is the cost of allocating on one thread and
// freeing on another.
void spsc_hand_off_records(benchmark::State& state) {
    std::uint64_t bytes = 0;
    hand_off<rtcrm::detail::router::batch>(
        state,
        [](rtcrm::detail::router::batch& b) {
            b.clear();  // the consumer's cleared buffer comes back: already empty
            for (std::size_t i = 0; i < batch_events; ++i) {
                b.push_back(rtcrm::detail::routed_record{rtcrm::record{std::string{typical}, std::nullopt, {}}, {}});
            }
        },
        [&](rtcrm::detail::router::batch& b) {
            for (const auto& r : b) {
                bytes += r.rec.bytes.size();
            }
            b.clear();
        });
    benchmark::DoNotOptimize(bytes);
}
BENCHMARK(spsc_hand_off_records)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
