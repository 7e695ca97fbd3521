#include <rtcrm/core/error.hpp>
#include <rtcrm/core/trigger_id.hpp>
#include <rtcrm/http/webhook_sink.hpp>

#include "core/logging.hpp"
#include "core/thread_stop.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

namespace rtcrm {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

struct parsed_url {
    std::string host;
    std::string port = "80";
    std::string target = "/";
};

std::optional<parsed_url> parse_url(std::string_view url) {
    constexpr std::string_view scheme = "http://";
    if (!url.starts_with(scheme)) {
        return std::nullopt;
    }
    url.remove_prefix(scheme.size());
    parsed_url u;
    const auto slash = url.find('/');
    const auto authority = url.substr(0, slash);
    if (slash != std::string_view::npos) {
        u.target = std::string{url.substr(slash)};
    }
    const auto colon = authority.rfind(':');
    u.host = std::string{authority.substr(0, colon)};
    if (colon != std::string_view::npos) {
        u.port = std::string{authority.substr(colon + 1)};
    }
    if (u.host.empty() || u.port.empty()) {
        return std::nullopt;
    }
    return u;
}

// The dead-letter record of an output that could not be delivered (output.hpp's format).
std::string undelivered_record(const std::string& why, const std::string& body) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("reason");
    w.String("delivery_failed");
    w.Key("detail");
    w.String(why.c_str(), static_cast<rapidjson::SizeType>(why.size()));
    w.Key("source");
    w.String("webhook");
    w.Key("raw");
    w.String(body.c_str(), static_cast<rapidjson::SizeType>(body.size()));
    w.EndObject();
    return {buf.GetString(), buf.GetSize()};
}

}  // namespace

void webhook_options::validate() const {
    if (!parse_url(url)) {
        throw error(errc::invalid_config, fmt::format("webhook_options.url '{}': expected http://HOST[:PORT][/PATH] (no https)", url));
    }
    if (max_batch == 0 || max_queued == 0 || max_attempts == 0) {
        throw error(errc::invalid_config, "webhook_options: max_batch, max_queued and max_attempts must be > 0");
    }
    if (timeout.count() <= 0 || backoff_initial.count() < 0 || backoff_max < backoff_initial) {
        throw error(errc::invalid_config, "webhook_options: timeout > 0 and 0 <= backoff_initial <= backoff_max");
    }
}

struct webhook_sink::impl {
    webhook_options options;
    parsed_url url;
    std::mutex mutex;
    // Waited on with the worker's stop token: close() wakes the worker and the producers.
    std::condition_variable_any changed;
    std::deque<output> queue;  // guarded by mutex
    std::jthread worker;       // stopped by close(): it delivers what is queued, then ends
    std::atomic<std::uint64_t> requests{0};
    std::atomic<std::uint64_t> delivered{0};
    std::atomic<std::uint64_t> retries{0};
    std::atomic<std::uint64_t> given_up{0};

    // The worker's connection, kept alive between requests.
    asio::io_context io;
    std::optional<beast::tcp_stream> stream;
    std::minstd_rand jitter{std::random_device{}()};

    void run(const std::stop_token& closing) {
        std::vector<output> batch;
        detail::stoppable_sleep backoff_pause;
        for (;;) {
            {
                std::unique_lock lock(mutex);
                changed.wait(lock, closing, [&] { return !queue.empty(); });
                if (queue.empty()) {
                    return;
                }
                const auto n = options.batch ? std::min(options.max_batch, queue.size()) : std::size_t{1};
                for (std::size_t i = 0; i < n; ++i) {
                    batch.push_back(std::move(queue.front()));
                    queue.pop_front();
                }
            }
            changed.notify_all();  // room for blocked producers
            deliver(batch, closing, backoff_pause);
            batch.clear();
        }
    }

    void deliver(std::vector<output>& batch, const std::stop_token& closing, detail::stoppable_sleep& pause) {
        std::string body;
        for (const auto& out : batch) {
            body += out.body;
            if (options.batch) {
                body += '\n';
            }
        }
        std::string why;
        auto backoff = options.backoff_initial;
        for (std::uint32_t attempt = 1; attempt <= options.max_attempts; ++attempt) {
            requests.fetch_add(1, std::memory_order_relaxed);
            why = post(body, options.batch ? std::string_view{} : trigger_id_of(batch.front().body));
            if (why.empty()) {
                for (auto& out : batch) {
                    out.ack.ack();
                }
                delivered.fetch_add(batch.size(), std::memory_order_relaxed);
                return;
            }
            if (attempt == options.max_attempts) {
                break;
            }
            retries.fetch_add(1, std::memory_order_relaxed);
            // Full jitter: a random wait up to the current backoff, so many senders spread out.
            const auto wait = std::chrono::milliseconds(
                std::uniform_int_distribution<std::int64_t>(backoff.count() / 2, std::max<std::int64_t>(backoff.count(), 1))(jitter));
            if (!pause.sleep_for(closing, wait) && attempt + 1 < options.max_attempts) {
                // Closing: one last try, no more waiting.
                attempt = options.max_attempts - 1;
            }
            backoff = std::min(backoff * 2, options.backoff_max);
        }
        given_up.fetch_add(batch.size(), std::memory_order_relaxed);
        detail::log_fmt(log_level::error, "webhook", "{}: {}; {} outputs given up", options.url, why, batch.size());
        const auto reason = fmt::format("webhook {}: {}", options.url, why);
        if (options.dead_letter) {
            std::vector<output> dead;
            for (auto& out : batch) {
                dead.push_back(output{stream::dead_letter, out.player, undelivered_record(reason, out.body),
                                      std::move(out.ack), out.ingest_ns});
            }
            options.dead_letter->consume(dead);
            options.dead_letter->flush();
        } else {
            for (auto& out : batch) {
                out.ack.nack(make_error_code(errc::delivery_failed));
            }
        }
    }

    // One try; "" on a 2xx, else why not. A single trigger's id goes in `Idempotency-Key`
    // (a batch's lines are regrouped after a restart, so a batch has no stable key).
    std::string post(const std::string& body, std::string_view idempotency_key) {
        try {
            if (!stream) {
                tcp::resolver resolver{io};
                stream.emplace(io);
                stream->expires_after(options.timeout);
                stream->connect(resolver.resolve(url.host, url.port));
            }
            bhttp::request<bhttp::string_body> req{bhttp::verb::post, url.target, 11};
            req.set(bhttp::field::host, url.host);
            req.set(bhttp::field::user_agent, "rtcrm");
            req.set(bhttp::field::content_type, options.batch ? "application/x-ndjson" : "application/json");
            if (!idempotency_key.empty()) {
                req.set("Idempotency-Key", idempotency_key);
            }
            req.keep_alive(true);
            req.body() = body;
            req.prepare_payload();
            stream->expires_after(options.timeout);
            bhttp::write(*stream, req);
            beast::flat_buffer buffer;
            bhttp::response<bhttp::string_body> res;
            bhttp::read(*stream, buffer, res);
            if (!res.keep_alive()) {
                drop_connection();
            }
            if (res.result_int() / 100 == 2) {
                return {};
            }
            return fmt::format("answered {}", res.result_int());
        } catch (const std::exception& e) {
            drop_connection();
            return e.what();
        }
    }

    void drop_connection() {
        if (stream) {
            beast::error_code ignored;
            stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
            stream.reset();
        }
    }
};

webhook_sink::webhook_sink(webhook_options options) : impl_(std::make_unique<impl>()) {
    options.validate();
    impl_->url = *parse_url(options.url);
    impl_->options = std::move(options);
    impl_->worker = std::jthread([this](std::stop_token closing) { impl_->run(closing); });
}

webhook_sink::~webhook_sink() { close(); }

void webhook_sink::consume(std::span<output> batch) {
    auto& d = *impl_;
    const auto closing = d.worker.get_stop_token();
    for (auto& out : batch) {
        std::unique_lock lock(d.mutex);
        d.changed.wait(lock, closing, [&] { return d.queue.size() < d.options.max_queued; });
        // Under the mutex: once the worker has seen the stop and an empty queue, it is
        // seen here too, so nothing is queued after the worker ended.
        if (closing.stop_requested()) {
            out.ack.nack(make_error_code(errc::stopped));
            continue;
        }
        d.queue.push_back(std::move(out));
        lock.unlock();
        d.changed.notify_all();
    }
}

void webhook_sink::close() {
    detail::stop_and_join(impl_->worker);
}

webhook_stats webhook_sink::stats() const noexcept {
    return {impl_->requests.load(std::memory_order_relaxed), impl_->delivered.load(std::memory_order_relaxed),
            impl_->retries.load(std::memory_order_relaxed), impl_->given_up.load(std::memory_order_relaxed)};
}

}  // namespace rtcrm
