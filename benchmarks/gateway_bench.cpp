// rtcrm-gateway-bench: the HTTP event gateway's throughput into the pipeline.
//
// A runtime with the gateway (validation on by default) and a null sink; `--clients`
// threads each keep one connection and POST NDJSON batches of `--batch` events back to
// back (blocking: send a request, read its answer). Counts the events the gateway
// accepted (202) per second of wall time; 503s are counted and retried. Prints one JSON
// object.
#include <rtcrm/core/generator_source.hpp>
#include <rtcrm/core/runtime.hpp>
#include <rtcrm/core/validation_bolt.hpp>
#include <rtcrm/http/gateway_source.hpp>

#include "../tests/support/tiny_http.hpp"

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include <atomic>
#include <iostream>
#include <thread>

namespace po = boost::program_options;

namespace {

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
    std::size_t batch = 100;
    unsigned clients = 4;
    unsigned io_threads = 1;
    std::uint32_t shards = 2;
    bool no_validation = false;
    po::options_description desc("rtcrm-gateway-bench: HTTP gateway throughput\n\nOptions");
    desc.add_options()("help,h", "show this help")
        ("events", po::value(&events)->default_value(events), "events to send in all")
        ("batch", po::value(&batch)->default_value(batch), "events per request (NDJSON)")
        ("clients", po::value(&clients)->default_value(clients), "client threads, one connection each")
        ("io-threads", po::value(&io_threads)->default_value(io_threads), "gateway I/O threads")
        ("shards", po::value(&shards)->default_value(shards), "shard threads")
        ("no-validation", po::bool_switch(&no_validation), "skip schema validation");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, desc), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        std::cerr << "rtcrm-gateway-bench: " << e.what() << '\n' << desc;
        return 2;
    }
    if (vm.count("help") != 0U) {
        std::cout << desc << '\n';
        return 0;
    }
    // The request bodies: generated events, `batch` lines each.
    std::vector<std::string> bodies;
    {
        rtcrm::generator_source gen{{.events = 100 * batch, .players = 100'000, .seed = 1}};
        std::vector<rtcrm::record> records;
        while (gen.poll(records, 4096, std::chrono::milliseconds(0)) == rtcrm::poll_status::more) {
        }
        for (std::size_t i = 0; i + batch <= records.size(); i += batch) {
            std::string body;
            for (std::size_t k = i; k < i + batch; ++k) {
                body += records[k].bytes;
                body += '\n';
            }
            bodies.push_back(rtcrm::testing::tiny_http::post("/events", body));
        }
    }
    auto src = std::make_unique<rtcrm::gateway_source>(rtcrm::gateway_options{.listen = "127.0.0.1:0", .threads = io_threads});
    auto* gateway = src.get();
    rtcrm::topology t;
    t.add_source(std::move(src)).add_sink(rtcrm::stream::main, std::make_shared<null_sink>())
        .add_sink(rtcrm::stream::dead_letter, std::make_shared<null_sink>()).with_options({.shards = shards});
    if (!no_validation) {
        t.add_ingest_bolt(rtcrm::validation_bolt::factory({.schema_dir = RTCRM_SOURCE_DIR "/examples/schemas"}));
    }
    rtcrm::runtime rt{std::move(t)};
    rt.start();
    const auto requests = events / batch;
    std::atomic<std::uint64_t> next{0};
    std::atomic<std::uint64_t> busy{0};
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (unsigned c = 0; c < clients; ++c) {
        threads.emplace_back([&] {
            rtcrm::testing::tiny_http client{gateway->port()};
            for (auto k = next.fetch_add(1); k < requests; k = next.fetch_add(1)) {
                for (;;) {
                    client.send_raw(bodies[k % bodies.size()]);
                    if (client.read_reply().status == 202) {
                        break;
                    }
                    busy.fetch_add(1);
                    std::this_thread::sleep_for(std::chrono::milliseconds(1));
                }
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    rt.stop();
    const auto stats = rt.stats();
    fmt::print(R"({{"events":{},"batch":{},"clients":{},"io_threads":{},"shards":{},"validation":{},"seconds":{:.3f},)"
               R"("events_per_s":{:.0f},"busy_503":{},"processed":{}}})"
               "\n",
               requests * batch, batch, clients, io_threads, shards, !no_validation, seconds,
               static_cast<double>(requests * batch) / seconds, busy.load(), stats.processed);
    return stats.processed == requests * batch ? 0 : 1;
}
