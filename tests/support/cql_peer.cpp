// The CQL test peer's server side: acceptors, connections and fault injection on one
// Boost.Asio thread. Boost.Asio stays in this file only (each TU with it is slow to build).
#include "support/cql_peer.hpp"

#include "cql/cql_values.hpp"
#include "support/cql_server_codec.hpp"
#include "support/cql_table_engine.hpp"

#include <rtcrm/core/error.hpp>

#include <boost/asio.hpp>
#include <fmt/format.h>

#include <atomic>
#include <deque>
#include <future>
#include <mutex>
#include <set>
#include <thread>

namespace rtcrm::test {

namespace cql = rtcrm::detail::cql;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

struct fault_rule {
    std::size_t remaining = 0;
    cql::error_response error;
    std::string match;
};

// One frame read from a client, waiting for its turn to be answered.
struct pending_frame {
    std::uint8_t version = cql::protocol_version;  // the client's version byte (no direction bit)
    std::int16_t stream = 0;
    std::optional<cql::frame_header> header;  // nullopt: the header was refused
    std::string refusal;                      // why, when refused
    std::string body;
    std::chrono::steady_clock::time_point due;  // arrival plus the delay in force then
};

cql::error_response make_error(cql::error_code code, std::string message) {
    cql::error_response e;
    e.code = code;
    e.message = std::move(message);
    return e;
}

std::string_view request_name(const cql::request& r) {
    switch (cql::opcode_of(r)) {
        case cql::opcode::startup: return "STARTUP";
        case cql::opcode::options: return "OPTIONS";
        case cql::opcode::auth_response: return "AUTH_RESPONSE";
        case cql::opcode::query: return "QUERY";
        case cql::opcode::prepare: return "PREPARE";
        case cql::opcode::execute: return "EXECUTE";
        case cql::opcode::batch: return "BATCH";
        case cql::opcode::register_: return "REGISTER";
        default: return "request";
    }
}

}  // namespace

class peer_connection;

// Everything the server owns; cql_peer::impl is this (connections need to name it, and
// cql_peer::impl is private).
struct server_state {
    explicit server_state(cql_peer_options o)
        : options(std::move(o)),
          engine(cql_engine_options{.addresses = options.addresses,
                                    .cluster_name = options.cluster_name,
                                    .datacenter = options.datacenter,
                                    .tokens_per_node = options.tokens_per_node}),
          requests(options.addresses.size()) {}

    cql_peer_options options;
    cql_table_engine engine;
    asio::io_context io;
    std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
    std::uint16_t port = 0;
    std::thread thread;

    // Faults: set from test threads, read on the io thread.
    std::mutex faults_mutex;
    std::vector<fault_rule> fail_rules;
    std::size_t drop_remaining = 0;
    bool drop_applied = false;
    std::atomic<std::int64_t> delay_ms{0};

    std::atomic<std::size_t> accepted{0};
    std::vector<std::atomic<std::size_t>> requests;  // per node

    std::set<std::shared_ptr<peer_connection>> connections;  // io thread only

    void accept(std::size_t node);
    void close_all();
};

struct cql_peer::impl : server_state {
    using server_state::server_state;
};

// A client connection: a reader that queues frames and a writer that answers them in order,
// each after the delay that was in force when it arrived, so a delay never holds back other
// connections and overlapping requests on one connection are delayed once, not in series.
class peer_connection : public std::enable_shared_from_this<peer_connection> {
public:
    peer_connection(server_state& peer, tcp::socket socket, std::size_t node)
        : peer_(peer), socket_(std::move(socket)), wake_(socket_.get_executor()), delay_timer_(socket_.get_executor()) {
        state_.node = node;
    }

    void start() {
        auto self = shared_from_this();
        asio::co_spawn(socket_.get_executor(), self->read_loop(), asio::detached);
        asio::co_spawn(socket_.get_executor(), self->write_loop(), asio::detached);
    }

    void close() {
        if (closed_) {
            return;
        }
        closed_ = true;
        boost::system::error_code ignored;
        socket_.shutdown(tcp::socket::shutdown_both, ignored);
        socket_.close(ignored);
        wake_.cancel();
        delay_timer_.cancel();
        peer_.connections.erase(shared_from_this());
    }

private:
    asio::awaitable<void> read_loop() {
        auto self = shared_from_this();
        try {
            for (;;) {
                std::array<char, cql::header_size> raw{};
                co_await asio::async_read(socket_, asio::buffer(raw), asio::use_awaitable);
                pending_frame f;
                f.version = static_cast<std::uint8_t>(static_cast<std::uint8_t>(raw[0]) & 0x7FU);
                f.stream = static_cast<std::int16_t>((static_cast<std::uint8_t>(raw[2]) << 8U) |
                                                     static_cast<std::uint8_t>(raw[3]));
                f.due = std::chrono::steady_clock::now() + std::chrono::milliseconds(peer_.delay_ms.load());
                bool stop = false;
                if (f.version != cql::protocol_version) {
                    // Answered with the client's own version so that a driver offering a newer
                    // protocol reads the refusal and steps down (the Python driver does).
                    f.refusal = fmt::format("Invalid or unsupported protocol version ({}); highest supported version "
                                            "is 4 (4/v4)",
                                            f.version);
                    stop = true;
                } else {
                    auto h = cql::decode_header(std::string_view(raw.data(), raw.size()));
                    if (!h.ok()) {
                        f.refusal = h.error().reason;
                        stop = true;
                    } else if ((h->flags & cql::frame_flag::compression) != 0) {
                        f.refusal = "Compressed frames are not supported (no compression was negotiated)";
                        stop = true;
                    } else {
                        f.header = h.value();
                        f.body.resize(h->length);
                        co_await asio::async_read(socket_, asio::buffer(f.body), asio::use_awaitable);
                    }
                }
                queue_.push_back(std::move(f));
                wake_.cancel();
                if (stop) {
                    co_return;  // the writer answers, then closes
                }
            }
        } catch (const std::exception&) {
            // The client went away or the connection was dropped; the writer stops too.
        }
        read_done_ = true;
        wake_.cancel();
    }

    asio::awaitable<void> write_loop() {
        auto self = shared_from_this();
        try {
            while (!closed_) {
                if (queue_.empty()) {
                    if (read_done_) {
                        break;
                    }
                    wake_.expires_at(asio::steady_timer::time_point::max());
                    boost::system::error_code ec;
                    co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
                    continue;
                }
                pending_frame f = std::move(queue_.front());
                queue_.pop_front();
                if (f.due > std::chrono::steady_clock::now()) {
                    delay_timer_.expires_at(f.due);
                    boost::system::error_code ec;
                    co_await delay_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
                    if (closed_) {
                        break;
                    }
                }
                std::string out;
                const bool close_after = handle(f, out);
                if (!out.empty()) {
                    co_await asio::async_write(socket_, asio::buffer(out), asio::use_awaitable);
                }
                if (close_after) {
                    break;
                }
            }
        } catch (const std::exception&) {
            // A write failed: the client is gone.
        }
        close();
    }

    void respond(std::int16_t stream, const cql::response& r, std::string& out) {
        cql::encode_response(stream, r, out);
    }

    // Answers one frame into `out`; true: close the connection afterwards.
    bool handle(const pending_frame& f, std::string& out) {
        if (!f.header) {
            const std::size_t at = out.size();
            respond(f.stream, make_error(cql::error_code::protocol_error, f.refusal), out);
            out[at] = static_cast<char>(0x80U | f.version);
            return true;
        }
        auto decoded = cql::decode_request(*f.header, f.body);
        if (!decoded.ok()) {
            respond(f.stream, make_error(cql::error_code::protocol_error, decoded.error().reason), out);
            return true;
        }
        const cql::request& req = decoded.value();
        const std::int16_t stream = f.stream;

        if (std::holds_alternative<cql::options_request>(req)) {
            cql::supported_response s;
            s.options["CQL_VERSION"] = {"3.4.5"};
            s.options["COMPRESSION"] = {};
            respond(stream, s, out);
            return false;
        }
        if (const auto* startup = std::get_if<cql::startup_request>(&req)) {
            if (startup->options.count("COMPRESSION") != 0) {
                respond(stream,
                        make_error(cql::error_code::protocol_error,
                                   fmt::format("Unknown compression algorithm: {}", startup->options.at("COMPRESSION"))),
                        out);
                return false;
            }
            if (peer_.options.username.empty()) {
                ready_ = true;
                respond(stream, cql::ready_response{}, out);
            } else {
                authenticating_ = true;
                respond(stream, cql::authenticate_response{"org.apache.cassandra.auth.PasswordAuthenticator"}, out);
            }
            return false;
        }
        if (const auto* auth = std::get_if<cql::auth_response_request>(&req)) {
            if (!authenticating_) {
                respond(stream, make_error(cql::error_code::protocol_error, "Unexpected message AUTH_RESPONSE"), out);
                return false;
            }
            // PasswordAuthenticator's SASL PLAIN token: authzid \0 user \0 password.
            const std::string token = auth->token.value_or(std::string());
            const auto first = token.find('\0');
            const auto second = first == std::string::npos ? std::string::npos : token.find('\0', first + 1);
            std::string user;
            std::string password;
            if (second != std::string::npos) {
                user = token.substr(first + 1, second - first - 1);
                password = token.substr(second + 1);
            }
            if (user == peer_.options.username && password == peer_.options.password) {
                ready_ = true;
                authenticating_ = false;
                respond(stream, cql::auth_success_response{}, out);
            } else {
                respond(stream,
                        make_error(cql::error_code::bad_credentials,
                                   fmt::format("Provided username {} and/or password are incorrect", user)),
                        out);
            }
            return false;
        }
        if (!ready_) {
            respond(stream,
                    make_error(cql::error_code::protocol_error,
                               fmt::format("Unexpected message {}, expecting {}", request_name(req),
                                           authenticating_ ? "AUTH_RESPONSE" : "STARTUP or OPTIONS")),
                    out);
            return false;
        }
        if (std::holds_alternative<cql::register_request>(req)) {
            respond(stream, cql::ready_response{}, out);
            return false;
        }
        if (const auto* prep = std::get_if<cql::prepare_request>(&req)) {
            respond(stream, peer_.engine.prepare(prep->query, state_), out);
            return false;
        }

        // QUERY, EXECUTE or BATCH: counted, and subject to the injected faults.
        ++peer_.requests[state_.node];
        std::vector<std::string> texts;
        if (const auto* q = std::get_if<cql::query_request>(&req)) {
            texts.push_back(q->query);
        } else if (const auto* e = std::get_if<cql::execute_request>(&req)) {
            texts.push_back(peer_.engine.prepared_text(e->id).value_or(std::string()));
        } else if (const auto* b = std::get_if<cql::batch_request>(&req)) {
            for (const auto& s : b->statements) {
                texts.push_back(s.prepared ? peer_.engine.prepared_text(s.query_or_id).value_or(std::string())
                                           : s.query_or_id);
            }
        }
        bool drop = false;
        bool apply_before_drop = false;
        std::optional<cql::error_response> injected;
        {
            const std::lock_guard lock(peer_.faults_mutex);
            if (peer_.drop_remaining > 0) {
                --peer_.drop_remaining;
                drop = true;
                apply_before_drop = peer_.drop_applied;
            } else {
                for (auto& rule : peer_.fail_rules) {
                    if (rule.remaining == 0) {
                        continue;
                    }
                    const bool hit = rule.match.empty() || std::any_of(texts.begin(), texts.end(), [&](const auto& t) {
                                         return t.find(rule.match) != std::string::npos;
                                     });
                    if (hit) {
                        --rule.remaining;
                        injected = rule.error;
                        break;
                    }
                }
                std::erase_if(peer_.fail_rules, [](const fault_rule& r) { return r.remaining == 0; });
            }
        }
        if (drop) {
            if (apply_before_drop) {
                (void)run(req);
            }
            return true;
        }
        if (injected) {
            respond(stream, *injected, out);
            return false;
        }
        respond(stream, run(req), out);
        return false;
    }

    cql::response run(const cql::request& req) {
        if (const auto* q = std::get_if<cql::query_request>(&req)) {
            return peer_.engine.query(q->query, q->params, state_);
        }
        if (const auto* e = std::get_if<cql::execute_request>(&req)) {
            return peer_.engine.execute(*e, state_);
        }
        return peer_.engine.batch(std::get<cql::batch_request>(req), state_);
    }

    server_state& peer_;
    tcp::socket socket_;
    asio::steady_timer wake_;         // the writer sleeps on it while the queue is empty
    asio::steady_timer delay_timer_;  // the injected delay of the frame being answered
    std::deque<pending_frame> queue_;
    cql_connection_state state_;
    bool ready_ = false;
    bool authenticating_ = false;
    bool read_done_ = false;
    bool closed_ = false;
};

void server_state::accept(std::size_t node) {
    acceptors[node]->async_accept([this, node](boost::system::error_code ec, tcp::socket socket) {
        if (ec) {
            return;  // the acceptor was closed: the peer is stopping
        }
        ++accepted;
        boost::system::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        auto c = std::make_shared<peer_connection>(*this, std::move(socket), node);
        connections.insert(c);
        c->start();
        accept(node);
    });
}

void server_state::close_all() {
    // close() erases from the set, so work on a copy.
    const auto all = connections;
    for (const auto& c : all) {
        c->close();
    }
}

cql_peer::cql_peer(cql_peer_options options) : impl_(std::make_unique<impl>(std::move(options))) {
    if (impl_->options.addresses.empty()) {
        throw rtcrm::error(errc::invalid_config, "cql_peer: no address");
    }
    std::uint16_t port = impl_->options.port;
    for (const auto& address : impl_->options.addresses) {
        try {
            const tcp::endpoint ep(asio::ip::make_address(address), port);
            auto acceptor = std::make_unique<tcp::acceptor>(impl_->io);
            acceptor->open(ep.protocol());
            acceptor->set_option(tcp::acceptor::reuse_address(true));
            acceptor->bind(ep);
            acceptor->listen();
            port = acceptor->local_endpoint().port();  // the first node picks the port for all
            impl_->acceptors.push_back(std::move(acceptor));
        } catch (const std::exception& e) {
            throw rtcrm::error(errc::io_error, fmt::format("cql_peer: cannot listen on {}:{}: {}", address, port, e.what()));
        }
    }
    impl_->port = port;
    for (std::size_t i = 0; i < impl_->acceptors.size(); ++i) {
        impl_->accept(i);
    }
    impl_->thread = std::thread([this] { impl_->io.run(); });
}

cql_peer::~cql_peer() {
    asio::post(impl_->io, [this] {
        for (auto& a : impl_->acceptors) {
            boost::system::error_code ignored;
            a->close(ignored);
        }
        impl_->close_all();
    });
    // Let the closing handlers finish, then stop whatever is left (timers of closed sockets).
    asio::post(impl_->io, [this] { impl_->io.stop(); });
    if (impl_->thread.joinable()) {
        impl_->thread.join();
    }
}

std::uint16_t cql_peer::port() const { return impl_->port; }

std::vector<std::string> cql_peer::contact_points() const {
    std::vector<std::string> out;
    for (const auto& a : impl_->options.addresses) {
        out.push_back(a.find(':') != std::string::npos ? fmt::format("[{}]:{}", a, impl_->port)
                                                       : fmt::format("{}:{}", a, impl_->port));
    }
    return out;
}

void cql_peer::fail_next(std::size_t n, rtcrm::detail::cql::error_response err, std::string match) {
    const std::lock_guard lock(impl_->faults_mutex);
    impl_->fail_rules.push_back({n, std::move(err), std::move(match)});
}

void cql_peer::set_delay(std::chrono::milliseconds d) { impl_->delay_ms = d.count(); }

void cql_peer::drop_connections() {
    // Runs on the io thread (connections are its own) and waits, so the caller sees every
    // connection closed when this returns.
    std::promise<void> done;
    asio::post(impl_->io, [this, &done] {
        impl_->close_all();
        done.set_value();
    });
    done.get_future().wait();
}

void cql_peer::drop_next(std::size_t n, bool applied) {
    const std::lock_guard lock(impl_->faults_mutex);
    impl_->drop_remaining = n;
    impl_->drop_applied = applied;
}

void cql_peer::forget_prepared() { impl_->engine.forget_prepared(); }

std::size_t cql_peer::requests(std::size_t node) const {
    return node < impl_->requests.size() ? impl_->requests[node].load() : 0;
}

std::size_t cql_peer::connections_accepted() const { return impl_->accepted.load(); }

std::size_t cql_peer::row_count(std::string_view keyspace, std::string_view table) const {
    return impl_->engine.row_count(keyspace, table);
}

std::size_t cql_peer::owner_of(std::int64_t token) const { return impl_->engine.owner_of(token); }

}  // namespace rtcrm::test
