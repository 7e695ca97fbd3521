#include <rtcrm/core/error.hpp>
#include <rtcrm/http/gateway_source.hpp>

#include "gateway_body.hpp"
#include "listen_address.hpp"
#include "server.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>

namespace rtcrm {

namespace http = detail::http;

using detail::http::split_listen;

void gateway_options::validate() const {
    split_listen("gateway_options.listen", listen);
    if (body_limit == 0 || header_limit == 0 || max_connections == 0 || queue_capacity == 0 || max_lines == 0 ||
        threads == 0) {
        throw error(errc::invalid_config, "gateway_options: limits, queue_capacity, max_lines and threads must be > 0");
    }
    if (request_timeout.count() <= 0) {
        throw error(errc::invalid_config, "gateway_options: request_timeout must be > 0");
    }
    parse.validate();
}

struct gateway_source::impl {
    // A request's events and its answer, sent once the runtime took them all.
    struct batch {
        std::vector<record> records;
        std::size_t taken = 0;
        http::respond_fn respond;
        http::response answer;
    };

    gateway_options options;
    std::unique_ptr<http::server> server;
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<batch> queue;  // guarded by mutex
    std::size_t queued = 0;   // records in queue not yet taken (guarded by mutex)
    bool closed = false;      // guarded by mutex
    bool woken = false;       // guarded by mutex
    std::vector<batch> taken; // source thread: answered at the next poll
    std::atomic<std::uint64_t> requests{0};
    std::atomic<std::uint64_t> accepted{0};
    std::atomic<std::uint64_t> bad_lines{0};
    std::atomic<std::uint64_t> busy{0};
    std::atomic<std::uint64_t> too_many_lines{0};

    // Work per slice of a request's intake: the counting pass only finds line ends, the
    // checking pass parses each event (a few microseconds for a small one; a slice also
    // ends past check_slice_bytes, for big ones), so a slice holds the I/O thread for
    // about a millisecond either way.
    static constexpr std::size_t count_slice_lines = 64 * 1024;
    static constexpr std::size_t check_slice_lines = 512;
    static constexpr std::size_t check_slice_bytes = 256 * 1024;

    void handle(http::request&& req, http::respond_fn respond) {
        const std::string_view path = std::string_view{req.target}.substr(0, req.target.find('?'));
        if (path == "/healthz") {
            return respond({200, R"({"status":"ok"})"});
        }
        if (path != "/events") {
            return respond({404, R"({"error":"not found; POST events to /events"})"});
        }
        if (req.method != "POST") {
            return respond({405, R"({"error":"use POST"})", "application/json", {{"Allow", "POST"}}});
        }
        post_events(std::move(req.body), std::move(respond), std::move(req.post));
    }

    // A request's body on its way to the queue, taken in slices on the I/O thread (see
    // intake_slice). A request holds at most its body, one copy of its events, one
    // `record` per event (max_lines at most) and an answer listing at most
    // gateway_source::max_listed_rejections lines.
    struct intake {
        intake(std::string body, const gateway_options& options, std::size_t line_limit)
            : lines(std::move(body), options.parse, line_limit, gateway_source::max_listed_rejections) {}
        http::body_intake lines;
        http::respond_fn respond;
        http::post_fn post;
    };

    // The most events one request may carry: a larger batch could never fit the queue.
    [[nodiscard]] std::size_t line_limit() const { return std::min(options.max_lines, options.queue_capacity); }

    void post_events(std::string body, http::respond_fn respond, http::post_fn post) {
        requests.fetch_add(1, std::memory_order_relaxed);
        auto in = std::make_shared<intake>(std::move(body), options, line_limit());
        in->respond = std::move(respond);
        in->post = std::move(post);
        intake_slice(std::move(in));
    }

    // One bounded slice of a request's intake, then the next one is posted behind what
    // else the I/O thread has to do, so that a big body does not starve other connections.
    void intake_slice(std::shared_ptr<intake> in) {
        switch (in->lines.advance(count_slice_lines, check_slice_lines, check_slice_bytes)) {
        case http::body_intake::step::too_many_lines:
            too_many_lines.fetch_add(1, std::memory_order_relaxed);
            return in->respond({413, fmt::format(R"({{"error":"the batch has more than {} events )"
                                                 R"((the gateway's line limit, max_lines); split it"}})",
                                                 line_limit())});
        case http::body_intake::step::done:
            return finish_intake(*in);
        case http::body_intake::step::more:
            break;
        }
        auto post = in->post;
        post([this, in = std::move(in)]() mutable { intake_slice(std::move(in)); });
    }

    void finish_intake(intake& in) {
        auto split = in.lines.take();
        batch b;
        b.records = std::move(split.records);
        b.answer = std::move(split.answer);
        const auto bad = split.bad;
        const auto good = b.records.size() - bad;
        if (b.records.empty()) {
            return in.respond(std::move(b.answer));
        }
        b.respond = std::move(in.respond);
        {
            std::unique_lock lock(mutex);
            if (closed || queued + b.records.size() > options.queue_capacity) {
                lock.unlock();
                busy.fetch_add(1, std::memory_order_relaxed);
                return b.respond({503, R"({"error":"busy, retry later"})", "application/json", {{"Retry-After", "1"}}});
            }
            queued += b.records.size();
            accepted.fetch_add(good, std::memory_order_relaxed);
            bad_lines.fetch_add(bad, std::memory_order_relaxed);
            queue.push_back(std::move(b));
        }
        ready.notify_one();
    }
};

gateway_source::gateway_source(gateway_options options) : impl_(std::make_unique<impl>()) {
    options.validate();
    impl_->options = std::move(options);
}

gateway_source::~gateway_source() { close(); }

std::string_view gateway_source::name() const noexcept { return impl_->options.name; }

void gateway_source::open() {
    auto& d = *impl_;
    const auto [host, port] = split_listen("gateway", d.options.listen);
    d.server = std::make_unique<http::server>(
        http::server_options{.address = host,
                             .port = port,
                             .header_limit = d.options.header_limit,
                             .body_limit = d.options.body_limit,
                             .max_connections = d.options.max_connections,
                             .request_timeout = d.options.request_timeout,
                             .threads = d.options.threads},
        [&d](http::request&& req, http::respond_fn respond) { d.handle(std::move(req), std::move(respond)); });
}

poll_status gateway_source::poll(std::vector<record>& out, std::size_t max, std::chrono::milliseconds timeout) {
    auto& d = *impl_;
    // The runtime took the records of these batches on the previous poll: answer them.
    for (auto& b : d.taken) {
        b.respond(std::move(b.answer));
    }
    d.taken.clear();
    std::unique_lock lock(d.mutex);
    d.ready.wait_for(lock, timeout, [&] { return !d.queue.empty() || d.closed || d.woken; });
    d.woken = false;
    while (out.size() < max && !d.queue.empty()) {
        auto& front = d.queue.front();
        while (out.size() < max && front.taken < front.records.size()) {
            out.push_back(std::move(front.records[front.taken++]));
            --d.queued;
        }
        if (front.taken == front.records.size()) {
            d.taken.push_back(std::move(front));
            d.queue.pop_front();
        }
    }
    return poll_status::more;
}

void gateway_source::close() {
    auto& d = *impl_;
    std::deque<impl::batch> left;
    {
        std::lock_guard lock(d.mutex);
        if (d.closed) {
            return;
        }
        d.closed = true;
        left.swap(d.queue);
        d.queued = 0;
    }
    // Taken ones are tracked by the runtime: their answer stands. The rest never entered.
    for (auto& b : d.taken) {
        b.respond(std::move(b.answer));
    }
    d.taken.clear();
    for (auto& b : left) {
        if (b.taken == 0) {
            b.respond({503, R"({"error":"shutting down"})", "application/json", {{"Retry-After", "1"}}});
        } else {
            b.respond({500, R"({"error":"shutting down: part of the batch was taken; retry it"})"});
        }
    }
    if (d.server) {
        d.server->stop();
    }
    d.ready.notify_all();
}

void gateway_source::wakeup() {
    {
        std::lock_guard lock(impl_->mutex);
        impl_->woken = true;
    }
    impl_->ready.notify_all();
}

std::uint16_t gateway_source::port() const noexcept { return impl_->server ? impl_->server->port() : 0; }

gateway_stats gateway_source::stats() const noexcept {
    return {impl_->requests.load(std::memory_order_relaxed), impl_->accepted.load(std::memory_order_relaxed),
            impl_->bad_lines.load(std::memory_order_relaxed), impl_->busy.load(std::memory_order_relaxed),
            impl_->too_many_lines.load(std::memory_order_relaxed)};
}

}  // namespace rtcrm
