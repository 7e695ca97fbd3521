#include "server.hpp"

#include <rtcrm/core/error.hpp>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>

namespace rtcrm::detail::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

// Lets answers that come after stop() find out, instead of posting to a dead context.
struct liveness {
    std::mutex mutex;
    bool alive = true;  // guarded by mutex
};

struct server::impl {
    // What a stop does, on the thread that requests it: answers coming later are
    // dropped, the acceptor closes, and the context stops, which wakes every I/O thread
    // (open connections are dropped with the context's handlers).
    struct stop_serving {
        impl* d;
        void operator()() const noexcept;
    };

    // Declared before the context: sessions, destroyed with its pending handlers, use them.
    server_options options;
    handler_fn handler;
    std::atomic<std::size_t> connections{0};
    std::stop_source stopping;  // server::stop(); sessions read it too (no keep-alive once set)
    std::shared_ptr<liveness> live = std::make_shared<liveness>();
    std::uint16_t bound_port = 0;
    asio::io_context io;
    tcp::acceptor acceptor{io};
    std::stop_callback<stop_serving> on_stop{stopping.get_token(), stop_serving{this}};
    std::vector<std::jthread> threads;  // each runs the context; joined by stop()

    impl(server_options o, handler_fn h) : options(std::move(o)), handler(std::move(h)) {}
    // Stops the context before the threads are joined (by stop(), or here when the
    // constructor failed after starting some of them).
    ~impl() { stopping.request_stop(); }
    impl(const impl&) = delete;
    impl& operator=(const impl&) = delete;
    void accept();
};

void server::impl::stop_serving::operator()() const noexcept {
    {
        std::lock_guard lock(d->live->mutex);
        d->live->alive = false;
    }
    asio::post(d->io, [owner = d] {
        beast::error_code ignored;
        owner->acceptor.close(ignored);
    });
    d->io.stop();
}

namespace {

// True for no Content-Encoding or only identity (names are case-insensitive, RFC 9110).
bool identity_encoding(std::string_view value) {
    while (!value.empty()) {
        const auto comma = value.find(',');
        auto coding = value.substr(0, comma);
        value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
        while (!coding.empty() && (coding.front() == ' ' || coding.front() == '\t')) {
            coding.remove_prefix(1);
        }
        while (!coding.empty() && (coding.back() == ' ' || coding.back() == '\t')) {
            coding.remove_suffix(1);
        }
        if (!coding.empty() && !beast::iequals(coding, "identity")) {
            return false;
        }
    }
    return true;
}

// One connection: read a request, hand it to the handler, write its answer, repeat.
class session : public std::enable_shared_from_this<session> {
public:
    session(tcp::socket socket, server::impl* owner) : stream_(std::move(socket)), owner_(owner) {}
    ~session() { owner_->connections.fetch_sub(1, std::memory_order_relaxed); }

    void start() { read(); }

    // Refuses the connection (too many open): 503, then close.
    void refuse() {
        auto res = std::make_shared<bhttp::response<bhttp::string_body>>(bhttp::status::service_unavailable, 11);
        res->set(bhttp::field::content_type, "application/json");
        res->set(bhttp::field::retry_after, "1");
        res->body() = R"({"error":"too many connections"})";
        res->keep_alive(false);
        res->prepare_payload();
        auto self = shared_from_this();
        stream_.expires_after(std::chrono::seconds(2));
        bhttp::async_write(stream_, *res, [self, res](beast::error_code, std::size_t) { self->close(); });
    }

private:
    void read() {
        parser_.emplace();
        parser_->header_limit(static_cast<std::uint32_t>(owner_->options.header_limit));
        parser_->body_limit(owner_->options.body_limit);
        // One deadline for the whole request: a client that trickles bytes is cut off.
        stream_.expires_after(owner_->options.request_timeout);
        auto self = shared_from_this();
        bhttp::async_read(stream_, buffer_, *parser_, [self](beast::error_code ec, std::size_t) { self->on_read(ec); });
    }

    void on_read(beast::error_code ec) {
        if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted) {
            return close();
        }
        if (ec == bhttp::error::body_limit) {
            return fail(413, fmt::format(R"({{"error":"the body is over the limit of {} bytes"}})", owner_->options.body_limit));
        }
        if (ec == bhttp::error::header_limit) {
            return fail(431, fmt::format(R"({{"error":"the headers are over the limit of {} bytes"}})",
                                         owner_->options.header_limit));
        }
        if (ec) {
            return fail(400, fmt::format(R"({{"error":"bad request: {}"}})", ec.message()));
        }
        auto& msg = parser_->get();
        keep_alive_ = msg.keep_alive();
        version_ = msg.version();
        if (!identity_encoding(msg[bhttp::field::content_encoding])) {
            // The body was read whole, so the connection stays in step and may be kept.
            return write(response{415, R"({"error":"unsupported Content-Encoding: only identity is accepted; )"
                                       R"(send the body uncompressed"})"});
        }
        request req;
        req.method = std::string{msg.method_string()};
        req.target = std::string{msg.target()};
        req.authorization = std::string{msg[bhttp::field::authorization]};
        req.content_type = std::string{msg[bhttp::field::content_type]};
        req.body = std::move(msg.body());
        stream_.expires_never();  // the handler may take its time (backpressure)
        auto self = shared_from_this();
        auto executor = stream_.get_executor();
        req.post = [executor](std::function<void()> work) { asio::post(executor, std::move(work)); };
        owner_->handler(std::move(req), [self, executor, live = owner_->live](response res) {
            std::lock_guard lock(live->mutex);
            if (live->alive) {
                asio::post(executor, [self, res = std::move(res)]() mutable { self->write(std::move(res)); });
            }
        });
    }

    void write(response r) {
        auto res = std::make_shared<bhttp::response<bhttp::string_body>>(static_cast<bhttp::status>(r.status), version_);
        res->set(bhttp::field::server, "rtcrm");
        res->set(bhttp::field::content_type, r.content_type);
        for (const auto& [name, value] : r.headers) {
            res->set(name, value);
        }
        res->body() = std::move(r.body);
        res->keep_alive(keep_alive_ && !owner_->stopping.stop_requested());
        res->prepare_payload();
        stream_.expires_after(owner_->options.request_timeout);
        auto self = shared_from_this();
        bhttp::async_write(stream_, *res, [self, res](beast::error_code ec, std::size_t) {
            if (ec || !res->keep_alive()) {
                return self->close();
            }
            self->read();
        });
    }

    // Answers an unreadable request and closes (the stream may be out of sync).
    void fail(unsigned status, std::string body) {
        keep_alive_ = false;
        write(response{status, std::move(body)});
    }

    void close() {
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        stream_.close();
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
    server::impl* owner_;  // outlives every session (they die with its io_context)
    bool keep_alive_ = false;
    unsigned version_ = 11;
};

}  // namespace

void server::impl::accept() {
    acceptor.async_accept(asio::make_strand(io), [self = this](beast::error_code ec, tcp::socket socket) {
        if (ec) {
            if (ec != asio::error::operation_aborted && !self->stopping.stop_requested()) {
                self->accept();  // e.g. too many open files: keep serving the others
            }
            return;
        }
        const auto open = self->connections.fetch_add(1, std::memory_order_relaxed) + 1;
        auto s = std::make_shared<session>(std::move(socket), self);
        if (open > self->options.max_connections) {
            s->refuse();
        } else {
            s->start();
        }
        self->accept();
    });
}

server::server(server_options options, handler_fn handler) : impl_(std::make_unique<impl>(std::move(options), std::move(handler))) {
    auto& d = *impl_;
    beast::error_code ec;
    const auto address = asio::ip::make_address(d.options.address, ec);
    if (ec) {
        throw error(errc::invalid_config, fmt::format("http: '{}' is not an IP address", d.options.address));
    }
    const tcp::endpoint endpoint{address, d.options.port};
    auto check = [&](const char* what) {
        if (ec) {
            throw error(errc::io_error, fmt::format("http: cannot {} {}:{}: {}", what, d.options.address, d.options.port, ec.message()));
        }
    };
    d.acceptor.open(endpoint.protocol(), ec);
    check("open");
    d.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    check("configure");
    d.acceptor.bind(endpoint, ec);
    check("bind");
    d.acceptor.listen(asio::socket_base::max_listen_connections, ec);
    check("listen on");
    d.bound_port = d.acceptor.local_endpoint().port();
    d.accept();
    for (unsigned i = 0; i < std::max(1U, d.options.threads); ++i) {
        d.threads.emplace_back([&io = d.io] { io.run(); });
    }
}

server::~server() { stop(); }

std::uint16_t server::port() const noexcept { return impl_->bound_port; }

std::size_t server::open_connections() const noexcept { return impl_->connections.load(std::memory_order_relaxed); }

void server::stop() {
    auto& d = *impl_;
    if (!d.stopping.request_stop()) {
        return;  // stopped already (or stopping, on another thread)
    }
    for (auto& t : d.threads) {
        t.join();
    }
}

}  // namespace rtcrm::detail::http
