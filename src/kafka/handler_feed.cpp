#include <rtcrm/kafka/handler_feed.hpp>
#include <rtcrm/kafka/kafka_topic.hpp>

#include "core/logging.hpp"
#include "core/thread_stop.hpp"
#include "rdkafka.hpp"

#include <fmt/format.h>

#include <atomic>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

namespace rtcrm {

using namespace detail::kafka;
using clock = std::chrono::steady_clock;

void handler_feed_options::validate() const {
    if (brokers.empty()) {
        throw error(errc::invalid_config, "kafka_handler_feed: brokers is empty");
    }
    validate_kafka_topic(topic, "kafka_handler_feed");
}

struct kafka_handler_feed::impl {
    handler_feed_options opt;
    apply_fn apply;
    refused_fn on_refused;
    handle_ptr rk;
    mutable std::mutex mutex;
    script_set set;  // guarded by mutex
    std::atomic<std::uint64_t> applied{0};
    std::atomic<std::uint64_t> refused{0};
    std::atomic<bool> started{false};
    std::jthread thread;  // follows the topic after start(); stopped by ~impl

    impl(handler_feed_options o, apply_fn a, refused_fn r) : opt(std::move(o)), apply(std::move(a)), on_refused(std::move(r)) {
        opt.validate();
        // Not a group member: a private group id that never commits, so each instance
        // reads everything.
        std::random_device rd;
        const kafka_properties defaults{{"client.id", "rtcrm-handlers"}, {"enable.partition.eof", "true"}};
        const kafka_properties forced{{"bootstrap.servers", opt.brokers},
                                      {"group.id", fmt::format("rtcrm-handlers-{:x}", rd())},
                                      {"enable.auto.commit", "false"}};
        rk = make_handle("kafka_handler_feed", RD_KAFKA_CONSUMER, make_conf("kafka_handler_feed", defaults, opt.properties, forced));
    }

    ~impl() {
        // The thread polls with a 100 ms timeout and looks at the stop between polls;
        // the consumer is closed only once it is gone.
        detail::stop_and_join(thread);
        rd_kafka_consumer_close(rk.get());
    }

    // Assigns every partition of the topic from its beginning; returns the partition count.
    int assign_all() {
        const rd_kafka_metadata_t* md = nullptr;
        rd_kafka_topic_t* t = rd_kafka_topic_new(rk.get(), opt.topic.c_str(), nullptr);
        const auto err = rd_kafka_metadata(rk.get(), 0, t, &md, static_cast<int>(opt.catch_up_timeout.count()));
        rd_kafka_topic_destroy(t);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            throw error(errc::io_error, fmt::format("handlers topic {}: metadata: {}", opt.topic, describe(err)));
        }
        std::unique_ptr<const rd_kafka_metadata_t, void (*)(const rd_kafka_metadata_t*)> guard{md, rd_kafka_metadata_destroy};
        if (md->topic_cnt != 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            throw error(errc::io_error, fmt::format("handlers topic {}: {}", opt.topic,
                                                    md->topic_cnt == 1 ? describe(md->topics[0].err) : "not found"));
        }
        const int partitions = md->topics[0].partition_cnt;
        list_ptr list{rd_kafka_topic_partition_list_new(partitions)};
        for (int p = 0; p < partitions; ++p) {
            rd_kafka_topic_partition_list_add(list.get(), opt.topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
        }
        if (const auto e = rd_kafka_assign(rk.get(), list.get()); e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            throw error(errc::io_error, fmt::format("handlers topic {}: assign: {}", opt.topic, describe(e)));
        }
        return partitions;
    }

    // Reads what is there now; returns whether anything changed. Counts partitions at their end.
    bool read(int wait_ms, std::vector<bool>* at_end) {
        bool changed = false;
        for (;;) {
            message_ptr m{rd_kafka_consumer_poll(rk.get(), wait_ms)};
            if (!m) {
                return changed;
            }
            wait_ms = 0;
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                if (at_end != nullptr && m->partition >= 0 && static_cast<std::size_t>(m->partition) < at_end->size()) {
                    (*at_end)[static_cast<std::size_t>(m->partition)] = true;
                }
                continue;
            }
            if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                detail::log_fmt(log_level::warning, "kafka", "handlers topic {}: {}", opt.topic,
                                rd_kafka_message_errstr(m.get()));
                continue;
            }
            if (m->key == nullptr || m->key_len == 0) {
                detail::log_fmt(log_level::warning, "kafka",
                                "handlers topic {}: message at {}/{} has no key (the script name); ignored", opt.topic,
                                m->partition, m->offset);
                continue;
            }
            std::string name{static_cast<const char*>(m->key), m->key_len};
            std::lock_guard lock(mutex);
            if (m->len == 0) {
                changed |= set.erase(name) > 0;
            } else {
                set.insert_or_assign(std::move(name), std::string{static_cast<const char*>(m->payload), m->len});
                changed = true;
            }
        }
    }

    void apply_now() {
        script_set copy;
        {
            std::lock_guard lock(mutex);
            copy = set;
        }
        std::optional<std::string> why;
        try {
            why = apply(copy);
        } catch (const std::exception& e) {
            why = e.what();
        }
        if (why) {
            detail::log_fmt(log_level::error, "kafka", "handlers from {} refused: {}", opt.topic, *why);
            if (on_refused) {
                on_refused(*why);
            }
            // Counted after the callback returned: whoever sees the count sees its effects.
            refused.fetch_add(1, std::memory_order_release);
        } else {
            applied.fetch_add(1, std::memory_order_relaxed);
        }
    }
};

kafka_handler_feed::kafka_handler_feed(handler_feed_options options, apply_fn apply, refused_fn refused)
    : impl_(std::make_unique<impl>(std::move(options), std::move(apply), std::move(refused))) {}

kafka_handler_feed::~kafka_handler_feed() = default;

void kafka_handler_feed::start() {
    auto& s = *impl_;
    if (s.started.exchange(true)) {
        throw error(errc::invalid_config, "kafka_handler_feed: start() called twice");
    }
    const int partitions = s.assign_all();
    std::vector<bool> at_end(static_cast<std::size_t>(partitions), false);
    const auto deadline = clock::now() + s.opt.catch_up_timeout;
    while (std::find(at_end.begin(), at_end.end(), false) != at_end.end()) {
        if (clock::now() >= deadline) {
            s.started.store(false);
            throw error(errc::timeout, fmt::format("handlers topic {}: not read to its end within {} ms", s.opt.topic,
                                                   s.opt.catch_up_timeout.count()));
        }
        s.read(100, &at_end);
    }
    s.apply_now();
    s.thread = std::jthread([&s](std::stop_token stop) {
        while (!stop.stop_requested()) {
            if (s.read(100, nullptr)) {
                s.apply_now();
            }
        }
    });
}

kafka_handler_feed::script_set kafka_handler_feed::scripts() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->set;
}

std::string kafka_handler_feed::digest() const {
    std::uint64_t h = 1469598103934665603ULL;
    auto mix = [&](std::string_view bytes) {
        for (unsigned char c : bytes) {
            h = (h ^ c) * 1099511628211ULL;
        }
        h = (h ^ 0xffU) * 1099511628211ULL;  // a separator no text byte sequence imitates
    };
    for (const auto& [name, source] : scripts()) {
        mix(name);
        mix(source);
    }
    return fmt::format("{:016x}", h);
}

std::uint64_t kafka_handler_feed::applied() const noexcept { return impl_->applied.load(std::memory_order_relaxed); }
std::uint64_t kafka_handler_feed::refused() const noexcept { return impl_->refused.load(std::memory_order_acquire); }

}  // namespace rtcrm
