// A librdkafka mock cluster in the test process (real Kafka protocol on loopback), and
// small producer/consumer helpers to feed it and read it back.
#pragma once

#include <rtcrm/kafka/kafka_properties.hpp>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <fmt/format.h>
#include <rapidjson/document.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace rtcrm::testing {

// Quick group joins and failure detection on the mock cluster.
inline rtcrm::kafka_properties quick_group_properties() {
    return {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"}, {"fetch.wait.max.ms", "50"}, {"log_level", "3"}};
}

// The document of a message's JSON value (HasParseError() says when it is not JSON).
inline rapidjson::Document parse_json(const std::string& json) {
    rapidjson::Document d;
    d.Parse(json.data(), json.size());
    return d;
}

class mock_kafka {
public:
    explicit mock_kafka(const std::vector<std::pair<std::string, int>>& topics, int brokers = 3) {
        char err[512];
        rd_kafka_conf_t* conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err);
        owner_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
        if (owner_ == nullptr) {
            throw std::runtime_error(err);
        }
        cluster_ = rd_kafka_mock_cluster_new(owner_, brokers);
        for (const auto& [name, partitions] : topics) {
            rd_kafka_mock_topic_create(cluster_, name.c_str(), partitions, 1);
        }
        bootstrap_ = rd_kafka_mock_cluster_bootstraps(cluster_);
    }
    ~mock_kafka() {
        rd_kafka_mock_cluster_destroy(cluster_);
        rd_kafka_destroy(owner_);
    }
    mock_kafka(const mock_kafka&) = delete;
    mock_kafka& operator=(const mock_kafka&) = delete;

    [[nodiscard]] const std::string& bootstrap() const { return bootstrap_; }

    // Makes broker `broker` (1..brokers) the leader of the partition.
    void set_leader(const std::string& topic, std::int32_t partition, std::int32_t broker) {
        rd_kafka_mock_partition_set_leader(cluster_, topic.c_str(), partition, broker);
    }

    // The next `count` produce requests that broker `broker` receives fail with `err`.
    void fail_produce_requests(std::int32_t broker, rd_kafka_resp_err_t err, int count) {
        for (int i = 0; i < count; ++i) {
            rd_kafka_mock_broker_push_request_error_rtts(cluster_, broker, 0 /* Produce */, 1, err, 0);
        }
    }

private:
    rd_kafka_t* owner_ = nullptr;
    rd_kafka_mock_cluster_t* cluster_ = nullptr;
    std::string bootstrap_;
};

struct kafka_message {
    std::string key;
    std::string value;
    std::int32_t partition = 0;
    std::int64_t offset = 0;
    std::map<std::string, std::string> headers;
};

// Produces (key, value) pairs with the Java client's partitioner; waits for delivery.
// `properties` are librdkafka producer properties (e.g. message.max.bytes for large values).
inline void produce(const std::string& bootstrap, const std::string& topic,
                    const std::vector<std::pair<std::string, std::string>>& messages, std::int64_t timestamp_ms = 0,
                    const std::map<std::string, std::string>& properties = {}) {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "partitioner", "murmur2_random", err, sizeof err);
    rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err);
    for (const auto& [name, value] : properties) {
        if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            throw std::runtime_error(err);
        }
    }
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (rk == nullptr) {
        throw std::runtime_error(err);
    }
    for (const auto& [key, value] : messages) {
        for (;;) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
            const auto e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                             RD_KAFKA_V_KEY(key.data(), key.size()),
                                             RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                             RD_KAFKA_V_TIMESTAMP(timestamp_ms), RD_KAFKA_V_END);
#pragma GCC diagnostic pop
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 10);
                continue;
            }
            if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
                rd_kafka_destroy(rk);
                throw std::runtime_error(rd_kafka_err2str(e));
            }
            break;
        }
    }
    const auto left = rd_kafka_flush(rk, 30000);
    rd_kafka_destroy(rk);
    if (left != RD_KAFKA_RESP_ERR_NO_ERROR) {
        throw std::runtime_error("produce: not all messages delivered");
    }
}

// Reads every partition of `topic` from the beginning until `count` messages came or
// `timeout` passed (no group: nothing is committed).
inline std::vector<kafka_message> consume(const std::string& bootstrap, const std::string& topic, int partitions,
                                          std::size_t count, std::chrono::milliseconds timeout) {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", "rtcrm-test-reader", err, sizeof err);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (rk == nullptr) {
        throw std::runtime_error(err);
    }
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; ++p) {
        rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_assign(rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    std::vector<kafka_message> out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out.size() < count && std::chrono::steady_clock::now() < deadline) {
        rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
        if (m == nullptr) {
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            kafka_message km;
            if (m->key != nullptr) {
                km.key.assign(static_cast<const char*>(m->key), m->key_len);
            }
            km.value.assign(static_cast<const char*>(m->payload), m->len);
            km.partition = m->partition;
            km.offset = m->offset;
            rd_kafka_headers_t* headers = nullptr;
            if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                const char* name = nullptr;
                const void* value = nullptr;
                std::size_t size = 0;
                for (std::size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
                    km.headers[name] = std::string(static_cast<const char*>(value), size);
                }
            }
            out.push_back(std::move(km));
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return out;
}

// The offsets `group` committed on partitions 0..partitions-1 of `topic` (the next offset
// to read; -1001 where it committed none).
inline std::vector<std::int64_t> committed_offsets(const std::string& bootstrap, const std::string& group,
                                                   const std::string& topic, int partitions) {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", group.c_str(), err, sizeof err);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (rk == nullptr) {
        throw std::runtime_error(err);
    }
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; ++p) {
        rd_kafka_topic_partition_list_add(list, topic.c_str(), p);
    }
    const auto e = rd_kafka_committed(rk, list, 10000);
    std::vector<std::int64_t> out(static_cast<std::size_t>(partitions), RD_KAFKA_OFFSET_INVALID);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < list->cnt; ++i) {
            out[static_cast<std::size_t>(list->elems[i].partition)] = list->elems[i].offset;
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_destroy(rk);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        throw std::runtime_error(rd_kafka_err2str(e));
    }
    return out;
}

}  // namespace rtcrm::testing
