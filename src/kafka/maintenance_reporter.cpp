#include <rtcrm/kafka/maintenance_reporter.hpp>
#include <rtcrm/kafka/kafka_topic.hpp>

#include "core/logging.hpp"
#include "core/thread_stop.hpp"
#include "rdkafka.hpp"
#include "status_message.hpp"

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <atomic>
#include <thread>
#include <unistd.h>

namespace rtcrm {

using namespace detail::kafka;

void maintenance_options::validate() const {
    if (brokers.empty()) {
        throw error(errc::invalid_config, "maintenance_reporter: brokers is empty");
    }
    validate_kafka_topic(topic, "maintenance_reporter");
    if (interval.count() <= 0) {
        throw error(errc::invalid_config, "maintenance_reporter: interval must be positive");
    }
}

namespace {

std::string default_instance_id() {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0) {
        std::snprintf(host, sizeof host, "rtcrm");
    }
    return fmt::format("{}-{}", host, getpid());
}

std::int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;

void key_string(json_writer& w, std::string_view key, std::string_view value) {
    w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
    w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

void key_uint(json_writer& w, std::string_view key, std::uint64_t value) {
    w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
    w.Uint64(value);
}

}  // namespace

namespace detail::kafka {

std::string status_message(const maintenance_status& s, std::string_view instance, std::int64_t ts_ms,
                           double events_per_s) {
    rapidjson::StringBuffer buf;
    json_writer w(buf);
    w.StartObject();
    key_string(w, "kind", "status");
    key_string(w, "instance", instance);
    w.Key("ts");
    w.Int64(ts_ms);
    w.Key("assigned");
    w.StartArray();
    for (auto p : s.assigned) {
        w.Int(p);
    }
    w.EndArray();
    w.Key("lag");
    w.Int64(s.lag);
    key_uint(w, "events_in", s.events_in);
    w.Key("events_per_s");
    w.Double(events_per_s);
    key_uint(w, "processed", s.processed);
    w.Key("errors");
    w.StartObject();
    key_uint(w, "dead_lettered", s.dead_lettered);
    key_uint(w, "handler_errors", s.handler_errors);
    key_uint(w, "store_errors", s.store_errors);
    key_uint(w, "nacked", s.nacked);
    w.EndObject();
    w.Key("handlers");
    w.StartObject();
    key_uint(w, "version", s.handlers_version);
    key_string(w, "digest", s.handlers_digest);
    w.EndObject();
    if (!s.campaigns.empty()) {
        rapidjson::Document report;
        report.Parse(s.campaigns.data(), s.campaigns.size());
        w.Key("campaigns");
        if (!report.HasParseError() && report.IsObject() && report.HasMember("campaigns") &&
            report["campaigns"].IsArray()) {
            report["campaigns"].Accept(w);
        } else {
            detail::log_fmt(log_level::warning, "kafka", "maintenance status: the campaign report is not a report; sent without campaigns");
            w.StartArray();
            w.EndArray();
        }
    }
    w.EndObject();
    return {buf.GetString(), buf.GetSize()};
}

}  // namespace detail::kafka

struct maintenance_reporter::impl {
    maintenance_options opt;
    status_fn status;
    handle_ptr rk;
    std::atomic<std::uint64_t> delivered{0};
    std::jthread thread;  // sends the status every interval until ~impl stops it
    std::uint64_t last_events = 0;
    std::chrono::steady_clock::time_point last_time = std::chrono::steady_clock::now();

    impl(maintenance_options o, status_fn s) : opt(std::move(o)), status(std::move(s)) {
        opt.validate();
        if (opt.instance_id.empty()) {
            opt.instance_id = default_instance_id();
        }
        const kafka_properties defaults{{"client.id", "rtcrm-maintenance"}, {"linger.ms", "5"}};
        auto conf = make_conf("maintenance_reporter", defaults, opt.properties, {{"bootstrap.servers", opt.brokers}});
        rd_kafka_conf_set_opaque(conf.get(), this);
        rd_kafka_conf_set_dr_msg_cb(conf.get(), [](rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
            if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                static_cast<impl*>(opaque)->delivered.fetch_add(1, std::memory_order_relaxed);
            }
        });
        rk = make_handle("maintenance_reporter", RD_KAFKA_PRODUCER, std::move(conf));
        thread = std::jthread([this](std::stop_token stop) { run(stop); });
    }

    ~impl() {
        detail::stop_and_join(thread);  // its sleep ends at once
        send(status_json());  // the last word: final counters
        rd_kafka_flush(rk.get(), 5000);
    }

    void run(const std::stop_token& stop) {
        detail::stoppable_sleep pause;
        while (!stop.stop_requested()) {
            try {
                send(status_json());
            } catch (const std::exception& e) {
                detail::log_fmt(log_level::warning, "kafka", "maintenance status failed: {}", e.what());
            }
            rd_kafka_poll(rk.get(), 0);
            pause.sleep_for(stop, opt.interval);
        }
    }

    void begin(json_writer& w, std::string_view kind) const {
        w.StartObject();
        key_string(w, "kind", kind);
        key_string(w, "instance", opt.instance_id);
        w.Key("ts");
        w.Int64(wall_ms());
    }

    std::string status_json() {
        const auto s = status ? status() : maintenance_status{};
        const auto now = std::chrono::steady_clock::now();
        const double seconds = std::chrono::duration<double>(now - last_time).count();
        const double rate = seconds > 0 && s.events_in >= last_events ? static_cast<double>(s.events_in - last_events) / seconds : 0;
        last_events = s.events_in;
        last_time = now;
        return status_message(s, opt.instance_id, wall_ms(), rate);
    }

    void send(const std::string& body) {
        for (int attempt = 0; attempt < 100; ++attempt) {
// librdkafka's RD_KAFKA_V_* macros are C casts.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
            const auto err = rd_kafka_producev(
                rk.get(), RD_KAFKA_V_TOPIC(opt.topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_KEY(opt.instance_id.data(), opt.instance_id.size()),
                RD_KAFKA_V_VALUE(const_cast<char*>(body.data()), body.size()), RD_KAFKA_V_END);
#pragma GCC diagnostic pop
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                    detail::log_fmt(log_level::warning, "kafka", "maintenance message not sent: {}", describe(err));
                }
                return;
            }
            rd_kafka_poll(rk.get(), 10);
        }
    }
};

maintenance_reporter::maintenance_reporter(maintenance_options options, status_fn status)
    : impl_(std::make_unique<impl>(std::move(options), std::move(status))) {}

maintenance_reporter::~maintenance_reporter() = default;

void maintenance_reporter::report(std::string_view kind, const std::vector<std::pair<std::string, std::string>>& fields) {
    rapidjson::StringBuffer buf;
    json_writer w(buf);
    impl_->begin(w, kind);
    for (const auto& [key, value] : fields) {
        key_string(w, key, value);
    }
    w.EndObject();
    impl_->send({buf.GetString(), buf.GetSize()});
    rd_kafka_poll(impl_->rk.get(), 0);
}

const std::string& maintenance_reporter::instance_id() const noexcept { return impl_->opt.instance_id; }

std::uint64_t maintenance_reporter::delivered() const noexcept {
    return impl_->delivered.load(std::memory_order_relaxed);
}

}  // namespace rtcrm
