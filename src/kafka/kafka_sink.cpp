#include <rtcrm/core/trigger_id.hpp>
#include <rtcrm/kafka/kafka_sink.hpp>

#include "core/logging.hpp"
#include "core/thread_stop.hpp"
#include "rdkafka.hpp"

#include <fmt/format.h>
#include <rapidjson/document.h>

#include <atomic>
#include <mutex>
#include <thread>

namespace rtcrm {

using namespace detail::kafka;

void kafka_sink_options::validate() const {
    if (brokers.empty()) {
        throw error(errc::invalid_config, "kafka_sink: brokers is empty");
    }
    if (topic.empty()) {
        throw error(errc::invalid_config, "kafka_sink: topic is empty");
    }
    if (close_timeout.count() < 0) {
        throw error(errc::invalid_config, "kafka_sink: close_timeout is negative");
    }
}

namespace {

// The "reason" member of a dead-letter record (output.hpp), or "unknown".
std::string dead_letter_reason(const std::string& body) {
    rapidjson::Document doc;
    doc.Parse(body.data(), body.size());
    if (!doc.HasParseError() && doc.IsObject()) {
        if (const auto it = doc.FindMember("reason"); it != doc.MemberEnd() && it->value.IsString()) {
            return {it->value.GetString(), it->value.GetStringLength()};
        }
    }
    return "unknown";
}

}  // namespace

struct kafka_sink::impl {
    kafka_sink_options opt;
    std::string name;
    handle_ptr rk;
    rd_kafka_topic_t* topic = nullptr;
    std::atomic<std::uint64_t> produced{0};
    std::atomic<std::uint64_t> delivered{0};
    std::atomic<std::uint64_t> failed{0};
    std::jthread poller;  // serves delivery reports until finish() stops it
    std::once_flag closed;

    explicit impl(kafka_sink_options o) : opt(std::move(o)) {
        opt.validate();
        name = opt.name.empty() ? "kafka:" + opt.topic : opt.name;
        const kafka_properties defaults{
            {"client.id", "rtcrm"},
            {"linger.ms", "5"},
            {"partitioner", "murmur2_random"},  // as the Java client: the same key, the same partition
            {"enable.idempotence", "true"},
        };
        const kafka_properties forced{{"bootstrap.servers", opt.brokers}};
        auto conf = make_conf(name, defaults, opt.properties, forced);
        rd_kafka_conf_set_opaque(conf.get(), this);
        rd_kafka_conf_set_dr_msg_cb(conf.get(), &impl::on_delivery);
        rk = make_handle(name, RD_KAFKA_PRODUCER, std::move(conf));
        topic = rd_kafka_topic_new(rk.get(), opt.topic.c_str(), nullptr);
        if (topic == nullptr) {
            throw error(errc::invalid_config, fmt::format("{}: topic {}: {}", name, opt.topic, describe(rd_kafka_last_error())));
        }
        poller = std::jthread([this](std::stop_token stop) {
            while (!stop.stop_requested()) {
                rd_kafka_poll(rk.get(), 100);
            }
        });
    }

    ~impl() {
        finish();
        rd_kafka_topic_destroy(topic);
    }

    static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
        auto* self = static_cast<impl*>(opaque);
        std::unique_ptr<ack_token> token{static_cast<ack_token*>(m->_private)};
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            self->delivered.fetch_add(1, std::memory_order_relaxed);
            token->ack();
        } else {
            self->failed.fetch_add(1, std::memory_order_relaxed);
            token->nack(make_error_code(errc::delivery_failed));
        }
    }

    void produce(output& out) {
        auto token = std::make_unique<ack_token>(std::move(out.ack));
        const auto key = out.player.text();
        for (;;) {
            rd_kafka_headers_t* headers = nullptr;
            if (out.stream == stream::dead_letter) {
                headers = rd_kafka_headers_new(1);
                const auto reason = dead_letter_reason(out.body);
                rd_kafka_header_add(headers, opt.reason_header.data(), static_cast<ssize_t>(opt.reason_header.size()),
                                    reason.data(), static_cast<ssize_t>(reason.size()));
            } else if (const auto id = trigger_id_of(out.body); !id.empty() && !opt.trigger_id_header.empty()) {
                headers = rd_kafka_headers_new(1);
                rd_kafka_header_add(headers, opt.trigger_id_header.data(),
                                    static_cast<ssize_t>(opt.trigger_id_header.size()), id.data(),
                                    static_cast<ssize_t>(id.size()));
            }
// librdkafka's RD_KAFKA_V_* macros are C casts.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
            const auto err = rd_kafka_producev(
                rk.get(), RD_KAFKA_V_RKT(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_VALUE(out.body.data(), out.body.size()), RD_KAFKA_V_KEY(key.data(), key.size()),
                RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(token.get()), RD_KAFKA_V_END);
#pragma GCC diagnostic pop
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                (void)token.release();  // the delivery report completes and frees it
                produced.fetch_add(1, std::memory_order_relaxed);
                return;
            }
            if (headers != nullptr) {
                rd_kafka_headers_destroy(headers);  // not taken over on failure
            }
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || poller.get_stop_token().stop_requested()) {
                failed.fetch_add(1, std::memory_order_relaxed);
                detail::log_fmt(log_level::error, "kafka", "{}: cannot produce: {}", name, describe(err));
                token->nack(make_error_code(errc::delivery_failed));
                return;
            }
            // librdkafka's queue is full: wait for deliveries (backpressure on the shard).
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }

    void finish() {
        std::call_once(closed, [this] {
            const auto left = rd_kafka_flush(rk.get(), static_cast<int>(opt.close_timeout.count()));
            if (left != RD_KAFKA_RESP_ERR_NO_ERROR) {
                detail::log_fmt(log_level::error, "kafka",
                                "{}: {} messages undelivered after {} ms; their events are not committed", name,
                                rd_kafka_outq_len(rk.get()), opt.close_timeout.count());
                rd_kafka_purge(rk.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
                rd_kafka_flush(rk.get(), 1000);  // serves the purged messages' reports (nacks)
            }
            // Stopped after the flush: until then the poller serves the reports too.
            detail::stop_and_join(poller);
        });
    }
};

kafka_sink::kafka_sink(kafka_sink_options options) : impl_(std::make_unique<impl>(std::move(options))) {}

kafka_sink::~kafka_sink() = default;

std::string_view kafka_sink::name() const noexcept { return impl_->name; }

void kafka_sink::consume(std::span<output> batch) {
    for (auto& out : batch) {
        impl_->produce(out);
    }
}

void kafka_sink::close() { impl_->finish(); }

kafka_sink_stats kafka_sink::stats() const noexcept {
    return {impl_->produced.load(std::memory_order_relaxed), impl_->delivered.load(std::memory_order_relaxed),
            impl_->failed.load(std::memory_order_relaxed)};
}

}  // namespace rtcrm
