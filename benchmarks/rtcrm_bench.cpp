// rtcrm-bench: the end-to-end benchmark. Generator (flat out) → validation → router →
// shards (Lua handlers if --scripts) → null sink. Prints one JSON object on stdout.
//
// Latency is measured per event from ingest (parse on the source thread) to the end of
// the shard bolts, i.e. the moment its outputs are handed to the sinks.
#include <rtcrm/bolt/validation_bolt.hpp>
#include <rtcrm/lua/lua_engine.hpp>
#include <rtcrm/runtime.hpp>
#include <rtcrm/source/generator_source.hpp>
#include <rtcrm/store/lmdb_store.hpp>
#include <rtcrm/store/memory_store.hpp>

#include "latency_histogram.hpp"

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <malloc.h>

namespace po = boost::program_options;

namespace {

// The last shard bolt: records each event's latency into its shard's histogram.
class latency_bolt final : public rtcrm::bolt {
public:
    explicit latency_bolt(rtcrm::bench::latency_histogram& h) : histogram_(&h) {}
    [[nodiscard]] std::string_view name() const noexcept override { return "latency"; }
    void process(std::span<rtcrm::event> batch, rtcrm::bolt_context&) override {
        const auto now = rtcrm::steady_now_ns();
        for (const auto& ev : batch) {
            histogram_->record(static_cast<std::uint64_t>(now - ev.ingest_ns()));
        }
    }

private:
    rtcrm::bench::latency_histogram* histogram_;
};

// Acks everything at once: measures the pipeline, not an output medium.
class null_sink final : public rtcrm::sink {
public:
    [[nodiscard]] std::string_view name() const noexcept override { return "null"; }
    void consume(std::span<rtcrm::output> batch) override {
        for (auto& out : batch) {
            out.ack.ack();
        }
    }
};

}  // namespace

int main(int argc, char** argv) {
    std::uint64_t events = 2'000'000;
    std::uint64_t players = 100'000;
    std::uint64_t seed = 1;
    std::uint32_t shards = 2;
    std::string schemas = "examples/schemas";
    bool no_validation = false;
    std::string scripts;
    std::size_t batch = 256;
    bool keep_heap = false;
    std::string store = "memory";
    std::string store_path;
    bool store_no_sync = false;
    po::options_description desc(
        "rtcrm-bench: end-to-end throughput and latency\n"
        "generator (flat out) -> validation -> router -> shards [-> Lua handlers] -> null sink.\n"
        "Latency: from ingest (parse) to the end of the shard bolts (hand-off to the sinks).\n\nOptions");
    desc.add_options()("help,h", "show this help")
        ("events", po::value(&events)->default_value(events), "events to generate")
        ("players", po::value(&players)->default_value(players), "distinct players")
        ("seed", po::value(&seed)->default_value(seed), "generator seed")
        ("shards", po::value(&shards)->default_value(shards), "shard threads")
        ("batch", po::value(&batch)->default_value(batch), "records per poll / events per queue hand-off")
        ("schemas", po::value(&schemas)->default_value(schemas), "JSON Schema directory")
        ("no-validation", po::bool_switch(&no_validation), "skip schema validation")
        ("scripts", po::value(&scripts), "Lua handler directory (e.g. lua/examples); none by default")
        ("store", po::value(&store)->default_value(store), "profile store: memory | lmdb")
        ("store-path", po::value(&store_path), "LMDB directory (--store lmdb); emptied first")
        ("store-no-sync", po::bool_switch(&store_no_sync), "LMDB without fsync per group commit")
        ("keep-heap", po::bool_switch(&keep_heap),
         "tell glibc malloc not to trim and regrow its heap (events are allocated on the source thread and "
         "freed on the shards); a host's allocator choice, not the library's");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, desc), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        std::cerr << "rtcrm-bench: " << e.what() << '\n' << desc;
        return 2;
    }
    if (vm.count("help") != 0U) {
        std::cout << desc << '\n';
        return 0;
    }
    if (keep_heap) {
        mallopt(M_TRIM_THRESHOLD, 512 << 20);
        mallopt(M_TOP_PAD, 64 << 20);
    }
    if (store != "memory" && (store != "lmdb" || store_path.empty())) {
        std::cerr << "rtcrm-bench: --store memory, or --store lmdb --store-path DIR\n";
        return 2;
    }

    try {
        std::vector<rtcrm::bench::latency_histogram> histograms(shards);
        std::shared_ptr<rtcrm::lua_engine> engine;
        if (store == "lmdb") {
            std::filesystem::remove_all(store_path);  // a fresh store: the run measures inserts and updates
        }
        rtcrm::topology t;
        t.add_source(std::make_unique<rtcrm::generator_source>(
            rtcrm::generator_options{.events = events, .players = players, .seed = seed, .scenario = "bob"}));
        if (!no_validation) {
            t.add_ingest_bolt(rtcrm::validation_bolt::factory({.schema_dir = schemas}));
        }
        if (!scripts.empty()) {
            engine = std::make_shared<rtcrm::lua_engine>(rtcrm::lua_options{.script_dir = scripts});
            t.add_shard_bolt(engine->make_bolt_factory());
        }
        t.add_shard_bolt([&](const rtcrm::bolt_placement& where) { return std::make_unique<latency_bolt>(histograms[where.worker]); })
            .add_sink(rtcrm::stream::main, std::make_shared<null_sink>())
            .add_sink(rtcrm::stream::shadow, std::make_shared<null_sink>())
            .with_store(store == "lmdb" ? std::shared_ptr<rtcrm::profile_store>(std::make_shared<rtcrm::lmdb_store>(
                                              rtcrm::lmdb_options{.path = store_path, .sync = !store_no_sync}))
                                        : std::make_shared<rtcrm::memory_store>())
            .with_options({.shards = shards, .batch_size = batch});
        rtcrm::runtime rt{std::move(t)};
        const auto start = std::chrono::steady_clock::now();
        rt.run();
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        rtcrm::bench::latency_histogram all;
        for (const auto& h : histograms) {
            all.merge(h);
        }
        const auto stats = rt.stats();
        std::cerr << "rtcrm-bench: " << stats.summary() << '\n';
        auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
        fmt::print(R"({{"events":{},"seconds":{:.3f},"events_per_s":{:.0f},"shards":{},"store":"{}{}","validation":{},)"
                   R"("lua":{},"keep_heap":{},"latency_us":{{"p50":{:.1f},"p99":{:.1f},"p999":{:.1f},"max":{:.1f}}},)"
                   R"("processed":{},"dead_lettered":{},"triggers":{}}})"
                   "\n",
                   events, seconds, static_cast<double>(stats.events_in) / seconds, shards, store,
                   store == "lmdb" && store_no_sync ? "-nosync" : "", !no_validation, !scripts.empty(), keep_heap,
                   us(all.quantile(0.50)), us(all.quantile(0.99)), us(all.quantile(0.999)), us(all.max()), stats.processed,
                   stats.dead_lettered, stats.outputs[0]);
        return stats.processed == events ? 0 : 1;
    } catch (const std::exception& e) {
        std::cerr << "rtcrm-bench: " << e.what() << '\n';
        return 1;
    }
}
