// rtcrm-embed-bench: in-process submit → trigger on the host's libuv loop.
//
// A host thread submits fight events with `runtime::submit` (built with event_builder);
// a Lua updater and a campaign that fires on every fight run on the shards; the trigger
// reaches a libuv loop thread through the uv bridge. Latency per event: from the submit
// call to the loop thread's handler (the submit time travels in the event id, which the
// trigger carries back).
//
// Phase 1 finds the most events/s this path sustains (flat out, submitting with a
// timeout). Phase 2 runs a fresh runtime at `--load` (default 0.5) of that rate, paced,
// and reports latency quantiles (after a warm-up second). `--rate` sets phase 2's rate
// instead and skips phase 1, to compare builds at the same offered load.
//
// Prints one JSON object on stdout, with the two hops of the latency (submit → the shard
// parses the event, then → the loop's handler). `--sched-stats` adds each thread's CPU and
// run-queue wait in phase 2 on stderr (Linux), to see where waiting for a core goes.
// `--policy batch|fifo` runs the host thread, the loop thread and the shards under that
// scheduling policy (rtcrm/core/thread_scheduling.hpp); the latency tail depends on it most.
#include <rtcrm/core/event_builder.hpp>
#include <rtcrm/core/runtime.hpp>
#include <rtcrm/core/thread_scheduling.hpp>
#include <rtcrm/lua/lua_engine.hpp>
#include <rtcrm/uv/uv_bridge.hpp>

#include "floor_pipeline.hpp"
#include "latency_histogram.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <rapidjson/document.h>
#include <uv.h>
#include <boost/program_options.hpp>

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>
#include <vector>

namespace po = boost::program_options;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr const char* script = R"(
crm.updater{ id = "fights", on = "fight", fn = function(e, p) p:incr("fights") end }
crm.campaign{ id = "every-fight", on = "fight", content = { offer = "x" } }
)";

struct settings {
    std::uint32_t shards = 2;
    double seconds = 5;
    double load = 0.5;
    double rate = 0;  // events/s for phase 2; 0: `load` of phase 1's rate
    std::int64_t players = 10'000;
    bool defer_write_back = false;
    bool sched_stats = false;
    // The floor instead of the runtime (floor_pipeline.hpp), spending this CPU per event.
    bool floor = false;
    std::int64_t floor_work_ns = 0;
    // For every pipeline thread: the host's, the loop's and the shards' (or the floor's
    // workers). thread_scheduling.hpp says why.
    rtcrm::thread_scheduling scheduling;
};

// Per thread of this process: name → {ns on a CPU, ns runnable but waiting for one, times
// scheduled}, from /proc/self/task/*/schedstat (Linux). Where run-queue waiting goes.
struct thread_sched {
    std::string name;
    std::uint64_t run_ns = 0, wait_ns = 0, slices = 0;
};
std::map<long, thread_sched> sched_snapshot() {
    std::map<long, thread_sched> out;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
        std::ifstream comm(entry.path() / "comm");
        std::ifstream stat(entry.path() / "schedstat");
        thread_sched t;
        if (std::getline(comm, t.name) && (stat >> t.run_ns >> t.wait_ns >> t.slices)) {
            out[std::stol(entry.path().filename().string())] = t;
        }
    }
    return out;
}
void print_sched(const std::map<long, thread_sched>& before, const std::map<long, thread_sched>& after,
                 double seconds) {
    fmt::print(stderr, "per thread over {:.1f} s of phase 2: cpu %, run-queue wait %, wait per slice us, slices/s\n",
               seconds);
    for (const auto& [tid, a] : after) {
        const auto it = before.find(tid);
        if (it == before.end()) {
            continue;
        }
        const auto& b = it->second;
        const double run = static_cast<double>(a.run_ns - b.run_ns), wait = static_cast<double>(a.wait_ns - b.wait_ns);
        const double slices = static_cast<double>(a.slices - b.slices);
        fmt::print(stderr, "  {:<16} {:5.1f} {:5.1f} {:7.1f} {:8.0f}\n", a.name, run / seconds / 1e7,
                   wait / seconds / 1e7, slices > 0 ? wait / slices / 1e3 : 0.0, slices / seconds);
    }
}

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch()).count();
}

struct run_result {
    double rate = 0;                          // triggers delivered per second
    rtcrm::bench::latency_histogram latency;  // ns, after the warm-up
    // The two hops of `latency`: submit → the shard parses the event (its ingest time),
    // and the shard's parse → the loop thread's handler.
    rtcrm::bench::latency_histogram to_shard;
    rtcrm::bench::latency_histogram to_loop;
    // `latency` per second of the measured part, by submit time: one stall of the machine
    // (this VM's vCPUs sometimes stop for ~100 ms) sets the whole run's p99 but only one
    // second's, so the median second's p99 shows the pipeline's own tail.
    std::vector<rtcrm::bench::latency_histogram> by_second;
    std::uint64_t refused = 0;
};

// One runtime, a loop thread, and a host thread submitting at `rate` events/s (0: flat out)
// for `seconds`.
run_result run(const settings& s, double rate) {
    uv_loop_t loop;
    uv_loop_init(&loop);
    run_result r;
    std::atomic<std::uint64_t> delivered{0};
    std::int64_t measure_from = 0;  // written before the host starts
    std::int64_t first_ns = 0, last_ns = 0;
    auto bridge = std::make_shared<rtcrm::uv_bridge>(&loop, [&](rtcrm::output& out) {
        const auto t = now_ns();
        // The event id holds the submit time: "t<ns>".
        const auto at = out.body.find(R"("event_id":"t)");
        std::int64_t submitted = 0;
        if (at != std::string::npos) {
            const char* p = out.body.data() + at + 13;
            std::from_chars(p, out.body.data() + out.body.size(), submitted);
        }
        if (submitted >= measure_from) {
            r.latency.record(static_cast<std::uint64_t>(t - submitted));
            const auto second = static_cast<std::size_t>((submitted - measure_from) / 1'000'000'000LL);
            if (second >= r.by_second.size()) {
                r.by_second.resize(second + 1);
            }
            r.by_second[second].record(static_cast<std::uint64_t>(t - submitted));
            r.to_shard.record(static_cast<std::uint64_t>(std::max<std::int64_t>(out.ingest_ns - submitted, 0)));
            r.to_loop.record(static_cast<std::uint64_t>(std::max<std::int64_t>(t - out.ingest_ns, 0)));
        }
        if (first_ns == 0) {
            first_ns = t;
        }
        last_ns = t;
        delivered.fetch_add(1, std::memory_order_relaxed);
    });
    auto engine = std::make_shared<rtcrm::lua_engine>(rtcrm::lua_options{});
    if (auto loaded = engine->put_script({"bench.lua", script}); !loaded) {
        throw std::runtime_error(loaded.error().reason);
    }
    std::unique_ptr<rtcrm::bench::floor_pipeline> floor;
    std::unique_ptr<rtcrm::runtime> rt;
    if (s.floor) {
        floor =
            std::make_unique<rtcrm::bench::floor_pipeline>(s.shards, std::chrono::nanoseconds(s.floor_work_ns), bridge, s.scheduling);
    } else {
        rtcrm::topology t;
        t.add_shard_bolt(engine->make_bolt_factory())
            .add_sink(rtcrm::stream::main, bridge)
            .with_options({.shards = s.shards, .submit_capacity = 65536, .shard_scheduling = s.scheduling});
        if (s.defer_write_back) {
            // No write-back to the (volatile) memory store during the run: isolates the cost
            // of copying profiles into it on the shard threads.
            auto o = t.options();
            o.store_interval = std::chrono::hours(1);
            o.store_max_batch = std::size_t{1} << 30;
            t.with_options(o);
        }
        rt = std::make_unique<rtcrm::runtime>(std::move(t));
        rt->start();
    }

    std::atomic<bool> host_done{false};
    std::uint64_t submitted_total = 0;
    measure_from = now_ns() + 1'000'000'000LL;  // the first second warms up
    std::thread host([&] {
        pthread_setname_np(pthread_self(), "host");
        rtcrm::apply_to_this_thread(s.scheduling);
        const auto start = clock_type::now();
        const auto end =
            start + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(s.seconds));
        const double interval_ns = rate > 0 ? 1e9 / rate : 0;
        rtcrm::event_builder b;
        for (std::uint64_t i = 0;; ++i) {
            auto now = clock_type::now();
            if (now >= end) {
                break;
            }
            if (interval_ns > 0) {
                const auto due =
                    start + std::chrono::nanoseconds(static_cast<std::int64_t>(static_cast<double>(i) * interval_ns));
                // Sleep when ahead, never spin: a host thread does other work too, and a
                // spinning pacer would take a core from the pipeline. After a sleep the
                // events that fell due meanwhile go in as a burst, as a network read would.
                if (due - now > std::chrono::microseconds(50)) {
                    std::this_thread::sleep_until(due);
                    now = clock_type::now();
                }
            }
            const auto player = static_cast<std::int64_t>(i % static_cast<std::uint64_t>(s.players)) + 1;
            auto rec = b.player(player)
                           .type("fight")
                           .ts(1'763'800'000'000 + static_cast<std::int64_t>(i))
                           .id(fmt::format("t{}", now_ns()))
                           .field("result", "loss")
                           .build();
            if (floor) {
                floor->submit(player, rec);
            } else if (rt->submit(rec, std::chrono::seconds(1)) != rtcrm::submit_status::accepted) {
                ++r.refused;
            }
            ++submitted_total;
        }
        host_done.store(true);
    });
    // The loop runs on this thread until the host is done and everything arrived.
    uv_timer_t check;
    uv_timer_init(&loop, &check);
    struct ctx {
        std::atomic<bool>* host_done;
        std::atomic<std::uint64_t>* delivered;
        std::uint64_t* submitted;
        std::uint64_t* refused;
        rtcrm::uv_bridge* bridge;
        rtcrm::runtime* rt;
        rtcrm::bench::floor_pipeline* floor;
    } c{&host_done, &delivered, &submitted_total, &r.refused, bridge.get(), rt.get(), floor.get()};
    check.data = &c;
    // Scheduler figures over the measured part (after the warm-up second, before the end).
    uv_timer_t sched_probe;
    struct probe_ctx {
        int step = 0;
        std::map<long, thread_sched> before;
        clock_type::time_point at;
    } probe;
    if (s.sched_stats && rate > 0 && s.seconds > 2) {
        uv_timer_init(&loop, &sched_probe);
        sched_probe.data = &probe;
        const auto span_ms = static_cast<std::uint64_t>((s.seconds - 1.5) * 1000);
        uv_timer_start(
            &sched_probe,
            [](uv_timer_t* timer) {
                auto* p = static_cast<probe_ctx*>(timer->data);
                if (p->step++ == 0) {
                    p->before = sched_snapshot();
                    p->at = clock_type::now();
                    return;
                }
                print_sched(p->before, sched_snapshot(),
                            std::chrono::duration<double>(clock_type::now() - p->at).count());
                uv_timer_stop(timer);
                uv_close(reinterpret_cast<uv_handle_t*>(timer), nullptr);
            },
            1000, span_ms);
    }
    uv_timer_start(
        &check,
        [](uv_timer_t* timer) {
            auto* x = static_cast<ctx*>(timer->data);
            if (x->host_done->load() && x->delivered->load() >= *x->submitted - *x->refused) {
                uv_timer_stop(timer);
                uv_close(reinterpret_cast<uv_handle_t*>(timer), nullptr);
                if (x->floor != nullptr) {
                    x->floor->stop();  // the workers are idle: everything arrived
                    x->bridge->shutdown();
                } else {
                    x->bridge->stop_runtime(*x->rt);
                }
            }
        },
        10, 10);
    pthread_setname_np(pthread_self(), "loop");  // its scheduling was set in main()
    uv_run(&loop, UV_RUN_DEFAULT);
    host.join();
    uv_loop_close(&loop);
    r.rate = last_ns > first_ns
                 ? static_cast<double>(delivered.load()) / (static_cast<double>(last_ns - first_ns) / 1e9)
                 : 0;
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    settings s;
    std::string policy = "inherit";
    po::options_description desc("rtcrm-embed-bench: submit → trigger on a libuv loop\n\nOptions");
    // clang-format off
    desc.add_options()("help,h", "show this help")
        ("shards", po::value(&s.shards)->default_value(s.shards), "shard threads")
        ("seconds", po::value(&s.seconds)->default_value(s.seconds), "length of each phase")
        ("load", po::value(&s.load)->default_value(s.load), "phase 2 rate as a fraction of phase 1's")
        ("rate", po::value(&s.rate), "phase 2 rate in events/s instead (no phase 1): compares builds at the same offered load")
        ("players", po::value(&s.players)->default_value(s.players), "distinct players")
        ("defer-write-back", po::bool_switch(&s.defer_write_back), "no write-back to the memory store during the run (isolates its cost)")
        ("sched-stats", po::bool_switch(&s.sched_stats), "print each thread's CPU and run-queue wait in phase 2 on stderr (Linux)")
        ("floor", po::bool_switch(&s.floor), "run the floor instead of rtcrm: the same threads and hand-offs, no rtcrm work (floor_pipeline.hpp)")
        ("floor-work-ns", po::value(&s.floor_work_ns)->default_value(s.floor_work_ns), "with --floor: CPU work per event by a worker, in ns")
        ("policy", po::value(&policy)->default_value(policy), "scheduling of the host, loop and shard threads: inherit | batch | fifo (thread_scheduling.hpp)")
        ("priority", po::value(&s.scheduling.priority)->default_value(s.scheduling.priority), "with --policy fifo: its priority, 1-99");
    // clang-format on
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
    if (vm.count("help") != 0U) {
        std::cout << desc << '\n';
        return 0;
    }
    if (const auto p = rtcrm::parse_thread_policy(policy)) {
        s.scheduling.policy = *p;
    } else {
        fmt::print(stderr, "--policy: unknown policy \"{}\" (inherit | batch | fifo)\n", policy);
        return 2;
    }
    run_result max, paced;
    double paced_rate = s.rate;
    try {
        // This thread runs the loop of both phases: its scheduling is set once, here, which
        // also makes a refused policy one message.
        rtcrm::apply_to_this_thread(s.scheduling);
        if (s.rate <= 0) {
            max = run(s, 0);
            paced_rate = max.rate * s.load;
        }
        paced = run(s, paced_rate);
    } catch (const std::exception& e) {
        fmt::print(stderr, "rtcrm-embed-bench: {}\n", e.what());
        return 1;
    }
    auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
    // Whole seconds only (the last one may be cut short by the end of the run).
    std::vector<double> p99_by_second;
    for (const auto& h : paced.by_second) {
        if (h.count() * 2 >= paced.latency.count() / std::max<std::size_t>(paced.by_second.size(), 1)) {
            p99_by_second.push_back(us(h.quantile(0.99)));
        }
    }
    auto sorted = p99_by_second;
    std::sort(sorted.begin(), sorted.end());
    const double median_second_p99 = sorted.empty() ? 0 : sorted[sorted.size() / 2];
    fmt::print(
        R"({{"shards":{},"policy":"{}","max_events_per_s":{:.0f},"paced_events_per_s":{:.0f},"delivered_per_s":{:.0f},"measured":{},)"
        R"("refused":{},"latency_us":{{"p50":{:.1f},"p99":{:.1f},"p999":{:.1f},"max":{:.1f}}},)"
        R"("hops_p50_p99_us":{{"to_shard":[{:.1f},{:.1f}],"to_loop":[{:.1f},{:.1f}]}},)"
        R"("p99_by_second_us":[{:.0f}],"median_second_p99_us":{:.1f},)"
        R"("flat_out_latency_us":{{"p50":{:.1f},"p99":{:.1f}}}}})"
        "\n",
        s.shards, policy, max.rate, paced_rate, paced.rate, paced.latency.count(), paced.refused,
        us(paced.latency.quantile(0.5)), us(paced.latency.quantile(0.99)), us(paced.latency.quantile(0.999)),
        us(paced.latency.max()), us(paced.to_shard.quantile(0.5)), us(paced.to_shard.quantile(0.99)),
        us(paced.to_loop.quantile(0.5)), us(paced.to_loop.quantile(0.99)), fmt::join(p99_by_second, ","),
        median_second_p99, us(max.latency.quantile(0.5)), us(max.latency.quantile(0.99)));
    return 0;
}
