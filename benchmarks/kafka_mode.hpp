// rtcrm-bench --source kafka: rtcrm's Kafka path beside a bare librdkafka loop.
#pragma once

#include <cstdint>
#include <string>

namespace rtcrm::bench {

struct kafka_bench_config {
    std::uint64_t events = 100'000;
    std::uint64_t players = 100'000;
    std::uint64_t seed = 1;
    std::string scenario = "bob";
    std::uint32_t shards = 2;
    std::size_t batch = 256;
    std::string schemas;  // "" = no validation
    std::string scripts;  // "" = no Lua
    std::string brokers;  // "" = an in-process mock cluster
    int partitions = 16;
};

// Runs both, prints one JSON object on stdout; returns the process exit status.
int run_kafka_bench(const kafka_bench_config& config);

}  // namespace rtcrm::bench
