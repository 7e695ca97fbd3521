#include <rtcrm/core/trigger_id.hpp>
#include <rtcrm/kafka/kafka_sink.hpp>
#include <rtcrm/kafka/kafka_topic.hpp>

#include "core/logging.hpp"
#include "core/thread_stop.hpp"
#include "dead_letter_fit.hpp"
#include "fallback_file.hpp"
#include "rdkafka.hpp"

#include <fmt/format.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace rtcrm {

using namespace detail::kafka;

void kafka_sink_options::validate() const {
    if (brokers.empty()) {
        throw error(errc::invalid_config, "kafka_sink: brokers is empty");
    }
    validate_kafka_topic(topic, "kafka_sink");
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

constexpr std::string_view truncated_header = "rtcrm-truncated";
constexpr std::string_view original_size_header = "rtcrm-original-size";

// Room kept in every dead letter for what a Kafka message adds to its key, value and
// headers (the record and record-batch framing: under 150 bytes), with a wide margin.
constexpr std::size_t framing_reserve = 1024;

// How many times one dead letter is cut smaller after a size refusal before it goes to
// the fallback file (each time half the size: 1 MB comes down to 16 bytes).
constexpr int max_size_retries = 16;

std::int64_t wall_now_ms() noexcept {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// A dead letter on its way: what it takes to send it again, cut smaller, or to write it
// to the fallback file.
struct dead_letter {
    std::string record;        // the whole record as the runtime made it
    std::string key;           // the player
    std::string reason;        // the reason header's value
    std::size_t limit = 0;     // the largest message (value, key, headers, framing) to send
    std::size_t sent_size = 0; // that message's size, while it is in flight
    std::size_t original_size = 0;  // raw bytes before the cut, when it was cut
    bool truncated = false;
    int size_retries = 0;
};

// A message's delivery-report opaque: the output's ack share, and for a dead letter what
// the sink needs to retry it or to fall back.
struct delivery {
    ack_token token;
    std::unique_ptr<dead_letter> dead;
};

struct header {
    std::string_view name;
    std::string_view value;
};

headers_ptr make_headers(std::span<const header> list) {
    headers_ptr h{rd_kafka_headers_new(list.size())};
    for (const auto& [name, value] : list) {
        rd_kafka_header_add(h.get(), name.data(), static_cast<ssize_t>(name.size()), value.data(),
                            static_cast<ssize_t>(value.size()));
    }
    return h;
}

// The producer's message.max.bytes, as librdkafka applies it.
std::size_t producer_max_message(rd_kafka_t* rk) {
    char value[64] = {};
    std::size_t size = sizeof value;
    if (rd_kafka_conf_get(rd_kafka_conf(rk), "message.max.bytes", value, &size) != RD_KAFKA_CONF_OK) {
        return 1'000'000;  // librdkafka's default
    }
    std::size_t n = 0;
    const std::string_view text{value};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    return ec == std::errc{} && n > 0 ? n : 1'000'000;
}

}  // namespace

struct kafka_sink::impl {
    kafka_sink_options opt;
    std::string name;
    handle_ptr rk;
    rd_kafka_topic_t* topic = nullptr;
    std::size_t producer_max = 0;
    std::optional<fallback_file> fallback;  // with opt.fallback_path
    // The largest dead letter to send: message.max.bytes, lowered when the broker refuses one for its size.
    std::atomic<std::size_t> dead_letter_limit{0};
    std::atomic<std::uint64_t> produced{0};
    std::atomic<std::uint64_t> delivered{0};
    std::atomic<std::uint64_t> failed{0};
    std::atomic<std::uint64_t> truncated{0};
    std::atomic<std::uint64_t> fallback_written{0};
    std::mutex retry_mutex;
    std::vector<std::unique_ptr<delivery>> retries;  // guarded by retry_mutex: dead letters to send again
    std::jthread poller;  // serves delivery reports and sends retries until finish() stops it
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
        producer_max = producer_max_message(rk.get());
        dead_letter_limit = producer_max;
        if (!opt.fallback_path.empty()) {
            fallback.emplace(opt.fallback_path);
        }
        topic = rd_kafka_topic_new(rk.get(), opt.topic.c_str(), nullptr);
        if (topic == nullptr) {
            throw error(errc::invalid_config, fmt::format("{}: topic {}: {}", name, opt.topic, describe(rd_kafka_last_error())));
        }
        poller = std::jthread([this](std::stop_token stop) {
            while (!stop.stop_requested()) {
                rd_kafka_poll(rk.get(), 100);
                send_retries();
            }
        });
    }

    ~impl() {
        finish();
        rd_kafka_topic_destroy(topic);
    }

    static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
        auto* self = static_cast<impl*>(opaque);
        std::unique_ptr<delivery> d{static_cast<delivery*>(m->_private)};
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            self->delivered.fetch_add(1, std::memory_order_relaxed);
            if (d->dead && d->dead->truncated) {
                self->truncated.fetch_add(1, std::memory_order_relaxed);
            }
            d->token.ack();
        } else if (d->dead) {
            self->dead_letter_failed(std::move(d), m->err);
        } else {
            self->failed.fetch_add(1, std::memory_order_relaxed);
            d->token.nack(make_error_code(errc::delivery_failed));
        }
    }

    // A dead letter the producer or the broker refused (see kafka_sink.hpp for the rule).
    void dead_letter_failed(std::unique_ptr<delivery> d, rd_kafka_resp_err_t err) {
        switch (classify_failure(err)) {
        case failure_kind::too_large: {
            auto& dl = *d->dead;
            const auto smaller = dl.sent_size / 2;
            // Later dead letters start below the size the broker refused.
            auto limit = dead_letter_limit.load(std::memory_order_relaxed);
            while (smaller < limit && !dead_letter_limit.compare_exchange_weak(limit, smaller)) {
            }
            if (++dl.size_retries > max_size_retries) {
                fall_back(std::move(d), fmt::format("{} after {} ever smaller tries", describe(err), max_size_retries));
                return;
            }
            detail::log_fmt(log_level::warning, "kafka", "{}: dead letter of {} bytes refused ({}); sending it cut to {} bytes",
                            name, dl.sent_size, describe(err), smaller);
            dl.limit = std::min(dl.limit, smaller);
            std::lock_guard lock(retry_mutex);
            retries.push_back(std::move(d));
            return;
        }
        case failure_kind::permanent: fall_back(std::move(d), describe(err)); return;
        case failure_kind::transient:
            failed.fetch_add(1, std::memory_order_relaxed);
            detail::log_fmt(log_level::warning, "kafka",
                            "{}: dead letter not delivered ({}); its event is not committed and will be read again", name,
                            describe(err));
            d->token.nack(make_error_code(errc::delivery_failed));
            return;
        }
    }

    // Writes an undeliverable dead letter to the fallback file and acks it; without a
    // fallback file, or when the write fails, nacks it.
    void fall_back(std::unique_ptr<delivery> d, std::string_view why) {
        const auto& dl = *d->dead;
        if (!fallback) {
            failed.fetch_add(1, std::memory_order_relaxed);
            detail::log_fmt(log_level::error, "kafka",
                            "{}: dead letter cannot be delivered ({}) and there is no fallback file; its event is not "
                            "committed",
                            name, why);
            d->token.nack(make_error_code(errc::delivery_failed));
            return;
        }
        const auto line = fallback_line(wall_now_ms(), opt.topic, dl.key, why, dl.record);
        if (auto problem = fallback->append(line); !problem.empty()) {
            failed.fetch_add(1, std::memory_order_relaxed);
            detail::log_fmt(log_level::error, "kafka",
                            "{}: dead letter cannot be delivered ({}) nor written to the fallback file ({}); its event "
                            "is not committed",
                            name, why, problem);
            d->token.nack(make_error_code(errc::delivery_failed));
            return;
        }
        const auto n = fallback_written.fetch_add(1, std::memory_order_relaxed) + 1;
        detail::log_fmt(log_level::error, "kafka", "{}: dead letter cannot be delivered ({}); written to {} ({} so far)",
                        name, why, fallback->path(), n);
        d->token.ack();
    }

    void produce(output& out) {
        if (out.stream == stream::dead_letter) {
            auto d = std::make_unique<delivery>(delivery{std::move(out.ack), std::make_unique<dead_letter>()});
            auto& dl = *d->dead;
            dl.reason = dead_letter_reason(out.body);
            dl.record = std::move(out.body);
            dl.key = std::string{out.player.text()};
            dl.limit = dead_letter_limit.load(std::memory_order_relaxed);
            send_dead_letter(std::move(d), /*may_wait=*/true);
            return;
        }
        auto d = std::make_unique<delivery>(delivery{std::move(out.ack), nullptr});
        const auto key = out.player.text();
        headers_ptr headers;
        if (const auto id = trigger_id_of(out.body); !id.empty() && !opt.trigger_id_header.empty()) {
            const header list[] = {{opt.trigger_id_header, id}};
            headers = make_headers(list);
        }
        for (;;) {
            const auto err = send(d.get(), out.body, key, headers ? &headers : nullptr);
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                (void)d.release();  // the delivery report completes and frees it
                return;
            }
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || poller.get_stop_token().stop_requested()) {
                failed.fetch_add(1, std::memory_order_relaxed);
                detail::log_fmt(log_level::error, "kafka", "{}: cannot produce: {}", name, describe(err));
                d->token.nack(make_error_code(errc::delivery_failed));
                return;
            }
            // librdkafka's queue is full: wait for deliveries (backpressure on the shard).
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }

    // Hands one message to librdkafka; `headers` is taken over on success only.
    rd_kafka_resp_err_t send(delivery* d, std::string_view value, std::string_view key, headers_ptr* headers) {
        rd_kafka_headers_t* h = headers != nullptr ? headers->get() : nullptr;
// librdkafka's RD_KAFKA_V_* macros are C casts.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
        const auto err = rd_kafka_producev(
            rk.get(), RD_KAFKA_V_RKT(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_KEY(key.data(), key.size()),
            RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(d), RD_KAFKA_V_END);
#pragma GCC diagnostic pop
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            produced.fetch_add(1, std::memory_order_relaxed);
            if (headers != nullptr) {
                (void)headers->release();  // librdkafka took them over
            }
        }
        return err;
    }

    // Sends a dead letter whole when it fits `limit`, else cut to fit; falls back when it
    // cannot fit or cannot be sent. With `may_wait` false (the poller's retries) a full
    // librdkafka queue puts it back on the retry list instead of waiting.
    void send_dead_letter(std::unique_ptr<delivery> d, bool may_wait) {
        auto& dl = *d->dead;
        // The truncation headers count whether they are sent or not: the cut must not
        // depend on their presence.
        const auto envelope = framing_reserve + dl.key.size() + opt.reason_header.size() + dl.reason.size() +
                              truncated_header.size() + 4 + original_size_header.size() + 20;
        for (;;) {
            if (dl.limit <= envelope) {
                fall_back(std::move(d), fmt::format("a dead letter with a key of {} bytes cannot fit {} bytes",
                                                    dl.key.size(), dl.limit));
                return;
            }
            std::string cut;
            std::string_view value = dl.record;
            dl.truncated = false;
            if (dl.record.size() > dl.limit - envelope) {
                auto fitted = fit_dead_letter(dl.record, dl.limit - envelope);
                if (!fitted) {
                    fall_back(std::move(d), fmt::format("the dead letter of {} bytes cannot be cut to {} bytes",
                                                        dl.record.size(), dl.limit - envelope));
                    return;
                }
                cut = std::move(fitted->body);
                value = cut;
                dl.truncated = true;
                dl.original_size = fitted->original_size;
            }
            const auto original_text = std::to_string(dl.original_size);
            std::vector<header> list{{opt.reason_header, dl.reason}};
            if (dl.truncated) {
                list.push_back({truncated_header, "true"});
                list.push_back({original_size_header, original_text});
            }
            auto headers = make_headers(list);
            dl.sent_size = value.size() + envelope;
            const auto err = send(d.get(), value, dl.key, &headers);
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                if (dl.truncated) {
                    detail::log_fmt(log_level::warning, "kafka",
                                    "{}: dead letter of {} bytes (raw event: {} bytes) sent truncated to {} bytes to fit a "
                                    "message of {} bytes",
                                    name, dl.record.size(), dl.original_size, value.size(), dl.limit);
                }
                (void)d.release();  // the delivery report completes and frees it
                return;
            }
            if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && !poller.get_stop_token().stop_requested()) {
                if (!may_wait) {
                    std::lock_guard lock(retry_mutex);
                    retries.push_back(std::move(d));
                    return;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
                continue;
            }
            if (classify_failure(err) == failure_kind::too_large && ++dl.size_retries <= max_size_retries) {
                dl.limit = std::min(dl.limit, dl.sent_size / 2);
                continue;
            }
            if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL || classify_failure(err) == failure_kind::transient) {
                failed.fetch_add(1, std::memory_order_relaxed);
                detail::log_fmt(log_level::error, "kafka", "{}: cannot produce a dead letter: {}", name, describe(err));
                d->token.nack(make_error_code(errc::delivery_failed));
                return;
            }
            fall_back(std::move(d), describe(err));
            return;
        }
    }

    void send_retries() {
        std::vector<std::unique_ptr<delivery>> batch;
        {
            std::lock_guard lock(retry_mutex);
            batch.swap(retries);
        }
        for (auto& d : batch) {
            send_dead_letter(std::move(d), /*may_wait=*/false);
        }
    }

    bool retries_pending() {
        std::lock_guard lock(retry_mutex);
        return !retries.empty();
    }

    void finish() {
        std::call_once(closed, [this] {
            // From here on the delivery reports are served on this thread, by rd_kafka_flush.
            detail::stop_and_join(poller);
            const auto deadline = std::chrono::steady_clock::now() + opt.close_timeout;
            for (;;) {
                const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now());
                rd_kafka_flush(rk.get(), static_cast<int>(std::max<std::int64_t>(left.count(), 0)));
                if (!retries_pending() || std::chrono::steady_clock::now() >= deadline) {
                    break;
                }
                send_retries();
            }
            if (rd_kafka_outq_len(rk.get()) > 0) {
                detail::log_fmt(log_level::error, "kafka",
                                "{}: {} messages undelivered after {} ms; their events are not committed", name,
                                rd_kafka_outq_len(rk.get()), opt.close_timeout.count());
                rd_kafka_purge(rk.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
                rd_kafka_flush(rk.get(), 1000);  // serves the purged messages' reports (nacks)
            }
            // Dead letters still waiting to be cut smaller: the broker refused their size,
            // so they are not worth waiting for.
            std::vector<std::unique_ptr<delivery>> left;
            {
                std::lock_guard lock(retry_mutex);
                left.swap(retries);
            }
            for (auto& d : left) {
                fall_back(std::move(d), "refused for its size, and the sink is closing");
            }
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
            impl_->failed.load(std::memory_order_relaxed), impl_->truncated.load(std::memory_order_relaxed),
            impl_->fallback_written.load(std::memory_order_relaxed)};
}

}  // namespace rtcrm
