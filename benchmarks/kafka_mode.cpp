// rtcrm-bench --source kafka.
//
// The same generated events are produced once to `raw` (16 partitions, keyed by player;
// not timed). Then, in the same run, against the same cluster:
//   bare:  one librdkafka KafkaConsumer (its own group) reads every message of `raw` and
//          produces its value to `bare_out` keyed by its key (linger.ms=5), committing
//          every second; done when every produced message is delivered.
//   rtcrm: kafka_source → runtime (validation, Lua handlers if asked) → an echo bolt that
//          emits each event → kafka_sink to `rtcrm_out`; done when every event is
//          processed and its output delivered (acks follow the deliveries).
// Each is timed from its first message read to its last delivery, so the group join
// (~3 s on the mock cluster) is left out of both.
#include "kafka_mode.hpp"

#include <rtcrm/core/generator_source.hpp>
#include <rtcrm/core/runtime.hpp>
#include <rtcrm/core/validation_bolt.hpp>
#include <rtcrm/kafka/kafka_sink.hpp>
#include <rtcrm/kafka/kafka_source.hpp>
#include <rtcrm/lua/lua_engine.hpp>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

namespace rtcrm::bench {

namespace {

using clock = std::chrono::steady_clock;

// Gives up when `progress` stops moving for 30 s (e.g. the mock cluster dropped old data:
// it keeps ~5 MiB per partition).
class stall_guard {
public:
    explicit stall_guard(const char* what) : what_(what) {}
    void check(std::uint64_t progress) {
        const auto now = clock::now();
        if (progress != last_) {
            last_ = progress;
            since_ = now;
        } else if (now - since_ > std::chrono::seconds(30)) {
            throw std::runtime_error(fmt::format("{}: stuck at {} for 30 s (fewer --events for the mock cluster?)", what_, progress));
        }
    }

private:
    const char* what_;
    std::uint64_t last_ = ~0ULL;
    clock::time_point since_ = clock::now();
};

rd_kafka_t* client(rd_kafka_type_t type, const std::vector<std::pair<const char*, std::string>>& props) {
    char reason[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    for (const auto& [key, value] : props) {
        if (rd_kafka_conf_set(conf, key, value.c_str(), reason, sizeof reason) != RD_KAFKA_CONF_OK) {
            throw std::runtime_error(fmt::format("{}: {}", key, reason));
        }
    }
    rd_kafka_t* rk = rd_kafka_new(type, conf, reason, sizeof reason);
    if (rk == nullptr) {
        throw std::runtime_error(reason);
    }
    return rk;
}

// Produces one message; waits while librdkafka's queue is full.
void produce(rd_kafka_t* rk, const char* topic, const void* key, std::size_t key_len, const void* value, std::size_t len) {
    for (;;) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"  // librdkafka's RD_KAFKA_V_* macros
        const auto err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_KEY(const_cast<void*>(key), key_len),
                                           RD_KAFKA_V_VALUE(const_cast<void*>(value), len), RD_KAFKA_V_END);
#pragma GCC diagnostic pop
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            return;
        }
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            throw std::runtime_error(rd_kafka_err2str(err));
        }
        rd_kafka_poll(rk, 5);
    }
}

void fill_raw(const std::string& brokers, const kafka_bench_config& c) {
    rd_kafka_t* rk = client(RD_KAFKA_PRODUCER, {{"bootstrap.servers", brokers}, {"linger.ms", "5"}, {"partitioner", "murmur2_random"}});
    rtcrm::generator_source gen{{.events = c.events, .players = c.players, .seed = c.seed, .scenario = c.scenario}};
    std::vector<rtcrm::record> batch;
    const rtcrm::parse_options parse;
    for (auto more = true; more;) {
        batch.clear();
        more = gen.poll(batch, 1024, std::chrono::milliseconds(0)) == rtcrm::poll_status::more;
        for (const auto& rec : batch) {
            const auto ev = rtcrm::parse_event(std::string_view{rec.bytes}, parse);
            const auto key = ev ? std::string{ev->player().text()} : std::string{};
            produce(rk, "raw", key.data(), key.size(), rec.bytes.data(), rec.bytes.size());
        }
        rd_kafka_poll(rk, 0);
    }
    const auto err = rd_kafka_flush(rk, 120'000);
    rd_kafka_destroy(rk);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        throw std::runtime_error("filling raw: not every message was delivered");
    }
}

struct timing {
    double seconds = 0;
    std::uint64_t messages = 0;
};

timing bare_loop(const std::string& brokers, std::uint64_t expect) {
    static std::atomic<std::uint64_t> delivered{0};
    delivered = 0;
    rd_kafka_t* consumer = client(RD_KAFKA_CONSUMER, {{"bootstrap.servers", brokers},
                                                      {"group.id", "bench-bare"},
                                                      {"auto.offset.reset", "earliest"},
                                                      {"enable.auto.commit", "false"}});
    char reason[512];
    rd_kafka_conf_t* pconf = rd_kafka_conf_new();
    rd_kafka_conf_set(pconf, "bootstrap.servers", brokers.c_str(), reason, sizeof reason);
    rd_kafka_conf_set(pconf, "linger.ms", "5", reason, sizeof reason);
    rd_kafka_conf_set(pconf, "enable.idempotence", "true", reason, sizeof reason);
    rd_kafka_conf_set_dr_msg_cb(pconf, [](rd_kafka_t*, const rd_kafka_message_t* m, void*) {
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            delivered.fetch_add(1, std::memory_order_relaxed);
        }
    });
    rd_kafka_t* producer = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, reason, sizeof reason);
    rd_kafka_poll_set_consumer(consumer);
    rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, "raw", RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);

    std::uint64_t read = 0;
    stall_guard reading{"bare loop, reading"};
    clock::time_point first{};
    auto next_commit = clock::now() + std::chrono::seconds(1);
    while (read < expect) {
        rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer, 100);
        reading.check(read);
        if (m == nullptr) {
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (read++ == 0) {
                first = clock::now();
            }
            produce(producer, "bare_out", m->key, m->key_len, m->payload, m->len);
            rd_kafka_poll(producer, 0);
        }
        rd_kafka_message_destroy(m);
        if (clock::now() >= next_commit) {
            rd_kafka_commit(consumer, nullptr, 1);
            next_commit = clock::now() + std::chrono::seconds(1);
        }
    }
    rd_kafka_flush(producer, 120'000);
    stall_guard delivering{"bare loop, delivering"};
    while (delivered.load() < expect) {
        rd_kafka_poll(producer, 10);
        delivering.check(delivered.load());
    }
    const double seconds = std::chrono::duration<double>(clock::now() - first).count();
    rd_kafka_commit(consumer, nullptr, 0);
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    rd_kafka_destroy(producer);
    return {seconds, read};
}

// Emits each event's bytes on main, so rtcrm produces one message per message read, as
// the bare loop does.
class echo_bolt final : public rtcrm::bolt {
public:
    [[nodiscard]] std::string_view name() const noexcept override { return "echo"; }
    void process(std::span<rtcrm::event> batch, rtcrm::bolt_context& ctx) override {
        for (auto& ev : batch) {
            ctx.emit(ev, rtcrm::stream::main, std::string{ev.raw()});
        }
    }
};

timing rtcrm_path(const std::string& brokers, const kafka_bench_config& c, std::string& summary) {
    auto out = std::make_shared<rtcrm::kafka_sink>(rtcrm::kafka_sink_options{.brokers = brokers, .topic = "rtcrm_out"});
    rtcrm::topology t;
    t.add_source(std::make_unique<rtcrm::kafka_source>(
        rtcrm::kafka_source_options{.brokers = brokers, .topic = "raw", .group = "bench-rtcrm", .start = rtcrm::kafka_start::earliest}));
    if (!c.schemas.empty()) {
        t.add_ingest_bolt(rtcrm::validation_bolt::factory({.schema_dir = c.schemas}));
    }
    std::shared_ptr<rtcrm::lua_engine> engine;
    if (!c.scripts.empty()) {
        engine = std::make_shared<rtcrm::lua_engine>(rtcrm::lua_options{.script_dir = c.scripts});
        t.add_shard_bolt(engine->make_bolt_factory());
    }
    t.add_shard_bolt([](const rtcrm::bolt_placement&) { return std::make_unique<echo_bolt>(); })
        .add_sink(rtcrm::stream::main, out)
        .with_options({.shards = c.shards, .batch_size = c.batch});
    rtcrm::runtime rt{std::move(t)};
    rt.start();
    stall_guard starting{"rtcrm, joining"};
    while (rt.stats().events_in == 0) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        starting.check(0);
    }
    const auto first = clock::now();
    stall_guard moving{"rtcrm, moving"};
    while (out->stats().delivered + out->stats().failed < c.events) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        moving.check(out->stats().delivered + out->stats().failed);
    }
    const double seconds = std::chrono::duration<double>(clock::now() - first).count();
    rt.stop();
    const auto stats = rt.stats();
    summary = stats.summary();
    return {seconds, stats.events_in};
}

}  // namespace

int run_kafka_bench(const kafka_bench_config& c) {
    rd_kafka_t* owner = nullptr;
    rd_kafka_mock_cluster_t* cluster = nullptr;
    std::string brokers = c.brokers;
    if (brokers.empty()) {
        owner = client(RD_KAFKA_PRODUCER, {{"log_level", "4"}});
        cluster = rd_kafka_mock_cluster_new(owner, 3);
        for (const char* topic : {"raw", "bare_out", "rtcrm_out"}) {
            rd_kafka_mock_topic_create(cluster, topic, c.partitions, 1);
        }
        brokers = rd_kafka_mock_cluster_bootstraps(cluster);
    }
    fill_raw(brokers, c);
    const auto bare = bare_loop(brokers, c.events);
    std::string summary;
    const auto ours = rtcrm_path(brokers, c, summary);
    fmt::print(stderr, "rtcrm-bench: {}\n", summary);
    const double bare_rate = static_cast<double>(bare.messages) / bare.seconds;
    const double our_rate = static_cast<double>(ours.messages) / ours.seconds;
    fmt::print(R"({{"source":"kafka","cluster":"{}","events":{},"partitions":{},"shards":{},"validation":{},"lua":{},)"
               R"("bare":{{"seconds":{:.3f},"events_per_s":{:.0f}}},"rtcrm":{{"seconds":{:.3f},"events_per_s":{:.0f}}},"ratio":{:.2f}}})"
               "\n",
               c.brokers.empty() ? "mock" : "external", c.events, c.partitions, c.shards, !c.schemas.empty(), !c.scripts.empty(),
               bare.seconds, bare_rate, ours.seconds, our_rate, our_rate / bare_rate);
    if (cluster != nullptr) {
        rd_kafka_mock_cluster_destroy(cluster);
        rd_kafka_destroy(owner);
    }
    return ours.messages == c.events ? 0 : 1;
}

}  // namespace rtcrm::bench
