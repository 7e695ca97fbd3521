#include "cql/cql_connection.hpp"

#include "cql/cql_topology.hpp"

#include <rtcrm/core/error.hpp>

#include <fmt/format.h>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include <utility>
#include <variant>

namespace rtcrm::detail::cql {

namespace {

constexpr std::size_t read_chunk = 64 * 1024;

}  // namespace

tcp_connection::tcp_connection(asio::io_context& io, const session_options& options, session_counters& counters,
                       connection_listener& listener, tcp_host& h)
    : options_(options),
      counters_(counters),
      listener_(listener),
      host_(&h),
      name_(h.name),
      socket_(io),
      connect_timer_(io),
      sweep_timer_(io) {}

bool tcp_connection::has_capacity() const noexcept {
    return in_flight_ < options_.max_in_flight_per_connection && in_flight_ < max_streams;
}

failure tcp_connection::lost(const boost::system::error_code& ec) const {
    return make_failure(errc::unavailable, fmt::format("connection to {} lost: {}", name_, ec.message()));
}

void tcp_connection::open(open_handler done) {
    open_done_ = std::move(done);
    state_ = state::connecting;
    connect_timer_.expires_after(options_.connect_timeout);
    connect_timer_.async_wait([self = shared_self()](const boost::system::error_code& ec) {
        if (!ec && self->state_ != state::ready && self->state_ != state::closed) {
            self->close(
                make_failure(errc::unavailable, fmt::format("connecting to {} timed out after {} ms", self->name_,
                                                            self->options_.connect_timeout.count())));
        }
    });
    socket_.async_connect(host_->endpoint, [self = shared_self()](const boost::system::error_code& ec) {
        if (self->state_ == state::closed) {
            return;
        }
        if (ec) {
            self->close(
                make_failure(errc::unavailable, fmt::format("cannot connect to {}: {}", self->name_, ec.message())));
            return;
        }
        boost::system::error_code ignored;
        self->socket_.set_option(tcp::no_delay(true), ignored);
        self->state_ = state::handshaking;
        self->read_more();
        self->handshake();
    });
}

void tcp_connection::handshake() {
    // OPTIONS first, as drivers do: it checks the server speaks v4 before STARTUP.
    send(
        options_request{},
        [self = shared_self()](result<response> r) {
            if (!r) {
                self->finish_open(r.error());
                return;
            }
            if (auto* e = std::get_if<error_response>(&r.value())) {
                self->close(map_server_error(*e, self->name_));
                return;
            }
            self->send(
                startup_request{}, [self](result<response> r2) { self->on_startup_answer(std::move(r2)); }, false);
        },
        false);
}

void tcp_connection::on_startup_answer(result<response> r) {
    if (!r) {
        finish_open(r.error());
        return;
    }
    auto& resp = r.value();
    if (std::holds_alternative<ready_response>(resp)) {
        use_keyspace();
    } else if (auto* a = std::get_if<authenticate_response>(&resp)) {
        authenticate(*a);
    } else if (auto* e = std::get_if<error_response>(&resp)) {
        close(map_server_error(*e, name_));
    } else {
        close(make_failure(errc::io_error, fmt::format("{} answered STARTUP with opcode {}", name_,
                                                       static_cast<int>(opcode_of(resp)))));
    }
}

void tcp_connection::authenticate(const authenticate_response& a) {
    const auto& o = options_;
    if (o.username.empty()) {
        close(make_failure(errc::invalid_config, fmt::format("{} requires authentication ({}) but no username is set",
                                                             name_, a.authenticator)));
        return;
    }
    std::string token;
    token.reserve(o.username.size() + o.password.size() + 2);
    token.push_back('\0');
    token += o.username;
    token.push_back('\0');
    token += o.password;
    send(
        auth_response_request{std::move(token)},
        [self = shared_self()](result<response> r) {
            if (!r) {
                self->finish_open(r.error());
                return;
            }
            auto& resp = r.value();
            if (std::holds_alternative<auth_success_response>(resp)) {
                self->use_keyspace();
            } else if (auto* e = std::get_if<error_response>(&resp)) {
                // Bad credentials are a configuration error, not a reason to try elsewhere.
                self->close(make_failure(
                    errc::invalid_config,
                    fmt::format("authentication as '{}' failed at {}: {}: {}", self->options_.username,
                                self->name_, error_code_name(e->code), e->message)));
            } else {
                // PasswordAuthenticator never challenges; anything else is a SASL mechanism we do not speak.
                self->close(make_failure(errc::invalid_config,
                                         fmt::format("authentication at {}: unsupported challenge (opcode {})",
                                                     self->name_, static_cast<int>(opcode_of(resp)))));
            }
        },
        false);
}

void tcp_connection::use_keyspace() {
    const auto& ks = options_.keyspace;
    if (ks.empty()) {
        finish_open(true);
        return;
    }
    std::string quoted = "USE \"";
    for (const char ch : ks) {
        quoted += ch;
        if (ch == '"') {
            quoted += '"';
        }
    }
    quoted += '"';
    query_request q{.query = std::move(quoted), .params = {}};
    q.params.consistency = consistency::one;
    send(
        q,
        [self = shared_self()](result<response> r) {
            if (!r) {
                self->finish_open(r.error());
                return;
            }
            if (auto* e = std::get_if<error_response>(&r.value())) {
                self->close(make_failure(errc::invalid_config,
                                         fmt::format("keyspace '{}' at {}: {}: {}", self->options_.keyspace,
                                                     self->name_, error_code_name(e->code), e->message)));
                return;
            }
            self->finish_open(true);
        },
        false);
}

void tcp_connection::finish_open(result<bool> r) {
    if (!r && state_ != state::closed) {
        close(r.error());  // reports through finish_open again, once closed
        return;
    }
    if (r) {
        if (state_ != state::handshaking) {
            return;
        }
        state_ = state::ready;
        connect_timer_.cancel();
    }
    if (open_done_) {
        auto done = std::move(open_done_);
        open_done_ = nullptr;
        done(std::move(r));
    }
}

std::int16_t tcp_connection::acquire_stream() {
    if (!free_streams_.empty()) {
        const auto s = free_streams_.back();
        free_streams_.pop_back();
        return s;
    }
    slots_.emplace_back();
    return static_cast<std::int16_t>(slots_.size() - 1);
}

void tcp_connection::release_stream(std::int16_t stream) {
    auto& s = slots_[static_cast<std::size_t>(stream)];
    s.handler = nullptr;
    s.in_use = false;
    if (s.orphaned) {
        s.orphaned = false;
        --orphans_;
    }
    --in_flight_;
    counters_.add_in_flight(-1);
    free_streams_.push_back(stream);
}

void tcp_connection::send(const request& r, response_handler handler, bool timed) {
    if (state_ == state::closed || (slots_.size() >= max_streams && free_streams_.empty())) {
        handler(make_failure(errc::unavailable, fmt::format("connection to {} is closed or out of streams", name_)));
        return;
    }
    const auto stream = acquire_stream();
    auto& s = slots_[static_cast<std::size_t>(stream)];
    s.handler = std::move(handler);
    s.seq = next_seq_++;
    s.in_use = true;
    ++in_flight_;
    counters_.add_in_flight(1);
    encode_request(stream, r, write_buf_);
    const auto timeout = options_.request_timeout;
    if (timed && timeout.count() > 0) {
        // Every timed request has the same timeout, so deadlines arrive in order: a FIFO
        // and one timer per connection do.
        deadlines_.push_back({steady::now() + timeout, stream, s.seq});
        arm_sweep();
    }
    schedule_flush();
}

void tcp_connection::schedule_flush() {
    // Frames queued during this turn of the I/O loop go out in one write, after it.
    if (writing_ || flush_posted_) {
        return;
    }
    flush_posted_ = true;
    asio::post(socket_.get_executor(), [self = shared_self()] {
        self->flush_posted_ = false;
        self->write_pending();
    });
}

void tcp_connection::write_pending() {
    if (state_ == state::closed || writing_ || write_buf_.empty()) {
        return;
    }
    writing_buf_.clear();
    std::swap(writing_buf_, write_buf_);
    writing_ = true;
    asio::async_write(socket_, asio::buffer(writing_buf_),
                      [self = shared_self()](const boost::system::error_code& ec, std::size_t) {
                          self->writing_ = false;
                          if (self->state_ == state::closed) {
                              return;
                          }
                          if (ec) {
                              self->close(self->lost(ec));
                              return;
                          }
                          self->write_pending();
                      });
}

void tcp_connection::read_more() {
    const std::size_t want = std::max(read_chunk, read_want_);
    if (read_buf_.size() - read_end_ < want) {
        // Move the unparsed tail to the front before growing.
        if (read_begin_ > 0) {
            std::copy(read_buf_.begin() + static_cast<std::ptrdiff_t>(read_begin_),
                      read_buf_.begin() + static_cast<std::ptrdiff_t>(read_end_), read_buf_.begin());
            read_end_ -= read_begin_;
            read_begin_ = 0;
        }
        if (read_buf_.size() - read_end_ < want) {
            read_buf_.resize(read_end_ + want);
        }
    }
    socket_.async_read_some(asio::buffer(read_buf_.data() + read_end_, read_buf_.size() - read_end_),
                            [self = shared_self()](const boost::system::error_code& ec, std::size_t n) {
                                if (self->state_ == state::closed) {
                                    return;
                                }
                                if (ec) {
                                    self->close(self->lost(ec));
                                    return;
                                }
                                self->read_end_ += n;
                                self->parse_frames();
                                if (self->state_ != state::closed) {
                                    self->read_more();
                                }
                            });
}

void tcp_connection::parse_frames() {
    read_want_ = 0;
    while (state_ != state::closed && read_end_ - read_begin_ >= header_size) {
        const auto h = decode_header(std::string_view(read_buf_.data() + read_begin_, header_size));
        if (!h) {
            close(make_failure(errc::io_error, fmt::format("bad frame from {}: {}", name_, h.error().reason)));
            return;
        }
        if (!h->response) {
            close(make_failure(errc::io_error, fmt::format("{} sent a request frame", name_)));
            return;
        }
        const std::size_t frame_size = header_size + h->length;
        if (read_end_ - read_begin_ < frame_size) {
            read_want_ = frame_size - (read_end_ - read_begin_);
            break;
        }
        const std::string_view body(read_buf_.data() + read_begin_ + header_size, h->length);
        read_begin_ += frame_size;
        on_frame(h.value(), body);
    }
    if (read_begin_ == read_end_) {
        read_begin_ = 0;
        read_end_ = 0;
    }
}

void tcp_connection::on_frame(const frame_header& h, std::string_view body) {
    if (h.stream < 0) {
        return;  // an EVENT: none registered, nothing to do
    }
    const auto index = static_cast<std::size_t>(h.stream);
    if (index >= slots_.size() || !slots_[index].in_use) {
        close(make_failure(errc::io_error,
                           fmt::format("{} answered on stream {}, which has no request", name_, h.stream)));
        return;
    }
    auto& s = slots_[index];
    if (s.orphaned) {
        // The late answer of a timed-out request: only now may the stream be reused.
        release_stream(h.stream);
        listener_.on_capacity(*host_);
        return;
    }
    auto handler = std::move(s.handler);
    release_stream(h.stream);
    auto decoded = decode_response(h, body);
    if (decoded) {
        handler(std::move(decoded.value()));
    } else {
        handler(make_failure(errc::io_error, fmt::format("bad answer from {}: {}", name_, decoded.error().reason)));
    }
    if (state_ == state::ready) {
        listener_.on_capacity(*host_);
    }
}

void tcp_connection::arm_sweep() {
    if (sweep_armed_ || deadlines_.empty()) {
        return;
    }
    sweep_armed_ = true;
    sweep_timer_.expires_at(deadlines_.front().at);
    sweep_timer_.async_wait([self = shared_self()](const boost::system::error_code& ec) {
        self->sweep_armed_ = false;
        if (ec || self->state_ == state::closed) {
            return;
        }
        self->sweep();
    });
}

void tcp_connection::sweep() {
    const auto now = steady::now();
    std::vector<response_handler> expired;
    while (!deadlines_.empty()) {
        const auto d = deadlines_.front();
        auto& s = slots_[static_cast<std::size_t>(d.stream)];
        const bool current = s.in_use && s.seq == d.seq && !s.orphaned;
        if (current && d.at > now) {
            break;
        }
        deadlines_.pop_front();
        if (current) {
            // Keep the stream taken (orphaned) until the late answer comes back.
            s.orphaned = true;
            ++orphans_;
            expired.push_back(std::move(s.handler));
            s.handler = nullptr;
        }
    }
    if (orphans_ > 0 && orphans_ >= options_.max_in_flight_per_connection / 2 + 1) {
        // So many answers overdue that the server is likely stuck on this connection.
        close(make_failure(errc::unavailable,
                           fmt::format("{}: {} requests timed out without answer, reconnecting", name_, orphans_)));
    }
    for (auto& handler : expired) {
        counters_.timeouts.fetch_add(1, std::memory_order_relaxed);
        handler(make_failure(errc::timeout, fmt::format("no answer from {} within {} ms", name_,
                                                        options_.request_timeout.count())));
    }
    if (state_ != state::closed) {
        arm_sweep();
    }
}

void tcp_connection::close(const failure& why) {
    if (state_ == state::closed) {
        return;
    }
    const bool was_ready = state_ == state::ready;
    state_ = state::closed;
    close_reason_ = why;
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    connect_timer_.cancel();
    sweep_timer_.cancel();
    deadlines_.clear();
    std::vector<response_handler> pending;
    for (auto& s : slots_) {
        if (s.in_use && !s.orphaned && s.handler) {
            pending.push_back(std::move(s.handler));
        }
        s = slot{};
    }
    free_streams_.clear();
    slots_.clear();
    counters_.add_in_flight(-static_cast<std::ptrdiff_t>(in_flight_));
    in_flight_ = 0;
    orphans_ = 0;
    for (auto& handler : pending) {
        handler(why);
    }
    if (open_done_) {
        finish_open(why);
    } else if (was_ready) {
        listener_.on_connection_lost(*this);
    }
}

// --- addresses ------------------------------------------------------------------------------

std::vector<contact> resolve_contact_points(asio::io_context& io, const session_options& options) {
    std::vector<contact> contacts;
    tcp::resolver resolver(io);
    for (const auto& text : options.contact_points) {
        contact c{.text = text, .endpoint = std::nullopt, .error = {}};
        const auto hp = parse_contact_point(text, options.default_port);
        if (!hp) {
            c.error = "cannot parse it";
        } else {
            boost::system::error_code ec;
            const auto found = resolver.resolve(hp->host, std::to_string(hp->port), ec);
            if (ec || found.empty()) {
                c.error = fmt::format("cannot resolve it: {}", ec ? ec.message() : "no address");
            } else {
                // Prefer IPv4: "localhost" often resolves to ::1 first, where servers may not listen.
                c.endpoint = found.begin()->endpoint();
                for (const auto& entry : found) {
                    if (entry.endpoint().address().is_v4()) {
                        c.endpoint = entry.endpoint();
                        break;
                    }
                }
            }
        }
        contacts.push_back(std::move(c));
    }
    return contacts;
}

std::string endpoint_text(const tcp::endpoint& ep) {
    if (ep.address().is_v6()) {
        return fmt::format("[{}]:{}", ep.address().to_string(), ep.port());
    }
    return fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

asio::ip::address address_of(const std::string& b) {
    if (b.size() == 4) {
        asio::ip::address_v4::bytes_type bytes{};
        std::copy(b.begin(), b.end(), bytes.begin());
        return asio::ip::address(asio::ip::address_v4(bytes));
    }
    asio::ip::address_v6::bytes_type bytes{};
    std::copy(b.begin(), b.end(), bytes.begin());
    return asio::ip::address(asio::ip::address_v6(bytes));
}

}  // namespace rtcrm::detail::cql
