// rtcrm-bench: the end-to-end benchmark.
//
//   generator_source (flat out, or --rate events/s) → runtime: key scan and routing on the source thread →
//   per shard: parse, validation_bolt (unless --no-validation), profile load,
//   [Lua handlers, --scripts], an emitter (one output per --emit-every events),
//   a latency recorder (the last shard bolt) → null sinks (ack at once).
//
// Prints one JSON object on stdout and the runtime's summary on stderr.
//
// Latency, per event: from the moment the record reaches the runtime (the source's
// poll() returned it; stamped by a thin wrapper around the generator) to the end of the
// shard bolts, i.e. the moment its outputs are handed to the sinks. It includes the
// source thread's work, the wait in the router's queues, parsing, validation and the
// bolts. `latency_from_parse_us` is measured from `event::ingest_ns()`, which the runtime
// stamps when a shard parses the record, so it leaves out the source thread and the
// queues. `queued_us` is the part in between: from the record reaching the runtime to
// its parse on the shard.
//
// Histograms are per shard (each written only by its shard thread, no locks) and merged
// after the run.
#include "kafka_mode.hpp"

#include <rtcrm/core/generator_source.hpp>
#include <rtcrm/core/memory_store.hpp>
#include <rtcrm/core/runtime.hpp>
#include <rtcrm/core/validation_bolt.hpp>
#include <rtcrm/lmdb/lmdb_store.hpp>
#include <rtcrm/lua/lua_engine.hpp>

#include "latency_histogram.hpp"

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <malloc.h>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace po = boost::program_options;

namespace {

using rtcrm::bench::latency_histogram;

// The generator, with the time each record reached the runtime: poll() stamps every
// record it returns, by its offset (the generator numbers them 0, 1, 2, ... on partition
// 0). The shard that later reads a stamp got the record through the router's queue,
// whose release/acquire hand-off orders the write before the read.
class stamped_source final : public rtcrm::source {
public:
    explicit stamped_source(rtcrm::generator_options options)
        : stamps_(options.events), inner_(std::move(options)) {}

    [[nodiscard]] std::string_view name() const noexcept override { return inner_.name(); }
    rtcrm::poll_status poll(std::vector<rtcrm::record>& out, std::size_t max, std::chrono::milliseconds timeout) override {
        const auto first = out.size();
        const auto status = inner_.poll(out, max, timeout);
        const auto now = rtcrm::steady_now_ns();
        for (auto i = first; i < out.size(); ++i) {
            const auto offset = static_cast<std::size_t>(out[i].origin.offset);
            if (offset < stamps_.size()) {
                stamps_[offset] = now;
            }
        }
        return status;
    }
    void wakeup() override { inner_.wakeup(); }

    // When the record at `offset` reached the runtime; 0 if unknown.
    [[nodiscard]] std::int64_t stamp(std::int64_t offset) const noexcept {
        return offset >= 0 && static_cast<std::size_t>(offset) < stamps_.size() ? stamps_[static_cast<std::size_t>(offset)] : 0;
    }

private:
    std::vector<std::int64_t> stamps_;
    rtcrm::generator_source inner_;
};

// One shard's histograms, on cache lines of their own.
struct alignas(64) shard_latency {
    latency_histogram from_poll;   // the record reached the runtime → end of the shard bolts
    latency_histogram from_parse;  // event::ingest_ns() (parse on the shard) → end of the shard bolts
    latency_histogram queued;      // the record reached the runtime → parse on the shard
};

// The last shard bolt: records each live event's latency into its shard's histograms.
// One clock read per batch: the batch's outputs are handed to the sinks together.
class latency_bolt final : public rtcrm::bolt {
public:
    latency_bolt(shard_latency& into, const stamped_source& src) : into_(&into), source_(&src) {}
    [[nodiscard]] std::string_view name() const noexcept override { return "latency"; }
    void process(std::span<rtcrm::event> batch, rtcrm::bolt_context&) override {
        const auto now = rtcrm::steady_now_ns();
        for (const auto& ev : batch) {
            into_->from_parse.record(static_cast<std::uint64_t>(now - ev.ingest_ns()));
            if (const auto polled = source_->stamp(ev.origin().offset); polled != 0) {
                into_->from_poll.record(static_cast<std::uint64_t>(now - polled));
                into_->queued.record(static_cast<std::uint64_t>(std::max<std::int64_t>(ev.ingest_ns() - polled, 0)));
            }
        }
    }

private:
    shard_latency* into_;
    const stamped_source* source_;
};

// Emits one small output on `main` per `every` events of its shard, so the output path
// (ack shares, the sink hand-off, completion by the sink) is exercised.
class emitter_bolt final : public rtcrm::bolt {
public:
    explicit emitter_bolt(std::uint64_t every) : every_(every) {}
    [[nodiscard]] std::string_view name() const noexcept override { return "emitter"; }
    void process(std::span<rtcrm::event> batch, rtcrm::bolt_context& ctx) override {
        for (auto& ev : batch) {
            if (++seen_ % every_ == 0) {
                ctx.emit(ev, rtcrm::stream::main,
                         fmt::format(R"({{"player":"{}","type":"{}","seen":{}}})", ev.player().text(), ev.type(), seen_));
            }
        }
    }

private:
    std::uint64_t every_;
    std::uint64_t seen_ = 0;
};

// Acks every output at once and counts them: measures the pipeline, not an output medium.
// Shows the first few outputs on stderr when `show` is set (dead letters).
class null_sink final : public rtcrm::sink {
public:
    explicit null_sink(std::string name, std::size_t show = 0) : name_(std::move(name)), show_(show) {}
    [[nodiscard]] std::string_view name() const noexcept override { return name_; }
    void consume(std::span<rtcrm::output> batch) override {
        const auto before = count_.fetch_add(batch.size(), std::memory_order_relaxed);
        for (std::size_t i = 0; i < batch.size(); ++i) {
            if (before + i < show_) {
                std::cerr << "rtcrm-bench: " << name_ << ": " << batch[i].body << '\n';
            }
            batch[i].ack.ack();
        }
    }
    [[nodiscard]] std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }

private:
    std::string name_;
    std::size_t show_;
    std::atomic<std::uint64_t> count_{0};
};

std::string percentiles(const latency_histogram& h) {
    auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
    return fmt::format(R"({{"p50":{:.1f},"p99":{:.1f},"p999":{:.1f},"max":{:.1f}}})", us(h.quantile(0.50)),
                       us(h.quantile(0.99)), us(h.quantile(0.999)), us(h.max()));
}

}  // namespace

int main(int argc, char** argv) {
    std::uint64_t events = 2'000'000;
    std::uint64_t players = 100'000;
    std::uint64_t seed = 1;
    double rate = 0;
    std::uint32_t shards = 2;
    std::size_t batch = 256;
    std::uint64_t flush_ms = 10;
    std::string schemas = RTCRM_SOURCE_DIR "/examples/schemas";
    bool no_validation = false;
    std::string scripts;
    std::vector<std::string> add_scripts;
    std::uint64_t emit_every = 100;
    std::string scenario = "bob";
    std::string store = "memory";
    std::string store_path;
    bool store_no_sync = false;
    bool keep_heap = false;
    std::string source = "generator";
    std::string brokers;
    po::options_description desc(
        "rtcrm-bench: end-to-end throughput and latency of the runtime.\n"
        "\n"
        "  generator (flat out or --rate) -> key scan and routing (source thread) -> per shard: parse,\n"
        "  validation, profiles, [Lua handlers], emitter, latency recorder -> null sinks.\n"
        "\n"
        "Prints one JSON object on stdout, the runtime's summary on stderr.\n"
        "events_per_s: events read / wall time from start() to the end of the drain.\n"
        "latency_us: per event, from the moment its record reached the runtime (the\n"
        "  source's poll returned it) to the end of the shard bolts, i.e. the hand-off of\n"
        "  its outputs to the sinks (sink delivery itself is not included). Covers the\n"
        "  source thread, the router queues, parsing, validation and the bolts.\n"
        "latency_from_parse_us: the same end, from event::ingest_ns(), which the runtime\n"
        "  stamps when a shard parses the record (no source thread, no queue wait).\n"
        "queued_us: from the record reaching the runtime to its parse on the shard\n"
        "  (source thread, router queue, waiting for the shard to wake or finish a batch).\n"
        "\n"
        "--source kafka: the generated events go to a Kafka topic first (an in-process mock\n"
        "  cluster unless --brokers), then a bare librdkafka consume+produce loop and rtcrm's\n"
        "  Kafka path (kafka_source -> shards -> an echo bolt -> kafka_sink) each move them\n"
        "  to another topic; both rates are printed (from the first message read to the last\n"
        "  delivery).\n"
        "\nOptions");
    desc.add_options()("help,h", "show this help")
        ("source", po::value(&source)->default_value(source), "generator | kafka")
        ("brokers", po::value(&brokers), "--source kafka: an external cluster instead of the mock")
        ("events", po::value(&events)->default_value(events), "events to generate (> 0)")
        ("players", po::value(&players)->default_value(players), "distinct players (Zipf activity)")
        ("seed", po::value(&seed)->default_value(seed), "generator seed")
        ("rate", po::value(&rate)->default_value(rate),
         "events per second from the generator; 0: flat out (then the queues fill and latency is mostly queueing)")
        ("scenario", po::value(&scenario)->default_value(scenario), "generator scenario: bob | \"\"")
        ("shards", po::value(&shards)->default_value(shards), "shard threads")
        ("batch", po::value(&batch)->default_value(batch), "records per poll / events per queue hand-off")
        ("flush-interval", po::value(&flush_ms)->default_value(flush_ms),
         "runtime flush_interval in ms (sink flushes, bolt ticks; the longest a shard sleeps when idle)")
        ("schemas", po::value(&schemas)->default_value(schemas), "JSON Schema directory")
        ("no-validation", po::bool_switch(&no_validation), "skip schema validation")
        ("scripts", po::value(&scripts), "Lua handler directory (e.g. lua/examples); none by default")
        ("add-script", po::value(&add_scripts)->composing(),
         "one more Lua script file loaded next to --scripts (repeatable), e.g. benchmarks/scripts/hostile.lua")
        ("emit-every", po::value(&emit_every)->default_value(emit_every),
         "emit one output on stream main per this many events of a shard; 0: none")
        ("store", po::value(&store)->default_value(store), "profile store: memory | lmdb")
        ("store-path", po::value(&store_path), "LMDB directory (--store lmdb); emptied first")
        ("store-no-sync", po::bool_switch(&store_no_sync), "LMDB without fsync per group commit")
        ("keep-heap", po::bool_switch(&keep_heap),
         "tell glibc malloc not to trim and regrow its heap (records are allocated on the source thread and "
         "freed on the shards); a host's allocator choice, not the library's");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, desc), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        std::cerr << "rtcrm-bench: " << e.what() << "\n\n" << desc << '\n';
        return 2;
    }
    if (vm.count("help") != 0U) {
        std::cout << desc << '\n';
        return 0;
    }
    if (events == 0 || shards == 0) {
        std::cerr << "rtcrm-bench: --events and --shards must be > 0\n";
        return 2;
    }
    if (store != "memory" && (store != "lmdb" || store_path.empty())) {
        std::cerr << "rtcrm-bench: --store memory, or --store lmdb --store-path DIR\n";
        return 2;
    }
    if (source == "kafka") {
        try {
            // The mock cluster keeps ~5 MiB per partition: the generator's default is too much.
            const auto kafka_events = vm["events"].defaulted() ? std::uint64_t{100'000} : events;
            return rtcrm::bench::run_kafka_bench({.events = kafka_events, .players = players, .seed = seed, .scenario = scenario,
                                                  .shards = shards, .batch = batch,
                                                  .schemas = no_validation ? std::string{} : schemas,
                                                  .scripts = scripts, .brokers = brokers});
        } catch (const std::exception& e) {
            std::cerr << "rtcrm-bench: " << e.what() << '\n';
            return 1;
        }
    }
    if (source != "generator") {
        std::cerr << "rtcrm-bench: --source generator | kafka\n";
        return 2;
    }
    if (keep_heap) {
        mallopt(M_TRIM_THRESHOLD, 512 << 20);
        mallopt(M_TOP_PAD, 64 << 20);
    }

    try {
        std::vector<shard_latency> latency(shards);
        auto src = std::make_unique<stamped_source>(
            rtcrm::generator_options{.events = events, .players = players, .seed = seed, .rate = rate, .scenario = scenario});
        const stamped_source& stamps = *src;
        auto main_sink = std::make_shared<null_sink>("main");
        auto dead_sink = std::make_shared<null_sink>("dead_letter", 3);
        std::shared_ptr<rtcrm::lua_engine> engine;
        std::shared_ptr<rtcrm::profile_store> profiles;
        if (store == "lmdb") {
            std::filesystem::remove_all(store_path);  // a fresh store: the run measures inserts and updates
            profiles = std::make_shared<rtcrm::lmdb_store>(rtcrm::lmdb_options{.path = store_path, .sync = !store_no_sync});
        } else {
            profiles = std::make_shared<rtcrm::memory_store>();
        }

        rtcrm::topology t;
        t.add_source(std::move(src));
        if (!no_validation) {
            t.add_ingest_bolt(rtcrm::validation_bolt::factory({.schema_dir = schemas}));
        }
        if (!scripts.empty() || !add_scripts.empty()) {
            engine = std::make_shared<rtcrm::lua_engine>(rtcrm::lua_options{.script_dir = scripts});
            for (const auto& path : add_scripts) {
                std::ifstream in(path, std::ios::binary);
                if (!in) {
                    throw std::runtime_error("cannot read " + path);
                }
                std::ostringstream text;
                text << in.rdbuf();
                const auto name = std::filesystem::path(path).filename().string();
                if (auto r = engine->put_script({name, text.str()}); !r) {
                    throw std::runtime_error(r.error().reason);
                }
            }
            t.add_shard_bolt(engine->make_bolt_factory());
        }
        if (emit_every > 0) {
            t.add_shard_bolt([emit_every](const rtcrm::bolt_placement&) { return std::make_unique<emitter_bolt>(emit_every); });
        }
        t.add_shard_bolt([&](const rtcrm::bolt_placement& where) {
             return std::make_unique<latency_bolt>(latency[where.worker], stamps);
         })
            .add_sink(rtcrm::stream::main, main_sink)
            .add_sink(rtcrm::stream::shadow, std::make_shared<null_sink>("shadow"))
            .add_sink(rtcrm::stream::dead_letter, dead_sink)
            .with_store(profiles)
            .with_options({.shards = shards,
                           .batch_size = batch,
                           .flush_interval = std::chrono::milliseconds(flush_ms)});

        rtcrm::runtime rt{std::move(t)};
        const auto start = std::chrono::steady_clock::now();
        rt.run();
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

        latency_histogram from_poll;
        latency_histogram from_parse;
        latency_histogram queued;
        for (const auto& l : latency) {
            from_poll.merge(l.from_poll);
            from_parse.merge(l.from_parse);
            queued.merge(l.queued);
        }
        const auto stats = rt.stats();
        std::cerr << "rtcrm-bench: " << stats.summary() << '\n';
        fmt::print(R"({{"events":{},"seconds":{:.3f},"events_per_s":{:.0f},"rate":{:.0f},"shards":{},"store":"{}","validation":{},)"
                   R"("lua":{},"latency_us":{},"latency_from_parse_us":{},"queued_us":{},"dead_lettered":{},"processed":{},)"
                   R"("outputs":{},"delivered":{}}})"
                   "\n",
                   stats.events_in, seconds, static_cast<double>(stats.events_in) / seconds, rate, shards,
                   store == "lmdb" && store_no_sync ? "lmdb-nosync" : store, !no_validation, !scripts.empty(),
                   percentiles(from_poll), percentiles(from_parse), percentiles(queued), stats.dead_lettered, stats.processed,
                   stats.outputs[static_cast<std::size_t>(rtcrm::stream::main)], main_sink->count());
        // Every event read must have ended somewhere, and every one was read.
        const bool complete = stats.events_in == events &&
                              stats.processed + stats.dropped + stats.dead_lettered + stats.replayed == stats.events_in &&
                              stats.nacked == 0;
        return complete ? 0 : 1;
    } catch (const std::exception& e) {
        std::cerr << "rtcrm-bench: " << e.what() << '\n';
        return 1;
    }
}
