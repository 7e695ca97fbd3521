// rtcrm-kafka-dev: a Kafka cluster for trying the Kafka path on a machine without a
// broker. It runs librdkafka's built-in mock cluster (the real Kafka protocol on
// loopback, data in memory), creates the topics, prints the bootstrap address as its
// first line on stdout, and runs until SIGINT or SIGTERM.
//
//   rtcrm-kafka-dev [--brokers 3] [--topic NAME:PARTITIONS]...
//
// Default topics: raw:16, crm_trigger:8, maintenance:1, crm_dead_letter:1, crm_handlers:1.
// Caveats (librdkafka 2.0.2's mock): it keeps only ~5 MiB per partition and drops older
// data silently; a consumer group's first join takes ~3 s; commits are refused while a
// group rebalances; transactions are not emulated.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <pthread.h>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace po = boost::program_options;

namespace {

constexpr int status_after_timeout = 0;  // stopping was asked for; a slow teardown is no failure

struct topic_spec {
    std::string name;
    int partitions = 1;
};

// "NAME:PARTITIONS" → spec; throws std::invalid_argument with the reason.
topic_spec parse_topic(const std::string& text) {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) {
        throw std::invalid_argument(fmt::format("--topic '{}': expected NAME:PARTITIONS", text));
    }
    topic_spec t{text.substr(0, colon), 0};
    const char* first = text.data() + colon + 1;
    const char* last = text.data() + text.size();
    const auto [end, ec] = std::from_chars(first, last, t.partitions);
    if (ec != std::errc{} || end != last || t.partitions < 1 || t.partitions > 10'000) {
        throw std::invalid_argument(fmt::format("--topic '{}': PARTITIONS must be a number from 1 to 10000", text));
    }
    return t;
}

}  // namespace

int main(int argc, char** argv) {
    int brokers = 3;
    int replication = 1;
    std::vector<std::string> topic_args;
    po::options_description desc("rtcrm-kafka-dev: a Kafka mock cluster on loopback (librdkafka's), until SIGINT/SIGTERM\n\nOptions");
    desc.add_options()
        ("help,h", "show this help")
        ("brokers", po::value(&brokers)->default_value(brokers), "number of brokers")
        ("replication", po::value(&replication)->default_value(replication), "replication factor of the topics")
        ("topic", po::value(&topic_args)->composing(),
         "NAME:PARTITIONS, repeatable (default raw:16 crm_trigger:8 maintenance:1 crm_dead_letter:1 crm_handlers:1)");
    po::variables_map vm;
    std::vector<topic_spec> topics;
    try {
        po::store(po::parse_command_line(argc, argv, desc), vm);
        po::notify(vm);
        if (vm.count("help") != 0U) {
            std::cout << desc << '\n';
            return 0;
        }
        if (brokers < 1 || brokers > 100) {
            throw std::invalid_argument("--brokers must be from 1 to 100");
        }
        if (replication < 1 || replication > brokers) {
            throw std::invalid_argument("--replication must be from 1 to --brokers");
        }
        if (topic_args.empty()) {
            topic_args = {"raw:16", "crm_trigger:8", "maintenance:1", "crm_dead_letter:1", "crm_handlers:1"};
        }
        for (const auto& t : topic_args) {
            topics.push_back(parse_topic(t));
        }
    } catch (const std::exception& e) {
        fmt::print(stderr, "rtcrm-kafka-dev: {}\n{}", e.what(), (std::ostringstream{} << desc).str());
        return 2;
    }

    // SIGINT/SIGTERM are blocked in every thread (librdkafka's inherit the mask) and taken
    // by sigwait below, so the shutdown runs on the main thread.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    // The mock cluster lives in a client handle; this one is never used to produce.
    char reason[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    // The owner handle has no bootstrap.servers of its own; spare the user that notice.
    rd_kafka_conf_set(conf, "log_level", "4", reason, sizeof reason);
    rd_kafka_t* owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, reason, sizeof reason);
    if (owner == nullptr) {
        fmt::print(stderr, "rtcrm-kafka-dev: {}\n", reason);
        return 1;
    }
    rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(owner, brokers);
    if (cluster == nullptr) {
        fmt::print(stderr, "rtcrm-kafka-dev: cannot start the mock cluster\n");
        rd_kafka_destroy(owner);
        return 1;
    }
    int status = 0;
    for (const auto& t : topics) {
        if (const auto err = rd_kafka_mock_topic_create(cluster, t.name.c_str(), t.partitions, replication);
            err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fmt::print(stderr, "rtcrm-kafka-dev: topic {}: {}\n", t.name, rd_kafka_err2str(err));
            status = 1;
        }
    }
    if (status == 0) {
        fmt::print("bootstrap: {}\n", rd_kafka_mock_cluster_bootstraps(cluster));
        for (const auto& t : topics) {
            fmt::print("topic: {} partitions={}\n", t.name, t.partitions);
        }
        std::fflush(stdout);
        int signal = 0;
        sigwait(&stop_signals, &signal);
    }
    // The data is in memory only: if librdkafka's teardown waits on a client that went
    // away, do not make the user wait with it.
    std::thread([] {
        std::this_thread::sleep_for(std::chrono::seconds(3));
        std::_Exit(status_after_timeout);
    }).detach();
    rd_kafka_mock_cluster_destroy(cluster);
    rd_kafka_destroy(owner);
    return status;
}
