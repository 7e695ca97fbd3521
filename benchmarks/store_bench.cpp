// Profile stores side by side: get, write-back batches and scans of typical profiles,
// memory_store beside lmdb_store (with and without fsync per commit) and cassandra_store
// over the CQL test peer on loopback (the client's and the protocol's cost, not a real
// cluster's). Items are profiles.
#include <rtcrm/cassandra/cassandra_store.hpp>
#include <rtcrm/core/memory_store.hpp>
#include <rtcrm/lmdb/lmdb_store.hpp>

#include "support/cql_peer.hpp"

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

namespace {

constexpr std::int64_t ts0 = 1'763'800'000'000;
constexpr int stored_local = 100'000;
constexpr int stored_cassandra = 20'000;  // the peer keeps every row in memory, as text-keyed maps

// What the example handlers leave in a profile after a few dozen events.
rtcrm::profile typical(std::int64_t id) {
    rtcrm::profile p{rtcrm::player_key{id}};
    p.set("level", id % 100);
    p.set("logins", std::int64_t{42});
    p.set("loss_streak", std::int64_t{2});
    for (int i = 0; i < 16; ++i) {
        p.incr_windowed("fights_lost", 1, ts0 + i * 3'600'000, 86'400'000);
        p.record_event(i % 2 == 0 ? "fight" : "login", ts0 + i * 60'000, fmt::format("g-{}-{}", id, i));
    }
    p.record_trigger("3", ts0);
    p.mark_applied("kafka:raw", 3, 123'456);
    return p;
}

enum class kind { memory, lmdb_sync, lmdb_nosync, cassandra };

struct fixture {
    std::filesystem::path dir;
    std::unique_ptr<rtcrm::test::cql_peer> peer;
    std::shared_ptr<rtcrm::profile_store> store;
    int stored = stored_local;
    explicit fixture(kind k) {
        if (k == kind::memory) {
            store = std::make_shared<rtcrm::memory_store>();
        } else if (k == kind::cassandra) {
            peer = std::make_unique<rtcrm::test::cql_peer>();
            store = std::make_shared<rtcrm::cassandra_store>(rtcrm::cassandra_options{.hosts = peer->contact_points()});
            stored = stored_cassandra;
        } else {
            dir = std::filesystem::temp_directory_path() / fmt::format("rtcrm_store_bench_{}", ::getpid());
            std::filesystem::remove_all(dir);
            store = std::make_shared<rtcrm::lmdb_store>(rtcrm::lmdb_options{.path = dir.string(), .sync = k == kind::lmdb_sync});
        }
        rtcrm::write_batch batch;
        for (int i = 0; i < stored; ++i) {
            batch.profiles.push_back(typical(i));
            if (batch.profiles.size() == 4096) {
                (void)store->write(batch);
                batch.profiles.clear();
            }
        }
        (void)store->write(batch);
    }
    ~fixture() {
        store.reset();
        peer.reset();
        if (!dir.empty()) {
            std::filesystem::remove_all(dir);
        }
    }
};

// Loads `range(0)` profiles per call, as a shard loads the cold players of a batch.
void get_batch(benchmark::State& state, kind k) {
    fixture f{k};
    const auto n = static_cast<std::size_t>(state.range(0));
    std::vector<rtcrm::player_key> keys;
    std::vector<std::optional<rtcrm::profile>> out(n);
    std::int64_t next = 0;
    for (auto _ : state) {
        keys.clear();
        for (std::size_t i = 0; i < n; ++i) {
            keys.emplace_back((next = (next + 7919) % f.stored));
        }
        benchmark::DoNotOptimize(f.store->get(keys, out));
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
}

// Writes back `range(0)` dirty profiles per call (one group commit), with a position.
void write_batch(benchmark::State& state, kind k) {
    fixture f{k};
    rtcrm::write_batch batch;
    for (int i = 0; i < state.range(0); ++i) {
        batch.profiles.push_back(typical(i * 13 % f.stored));
    }
    std::int64_t offset = 0;
    for (auto _ : state) {
        batch.positions = {{"kafka:raw", 0, ++offset}};
        benchmark::DoNotOptimize(f.store->write(batch));
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
}

void scan_all(benchmark::State& state, kind k) {
    fixture f{k};
    for (auto _ : state) {
        std::size_t n = 0;
        (void)f.store->scan_parallel(static_cast<std::size_t>(state.range(0)), [&](std::size_t) -> rtcrm::profile_visitor {
            return [&n](const rtcrm::profile&) {
                __atomic_fetch_add(&n, 1, __ATOMIC_RELAXED);
                return true;
            };
        });
        benchmark::DoNotOptimize(n);
    }
    state.SetItemsProcessed(state.iterations() * f.stored);
}

}  // namespace

BENCHMARK_CAPTURE(get_batch, memory, kind::memory)->Arg(1)->Arg(64)->Arg(1024);
BENCHMARK_CAPTURE(get_batch, lmdb, kind::lmdb_sync)->Arg(1)->Arg(64)->Arg(1024);
BENCHMARK_CAPTURE(write_batch, memory, kind::memory)->Arg(1)->Arg(64)->Arg(1024);
BENCHMARK_CAPTURE(write_batch, lmdb_sync, kind::lmdb_sync)->Arg(1)->Arg(64)->Arg(1024)->UseRealTime();
BENCHMARK_CAPTURE(write_batch, lmdb_nosync, kind::lmdb_nosync)->Arg(1)->Arg(64)->Arg(1024);
BENCHMARK_CAPTURE(get_batch, cassandra_peer, kind::cassandra)->Arg(1)->Arg(64)->Arg(1024)->UseRealTime();
BENCHMARK_CAPTURE(write_batch, cassandra_peer, kind::cassandra)->Arg(1)->Arg(64)->Arg(1024)->UseRealTime();
BENCHMARK_CAPTURE(scan_all, memory, kind::memory)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(scan_all, lmdb, kind::lmdb_nosync)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(scan_all, cassandra_peer, kind::cassandra)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
