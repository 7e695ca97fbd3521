// rtcrm-gen: the synthetic game's events as a standalone binary: NDJSON on stdout (or a
// file), or produced to a Kafka topic keyed by player id (so one player's events share a
// partition and keep their order, as a game's producer would do).
//
//   rtcrm-gen --scenario bob --events 100000 > events.ndjson
//   rtcrm-gen --scenario bob --events 100000 --brokers HOST:PORT --topic raw [-X key=value]...
//
// The same options and seed give the same events as rtcrm-topology --source generator.
#include <rtcrm/core/event.hpp>
#include <rtcrm/core/generator_source.hpp>
#include <rtcrm/kafka/kafka_properties.hpp>

#include <librdkafka/rdkafka.h>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>

namespace po = boost::program_options;

namespace {

struct settings {
    rtcrm::generator_options gen;
    std::string output = "-";
    std::string brokers;
    std::string topic = "raw";
    std::vector<std::string> properties;
};

// Each generated record, in order, to `emit(record)`.
template <typename Emit>
std::uint64_t generate(const rtcrm::generator_options& options, Emit&& emit) {
    rtcrm::generator_source gen{options};
    std::vector<rtcrm::record> batch;
    std::uint64_t n = 0;
    for (;;) {
        batch.clear();
        const auto status = gen.poll(batch, 1024, std::chrono::milliseconds(100));
        for (auto& rec : batch) {
            emit(rec);
            ++n;
        }
        if (status == rtcrm::poll_status::end) {
            return n;
        }
    }
}

int to_ndjson(const settings& s) {
    std::FILE* out = s.output == "-" ? stdout : std::fopen(s.output.c_str(), "wb");
    if (out == nullptr) {
        fmt::print(stderr, "rtcrm-gen: cannot open {}: {}\n", s.output, std::strerror(errno));
        return 1;
    }
    const auto n = generate(s.gen, [&](const rtcrm::record& rec) {
        std::fwrite(rec.bytes.data(), 1, rec.bytes.size(), out);
        std::fputc('\n', out);
    });
    const bool ok = std::fflush(out) == 0 && !std::ferror(out);
    if (out != stdout) {
        std::fclose(out);
    }
    if (!ok) {
        fmt::print(stderr, "rtcrm-gen: writing {} failed\n", s.output);
        return 1;
    }
    fmt::print(stderr, "rtcrm-gen: wrote {} events\n", n);
    return 0;
}

int to_kafka(const settings& s) {
    rtcrm::kafka_properties props{{"linger.ms", "5"}, {"partitioner", "murmur2_random"}, {"enable.idempotence", "true"}};
    for (const auto& kv : s.properties) {
        rtcrm::set_property(props, kv);
    }
    props["bootstrap.servers"] = s.brokers;
    char reason[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    for (const auto& [key, value] : props) {
        if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), reason, sizeof reason) != RD_KAFKA_CONF_OK) {
            fmt::print(stderr, "rtcrm-gen: -X {}: {}\n", key, reason);
            rd_kafka_conf_destroy(conf);
            return 2;
        }
    }
    static std::atomic<std::uint64_t> failed{0};
    rd_kafka_conf_set_dr_msg_cb(conf, [](rd_kafka_t*, const rd_kafka_message_t* m, void*) {
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR && failed.fetch_add(1) == 0) {
            fmt::print(stderr, "rtcrm-gen: delivery failed: {}\n", rd_kafka_err2str(m->err));
        }
    });
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, reason, sizeof reason);
    if (rk == nullptr) {
        fmt::print(stderr, "rtcrm-gen: {}\n", reason);
        return 1;
    }
    const rtcrm::parse_options parse;
    std::uint64_t refused = 0;
    const auto n = generate(s.gen, [&](const rtcrm::record& rec) {
        auto ev = rtcrm::parse_event(std::string_view{rec.bytes}, parse);
        const auto key = ev ? std::string{ev->player().text()} : std::string{};
        for (;;) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"  // librdkafka's RD_KAFKA_V_* macros
            const auto err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(s.topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                               RD_KAFKA_V_KEY(key.data(), key.size()),
                                               RD_KAFKA_V_VALUE(const_cast<char*>(rec.bytes.data()), rec.bytes.size()),
                                               RD_KAFKA_V_END);
#pragma GCC diagnostic pop
            if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 10);  // wait for deliveries to make room
                continue;
            }
            if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                if (refused++ == 0) {
                    fmt::print(stderr, "rtcrm-gen: produce to {}: {}\n", s.topic, rd_kafka_err2str(err));
                }
            }
            break;
        }
        rd_kafka_poll(rk, 0);
    });
    const auto left = rd_kafka_flush(rk, 60'000);
    const auto undelivered = left == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : rd_kafka_outq_len(rk);
    rd_kafka_destroy(rk);
    const auto bad = failed.load() + refused + static_cast<std::uint64_t>(undelivered);
    fmt::print(stderr, "rtcrm-gen: produced {} events to {}{}\n", n - bad, s.topic,
               bad > 0 ? fmt::format(" ({} failed)", bad) : std::string{});
    return bad == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    settings s;
    po::options_description desc("rtcrm-gen: synthetic game events to NDJSON or a Kafka topic\n\nOptions");
    desc.add_options()
        ("help,h", "show this help")
        ("events", po::value(&s.gen.events)->default_value(s.gen.events), "events to generate")
        ("players", po::value(&s.gen.players)->default_value(s.gen.players), "distinct players")
        ("seed", po::value(&s.gen.seed)->default_value(s.gen.seed), "seed: same seed, same events")
        ("rate", po::value(&s.gen.rate)->default_value(s.gen.rate), "events per second; 0 = as fast as possible")
        ("zipf", po::value(&s.gen.zipf_s)->default_value(s.gen.zipf_s), "Zipf exponent of player activity")
        ("scenario", po::value(&s.gen.scenario), "scripted scenario mixed into the stream: bob")
        ("output", po::value(&s.output)->default_value(s.output), "NDJSON file, or - for stdout (without --brokers)")
        ("brokers", po::value(&s.brokers), "produce to Kafka at HOST:PORT[,...] instead of writing NDJSON")
        ("topic", po::value(&s.topic)->default_value(s.topic), "Kafka topic (with --brokers)")
        (",X", po::value(&s.properties)->composing(), "librdkafka producer property key=value (repeatable)");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, desc), vm);
        po::notify(vm);
        if (vm.count("help") != 0U) {
            std::cout << desc << '\n';
            return 0;
        }
        if (s.gen.events == 0) {
            throw std::invalid_argument("--events must be at least 1");
        }
        s.gen.validate();
    } catch (const std::exception& e) {
        fmt::print(stderr, "rtcrm-gen: {}\n{}", e.what(), (std::ostringstream{} << desc).str());
        return 2;
    }
    try {
        return s.brokers.empty() ? to_ndjson(s) : to_kafka(s);
    } catch (const std::exception& e) {
        fmt::print(stderr, "rtcrm-gen: {}\n", e.what());
        return 1;
    }
}
