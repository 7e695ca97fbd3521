// The CQL session: one I/O thread, a pool of connections per host, stream multiplexing.
// Everything below `session_impl`'s public entry points runs on the I/O thread, so the
// state of hosts, connections and requests needs no locks; only the hand-over queue, the
// counters and the ring snapshot are shared with other threads.
#include "cql/cql_session.hpp"

#include "cql/cql_values.hpp"

#include <rtcrm/error.hpp>

#include <fmt/format.h>
#include <boost/asio.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <deque>
#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <string_view>
#include <thread>
#include <type_traits>
#include <variant>

namespace rtcrm::detail::cql {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

namespace {

constexpr std::size_t max_streams = 32768;
constexpr std::size_t read_chunk = 64 * 1024;
// Retry backoff: short, since a retry usually goes to another host.
constexpr std::chrono::milliseconds retry_backoff_base{2};
constexpr std::chrono::milliseconds retry_backoff_max{100};

failure make_failure(errc code, std::string reason) { return failure{make_error_code(code), std::move(reason)}; }

// How a server ERROR maps onto rtcrm::errc (see the header's Caveats).
failure map_server_error(const error_response& e, const std::string& where) {
    errc code = errc::store_error;
    switch (e.code) {
    case error_code::unavailable:
    case error_code::overloaded:
    case error_code::is_bootstrapping: code = errc::unavailable; break;
    case error_code::read_timeout:
    case error_code::write_timeout: code = errc::timeout; break;
    case error_code::protocol_error: code = errc::io_error; break;
    default: code = errc::store_error; break;
    }
    return make_failure(code, fmt::format("{}: {} (from {})", error_code_name(e.code), e.message, where));
}

struct host_port {
    std::string host;
    std::uint16_t port = 0;
};

// "host", "host:port", "[v6]" or "[v6]:port"; a bare IPv6 address (two colons or more)
// has no port.
std::optional<host_port> parse_contact_point(std::string_view s, std::uint16_t default_port) {
    host_port hp{.host = {}, .port = default_port};
    std::string_view port_text;
    if (s.starts_with('[')) {
        const auto close = s.find(']');
        if (close == std::string_view::npos) {
            return std::nullopt;
        }
        hp.host = std::string(s.substr(1, close - 1));
        const auto rest = s.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') {
                return std::nullopt;
            }
            port_text = rest.substr(1);
        }
    } else if (std::count(s.begin(), s.end(), ':') == 1) {
        const auto colon = s.find(':');
        hp.host = std::string(s.substr(0, colon));
        port_text = s.substr(colon + 1);
    } else {
        hp.host = std::string(s);
    }
    if (hp.host.empty()) {
        return std::nullopt;
    }
    if (!port_text.empty() || s.ends_with(':')) {
        unsigned port = 0;
        const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
        if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 || port > 65535) {
            return std::nullopt;
        }
        hp.port = static_cast<std::uint16_t>(port);
    }
    return hp;
}

std::string endpoint_text(const tcp::endpoint& ep) {
    if (ep.address().is_v6()) {
        return fmt::format("[{}]:{}", ep.address().to_string(), ep.port());
    }
    return fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

// --- reading system.local / system.peers ---------------------------------------------

std::optional<std::size_t> column_index(const rows_result& rows, std::string_view name) {
    for (std::size_t i = 0; i < rows.metadata.columns.size(); ++i) {
        if (rows.metadata.columns[i].name == name) {
            return i;
        }
    }
    return std::nullopt;
}

const value* cell(const rows_result& rows, std::size_t row, std::optional<std::size_t> column) {
    if (!column || *column >= rows.rows[row].size()) {
        return nullptr;
    }
    return &rows.rows[row][*column];
}

std::optional<asio::ip::address> inet_of(const value* v) {
    if (v == nullptr || !*v) {
        return std::nullopt;
    }
    const std::string& b = **v;
    if (b.size() == 4) {
        asio::ip::address_v4::bytes_type bytes{};
        std::copy(b.begin(), b.end(), bytes.begin());
        return asio::ip::address(asio::ip::address_v4(bytes));
    }
    if (b.size() == 16) {
        asio::ip::address_v6::bytes_type bytes{};
        std::copy(b.begin(), b.end(), bytes.begin());
        return asio::ip::address(asio::ip::address_v6(bytes));
    }
    return std::nullopt;
}

// tokens is a set<text> of decimal strings: [int n] then n x ([int len][bytes]).
std::vector<std::int64_t> tokens_of(const value* v) {
    std::vector<std::int64_t> out;
    if (v == nullptr || !*v) {
        return out;
    }
    reader r(**v);
    const auto n = r.int_("set size");
    for (std::int32_t i = 0; i < n && r.ok(); ++i) {
        const auto text = r.long_string("token");
        std::int64_t t = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), t);
        if (r.ok() && ec == std::errc{} && end == text.data() + text.size()) {
            out.push_back(t);
        }
    }
    return out;
}

// The Rows of a response, or nullptr (an error, or another kind of result).
const rows_result* rows_in(const result<response>& r) {
    if (!r) {
        return nullptr;
    }
    const auto* res = std::get_if<result_response>(&r.value());
    return res == nullptr ? nullptr : std::get_if<rows_result>(&res->body);
}

std::string text_of(const value* v) { return (v != nullptr && *v) ? **v : std::string{}; }

class session_impl;
struct host;

/// What a connection hands back for one request: the decoded response, or why there is
/// none (client timeout, connection lost, undecodable answer).
using response_handler = std::function<void(result<response>)>;

// --- connection ---------------------------------------------------------------------------

class connection : public std::enable_shared_from_this<connection> {
public:
    using open_handler = std::function<void(result<bool>)>;

    connection(session_impl& s, host& h);

    // Connects and runs the handshake (OPTIONS, STARTUP, authentication, USE); `done` runs
    // once. A failure of authentication or of USE comes back as invalid_config.
    void open(open_handler done);
    [[nodiscard]] bool ready() const noexcept { return state_ == state::ready; }
    [[nodiscard]] bool has_capacity() const noexcept;
    [[nodiscard]] std::size_t in_flight() const noexcept { return in_flight_; }
    [[nodiscard]] host& owner() const noexcept { return *host_; }
    // Queues `r` on a free stream; `handler` runs once. `timed`: subject to request_timeout.
    void send(const request& r, response_handler handler, bool timed);
    // Closes the socket and fails every pending request with `why`.
    void close(const failure& why);

private:
    enum class state { idle, connecting, handshaking, ready, closed };
    struct slot {
        response_handler handler;
        std::uint64_t seq = 0;
        bool in_use = false;
        bool orphaned = false;  // timed out: the stream waits for its late answer
    };
    struct deadline {
        steady::time_point at;
        std::int16_t stream;
        std::uint64_t seq;
    };

    void handshake();
    void on_startup_answer(result<response> r);
    void authenticate(const authenticate_response& a);
    void use_keyspace();
    void finish_open(result<bool> r);
    std::int16_t acquire_stream();
    void release_stream(std::int16_t stream);
    void schedule_flush();
    void write_pending();
    void read_more();
    void parse_frames();
    void on_frame(const frame_header& h, std::string_view body);
    void arm_sweep();
    void sweep();
    failure lost(const boost::system::error_code& ec) const;

    session_impl& session_;
    host* host_;
    std::string name_;
    tcp::socket socket_;
    asio::steady_timer connect_timer_;
    asio::steady_timer sweep_timer_;
    state state_ = state::idle;
    open_handler open_done_;
    std::optional<failure> close_reason_;

    std::vector<slot> slots_;
    std::vector<std::int16_t> free_streams_;
    std::size_t in_flight_ = 0;
    std::size_t orphans_ = 0;
    std::uint64_t next_seq_ = 1;
    std::deque<deadline> deadlines_;
    bool sweep_armed_ = false;

    std::string write_buf_;    // frames queued during this turn
    std::string writing_buf_;  // frames being written
    bool writing_ = false;
    bool flush_posted_ = false;

    std::vector<char> read_buf_;
    std::size_t read_begin_ = 0;
    std::size_t read_end_ = 0;
    std::size_t read_want_ = 0;  // bytes the frame being received still needs
};

// --- host ---------------------------------------------------------------------------------

struct op;
using op_ptr = std::shared_ptr<op>;

struct host {
    std::size_t index = 0;
    tcp::endpoint endpoint;
    std::string name;  // "address:port", for messages
    std::string datacenter;
    std::vector<std::int64_t> tokens;
    std::vector<std::shared_ptr<connection>> pool;
    std::vector<std::unique_ptr<asio::steady_timer>> reconnect_timers;
    std::vector<std::chrono::milliseconds> backoff;
    std::deque<op_ptr> waiting;  // routed here, waiting for a free stream

    [[nodiscard]] bool up() const {
        return std::any_of(pool.begin(), pool.end(), [](const auto& c) { return c && c->ready(); });
    }
    // The ready connection with the fewest requests in flight that can take one more.
    [[nodiscard]] connection* least_loaded() const {
        connection* best = nullptr;
        for (const auto& c : pool) {
            if (c && c->ready() && c->has_capacity() && (best == nullptr || c->in_flight() < best->in_flight())) {
                best = c.get();
            }
        }
        return best;
    }
};

// --- request state --------------------------------------------------------------------------

struct op {
    enum class kind { statement, batch, prepare };
    kind k = kind::statement;
    statement st;
    cql::batch bt;
    std::string prepare_query;
    response_callback done;
    prepared_callback prepared_done;
    bool idempotent = true;
    int retries = 0;
    int reprepares = 0;
    std::optional<std::int64_t> token;
    std::optional<std::size_t> start_host;
    std::size_t attempt = 0;  // how far along the query plan
    // Prepared ids that a re-prepare on some host answered differently.
    std::map<std::string, std::string> id_override;
    steady::time_point park_deadline;
    bool finished = false;
};

std::optional<std::string> derive_routing_key(const statement& s) {
    if (s.routing_key) {
        return s.routing_key;
    }
    if (!s.prepared || s.prepared->metadata.pk_indexes.empty()) {
        return std::nullopt;
    }
    std::vector<std::string_view> components;
    for (const auto index : s.prepared->metadata.pk_indexes) {
        if (index >= s.values.size() || !s.values[index]) {
            return std::nullopt;
        }
        components.emplace_back(*s.values[index]);
    }
    return routing_key(components);
}

// --- session ----------------------------------------------------------------------------------

class session_impl final : public session {
public:
    explicit session_impl(session_options options);
    ~session_impl() override;
    session_impl(const session_impl&) = delete;
    session_impl& operator=(const session_impl&) = delete;

    // The blocking part of connect(): throws when no contact point can be used.
    void start();

    void execute(statement s, response_callback done) override;
    void execute(cql::batch b, response_callback done) override;
    void prepare(std::string query, prepared_callback done) override;
    [[nodiscard]] std::vector<std::pair<std::int64_t, std::int64_t>> token_ranges() const override;
    [[nodiscard]] session_stats stats() const override;
    void close() override;

    [[nodiscard]] bool on_io_thread() const noexcept override {
        return std::this_thread::get_id() == io_thread_id_.load(std::memory_order_relaxed);
    }

    // For connections (I/O thread).
    asio::io_context& io() noexcept { return io_; }
    const session_options& options() const noexcept { return options_; }
    [[nodiscard]] bool closing() const noexcept { return closing_.load(std::memory_order_relaxed); }
    void count_timeout() noexcept { timeouts_.fetch_add(1, std::memory_order_relaxed); }
    void count_in_flight(std::ptrdiff_t delta) noexcept {
        in_flight_.fetch_add(static_cast<std::size_t>(delta), std::memory_order_relaxed);
    }
    void on_connection_lost(connection& c);
    void on_capacity(host& h);

private:
    struct contact {
        std::string text;
        std::optional<tcp::endpoint> endpoint;
        std::string error;  // why it could not be resolved or used
    };

    void submit(op_ptr o);
    void drain_incoming();
    void dispatch(const op_ptr& o);
    host* pick_host(op& o);
    void send_on(const op_ptr& o, host& h, const std::shared_ptr<connection>& c);
    void on_answer(const op_ptr& o, host& h, const std::shared_ptr<connection>& c, result<response> r);
    void reprepare(const op_ptr& o, host& h, const std::shared_ptr<connection>& c, const std::string& id);
    void retry_or_fail(const op_ptr& o, failure why);
    void complete(const op_ptr& o, result<result_body> r);
    void complete_prepare(const op_ptr& o, result<prepared_ptr> r);
    void fail(const op_ptr& o, const failure& why);
    void park(const op_ptr& o);
    void unpark_all();
    void arm_park_timer();
    request build_request(const op& o) const;
    std::string effective_id(const op& o, const std::string& id) const;

    void bootstrap_next();
    void discover(std::shared_ptr<connection> control);
    void on_local(std::shared_ptr<connection> control, result<response> r, bool retried);
    void on_peers(std::shared_ptr<connection> control, result<response> r, bool retried);
    // Sends a system-table query on the control connection, at consistency ONE.
    void query_control(const std::shared_ptr<connection>& control, std::string query, response_handler then);
    void build_cluster();
    void open_connection(host& h, std::size_t slot, bool reconnect);
    void schedule_reconnect(host& h, std::size_t slot);
    void finish_bootstrap(std::optional<failure> why);
    void update_hosts_up();
    void shutdown();

    session_options options_;
    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> work_;
    std::thread thread_;
    std::atomic<std::thread::id> io_thread_id_{};

    // Hand-over from other threads: pushed under the mutex, swapped out by the I/O thread.
    std::mutex incoming_mutex_;
    std::vector<op_ptr> incoming_;
    std::vector<op_ptr> draining_;
    bool closed_ = false;  // under incoming_mutex_: no more requests accepted
    std::atomic<bool> closing_{false};
    std::mutex close_mutex_;

    // I/O thread state.
    std::vector<contact> contacts_;
    std::size_t contact_index_ = 0;
    std::unique_ptr<host> bootstrap_host_;
    std::vector<std::unique_ptr<host>> hosts_;
    std::vector<std::pair<std::int64_t, std::size_t>> ring_;  // token -> host index, sorted
    std::size_t round_robin_ = 0;
    std::deque<op_ptr> parked_;  // no host up: waiting for one, until park_deadline
    asio::steady_timer park_timer_;
    bool park_armed_ = false;
    std::vector<std::int64_t> local_tokens_;
    std::string local_datacenter_;
    struct peer_info {
        asio::ip::address address;
        std::string datacenter;
        std::vector<std::int64_t> tokens;
    };
    std::vector<peer_info> peers_;
    std::size_t initial_pending_ = 0;
    std::optional<std::promise<std::optional<failure>>> bootstrap_done_;

    // Shared with other threads.
    mutable std::mutex ring_mutex_;
    std::vector<std::int64_t> ring_tokens_;  // sorted, distinct
    std::atomic<std::uint64_t> requests_{0};
    std::atomic<std::uint64_t> retries_{0};
    std::atomic<std::uint64_t> timeouts_{0};
    std::atomic<std::uint64_t> reprepares_{0};
    std::atomic<std::uint64_t> reconnects_{0};
    std::atomic<std::uint64_t> failures_{0};
    std::atomic<std::size_t> hosts_up_{0};
    std::atomic<std::size_t> in_flight_{0};
    std::atomic<std::size_t> hosts_count_{0};
};

// --- connection: implementation ---------------------------------------------------------------

connection::connection(session_impl& s, host& h)
    : session_(s), host_(&h), name_(h.name), socket_(s.io()), connect_timer_(s.io()), sweep_timer_(s.io()) {}

bool connection::has_capacity() const noexcept {
    return in_flight_ < session_.options().max_in_flight_per_connection && in_flight_ < max_streams;
}

failure connection::lost(const boost::system::error_code& ec) const {
    return make_failure(errc::unavailable, fmt::format("connection to {} lost: {}", name_, ec.message()));
}

void connection::open(open_handler done) {
    open_done_ = std::move(done);
    state_ = state::connecting;
    connect_timer_.expires_after(session_.options().connect_timeout);
    connect_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec && self->state_ != state::ready && self->state_ != state::closed) {
            self->close(
                make_failure(errc::unavailable, fmt::format("connecting to {} timed out after {} ms", self->name_,
                                                            self->session_.options().connect_timeout.count())));
        }
    });
    socket_.async_connect(host_->endpoint, [self = shared_from_this()](const boost::system::error_code& ec) {
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

void connection::handshake() {
    // OPTIONS first, as drivers do: it checks the server speaks v4 before STARTUP.
    send(
        options_request{},
        [self = shared_from_this()](result<response> r) {
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

void connection::on_startup_answer(result<response> r) {
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

void connection::authenticate(const authenticate_response& a) {
    const auto& o = session_.options();
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
        [self = shared_from_this()](result<response> r) {
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
                    fmt::format("authentication as '{}' failed at {}: {}: {}", self->session_.options().username,
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

void connection::use_keyspace() {
    const auto& ks = session_.options().keyspace;
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
        [self = shared_from_this()](result<response> r) {
            if (!r) {
                self->finish_open(r.error());
                return;
            }
            if (auto* e = std::get_if<error_response>(&r.value())) {
                self->close(make_failure(errc::invalid_config,
                                         fmt::format("keyspace '{}' at {}: {}: {}", self->session_.options().keyspace,
                                                     self->name_, error_code_name(e->code), e->message)));
                return;
            }
            self->finish_open(true);
        },
        false);
}

void connection::finish_open(result<bool> r) {
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

std::int16_t connection::acquire_stream() {
    if (!free_streams_.empty()) {
        const auto s = free_streams_.back();
        free_streams_.pop_back();
        return s;
    }
    slots_.emplace_back();
    return static_cast<std::int16_t>(slots_.size() - 1);
}

void connection::release_stream(std::int16_t stream) {
    auto& s = slots_[static_cast<std::size_t>(stream)];
    s.handler = nullptr;
    s.in_use = false;
    if (s.orphaned) {
        s.orphaned = false;
        --orphans_;
    }
    --in_flight_;
    session_.count_in_flight(-1);
    free_streams_.push_back(stream);
}

void connection::send(const request& r, response_handler handler, bool timed) {
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
    session_.count_in_flight(1);
    encode_request(stream, r, write_buf_);
    const auto timeout = session_.options().request_timeout;
    if (timed && timeout.count() > 0) {
        // Every timed request has the same timeout, so deadlines arrive in order: a FIFO
        // and one timer per connection do.
        deadlines_.push_back({steady::now() + timeout, stream, s.seq});
        arm_sweep();
    }
    schedule_flush();
}

void connection::schedule_flush() {
    // Frames queued during this turn of the I/O loop go out in one write, after it.
    if (writing_ || flush_posted_) {
        return;
    }
    flush_posted_ = true;
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
        self->flush_posted_ = false;
        self->write_pending();
    });
}

void connection::write_pending() {
    if (state_ == state::closed || writing_ || write_buf_.empty()) {
        return;
    }
    writing_buf_.clear();
    std::swap(writing_buf_, write_buf_);
    writing_ = true;
    asio::async_write(socket_, asio::buffer(writing_buf_),
                      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
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

void connection::read_more() {
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
                            [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
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

void connection::parse_frames() {
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

void connection::on_frame(const frame_header& h, std::string_view body) {
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
        session_.on_capacity(*host_);
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
        session_.on_capacity(*host_);
    }
}

void connection::arm_sweep() {
    if (sweep_armed_ || deadlines_.empty()) {
        return;
    }
    sweep_armed_ = true;
    sweep_timer_.expires_at(deadlines_.front().at);
    sweep_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        self->sweep_armed_ = false;
        if (ec || self->state_ == state::closed) {
            return;
        }
        self->sweep();
    });
}

void connection::sweep() {
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
    if (orphans_ > 0 && orphans_ >= session_.options().max_in_flight_per_connection / 2 + 1) {
        // So many answers overdue that the server is likely stuck on this connection.
        close(make_failure(errc::unavailable,
                           fmt::format("{}: {} requests timed out without answer, reconnecting", name_, orphans_)));
    }
    for (auto& handler : expired) {
        session_.count_timeout();
        handler(make_failure(errc::timeout, fmt::format("no answer from {} within {} ms", name_,
                                                        session_.options().request_timeout.count())));
    }
    if (state_ != state::closed) {
        arm_sweep();
    }
}

void connection::close(const failure& why) {
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
    session_.count_in_flight(-static_cast<std::ptrdiff_t>(in_flight_));
    in_flight_ = 0;
    orphans_ = 0;
    for (auto& handler : pending) {
        handler(why);
    }
    if (open_done_) {
        finish_open(why);
    } else if (was_ready) {
        session_.on_connection_lost(*this);
    }
}

// --- session: implementation ----------------------------------------------------------------

session_impl::session_impl(session_options options)
    : options_(std::move(options)), work_(asio::make_work_guard(io_)), park_timer_(io_) {}

session_impl::~session_impl() { close(); }

void session_impl::start() {
    // Resolve on the caller's thread: names are looked up once, at connect.
    tcp::resolver resolver(io_);
    for (const auto& text : options_.contact_points) {
        contact c{.text = text, .endpoint = std::nullopt, .error = {}};
        const auto hp = parse_contact_point(text, options_.default_port);
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
        contacts_.push_back(std::move(c));
    }

    std::promise<std::optional<failure>> promise;
    auto future = promise.get_future();
    bootstrap_done_.emplace(std::move(promise));
    asio::post(io_, [this] { bootstrap_next(); });
    thread_ = std::thread([this] {
        io_thread_id_.store(std::this_thread::get_id());
        for (;;) {
            try {
                io_.run();
                return;
            } catch (...) {
                // A user callback threw; the session keeps serving (see the header).
            }
        }
    });
    const auto outcome = future.get();
    if (outcome) {
        close();
        throw error(outcome->code, fmt::format("cql session: {}", outcome->reason));
    }
}

void session_impl::bootstrap_next() {
    if (closing()) {
        finish_bootstrap(make_failure(errc::stopped, "closed while connecting"));
        return;
    }
    while (contact_index_ < contacts_.size() && !contacts_[contact_index_].endpoint) {
        ++contact_index_;
    }
    if (contact_index_ >= contacts_.size()) {
        std::string why = "no contact point could be reached:";
        for (const auto& c : contacts_) {
            why += fmt::format(" {} ({});", c.text, c.error);
        }
        why.pop_back();
        finish_bootstrap(make_failure(errc::unavailable, why));
        return;
    }
    auto& c = contacts_[contact_index_];
    bootstrap_host_ = std::make_unique<host>();
    bootstrap_host_->endpoint = *c.endpoint;
    bootstrap_host_->name = endpoint_text(*c.endpoint);
    auto conn = std::make_shared<connection>(*this, *bootstrap_host_);
    bootstrap_host_->pool.push_back(conn);
    conn->open([this, conn](result<bool> r) {
        if (!r) {
            if (r.error().code == make_error_code(errc::invalid_config) || closing()) {
                // Bad credentials or keyspace are the same on every node: say so at once.
                finish_bootstrap(r.error());
                return;
            }
            contacts_[contact_index_].error = r.error().reason;
            ++contact_index_;
            bootstrap_next();
            return;
        }
        discover(conn);
    });
}

void session_impl::query_control(const std::shared_ptr<connection>& control, std::string query, response_handler then) {
    query_request q{.query = std::move(query), .params = {}};
    q.params.consistency = consistency::one;
    control->send(q, std::move(then), true);
}

void session_impl::discover(std::shared_ptr<connection> control) {
    query_control(control, "SELECT data_center, rpc_address, tokens FROM system.local WHERE key='local'",
                  [this, control](result<response> r) { on_local(control, std::move(r), false); });
}

void session_impl::on_local(std::shared_ptr<connection> control, result<response> r, bool retried) {
    if (closing()) {
        finish_bootstrap(make_failure(errc::stopped, "closed while connecting"));
        return;
    }
    const rows_result* rows = rows_in(r);
    if (rows == nullptr && !retried && r && control->ready()) {
        // A server that does not know the column list: ask for every column.
        query_control(control, "SELECT * FROM system.local WHERE key='local'",
                      [this, control](result<response> r2) { on_local(control, std::move(r2), true); });
        return;
    }
    if (rows != nullptr && !rows->rows.empty()) {
        local_datacenter_ = text_of(cell(*rows, 0, column_index(*rows, "data_center")));
        local_tokens_ = tokens_of(cell(*rows, 0, column_index(*rows, "tokens")));
    }
    if (!options_.discover_peers || !control->ready()) {
        build_cluster();
        return;
    }
    query_control(control, "SELECT peer, rpc_address, data_center, tokens FROM system.peers",
                  [this, control](result<response> r2) { on_peers(control, std::move(r2), false); });
}

void session_impl::on_peers(std::shared_ptr<connection> control, result<response> r, bool retried) {
    if (closing()) {
        finish_bootstrap(make_failure(errc::stopped, "closed while connecting"));
        return;
    }
    const rows_result* rows = rows_in(r);
    if (rows == nullptr && !retried && r && control->ready()) {
        query_control(control, "SELECT * FROM system.peers",
                      [this, control](result<response> r2) { on_peers(control, std::move(r2), true); });
        return;
    }
    if (rows != nullptr) {
        const auto peer_col = column_index(*rows, "peer");
        const auto rpc_col = column_index(*rows, "rpc_address");
        const auto dc_col = column_index(*rows, "data_center");
        const auto tokens_col = column_index(*rows, "tokens");
        for (std::size_t i = 0; i < rows->rows.size(); ++i) {
            // rpc_address is where clients go; 0.0.0.0 (listen on all) means "use peer".
            auto address = inet_of(cell(*rows, i, rpc_col));
            if (!address || address->is_unspecified()) {
                address = inet_of(cell(*rows, i, peer_col));
            }
            if (!address) {
                continue;
            }
            peers_.push_back({*address, text_of(cell(*rows, i, dc_col)), tokens_of(cell(*rows, i, tokens_col))});
        }
    }
    build_cluster();
}

void session_impl::build_cluster() {
    auto first = std::move(bootstrap_host_);
    first->index = 0;
    first->datacenter = local_datacenter_;
    first->tokens = local_tokens_;
    const auto port = first->endpoint.port();
    const auto first_address = first->endpoint.address();
    hosts_.push_back(std::move(first));
    for (auto& p : peers_) {
        if (p.address == first_address || std::any_of(hosts_.begin(), hosts_.end(), [&](const auto& h) {
                return h->endpoint.address() == p.address;
            })) {
            continue;
        }
        auto h = std::make_unique<host>();
        h->index = hosts_.size();
        h->endpoint = tcp::endpoint(p.address, port);
        h->name = endpoint_text(h->endpoint);
        h->datacenter = p.datacenter;
        h->tokens = std::move(p.tokens);
        hosts_.push_back(std::move(h));
    }
    peers_.clear();

    std::vector<std::int64_t> all_tokens;
    for (const auto& h : hosts_) {
        for (const auto t : h->tokens) {
            ring_.emplace_back(t, h->index);
            all_tokens.push_back(t);
        }
    }
    std::sort(ring_.begin(), ring_.end());
    std::sort(all_tokens.begin(), all_tokens.end());
    all_tokens.erase(std::unique(all_tokens.begin(), all_tokens.end()), all_tokens.end());
    {
        std::lock_guard lock(ring_mutex_);
        ring_tokens_ = std::move(all_tokens);
    }
    hosts_count_.store(hosts_.size());

    for (auto& h : hosts_) {
        h->pool.resize(options_.connections_per_host);
        h->backoff.assign(options_.connections_per_host, options_.reconnect_min);
        h->reconnect_timers.clear();
        for (std::size_t i = 0; i < options_.connections_per_host; ++i) {
            h->reconnect_timers.push_back(std::make_unique<asio::steady_timer>(io_));
        }
    }
    update_hosts_up();
    // The control connection stays as the first connection of its host's pool.
    initial_pending_ = 1;  // held until every open below has started
    for (auto& h : hosts_) {
        for (std::size_t i = 0; i < h->pool.size(); ++i) {
            if (h->pool[i] && h->pool[i]->ready()) {
                continue;
            }
            ++initial_pending_;
            open_connection(*h, i, false);
        }
    }
    if (--initial_pending_ == 0) {
        finish_bootstrap(std::nullopt);
    }
}

void session_impl::open_connection(host& h, std::size_t slot, bool reconnect) {
    auto conn = std::make_shared<connection>(*this, h);
    h.pool[slot] = conn;
    conn->open([this, &h, slot, reconnect](result<bool> r) {
        if (!closing()) {
            if (r) {
                h.backoff[slot] = options_.reconnect_min;
                if (reconnect) {
                    reconnects_.fetch_add(1, std::memory_order_relaxed);
                }
                update_hosts_up();
                on_capacity(h);
                unpark_all();
            } else {
                schedule_reconnect(h, slot);
            }
        }
        if (!reconnect && initial_pending_ > 0 && --initial_pending_ == 0) {
            finish_bootstrap(std::nullopt);
        }
    });
}

void session_impl::schedule_reconnect(host& h, std::size_t slot) {
    if (closing()) {
        return;
    }
    const auto delay = h.backoff[slot];
    h.backoff[slot] = std::min(delay * 2, options_.reconnect_max);
    auto& timer = *h.reconnect_timers[slot];
    timer.expires_after(delay);
    timer.async_wait([this, &h, slot](const boost::system::error_code& ec) {
        if (ec || closing()) {
            return;
        }
        open_connection(h, slot, true);
    });
}

void session_impl::on_connection_lost(connection& c) {
    if (closing()) {
        return;
    }
    auto& h = c.owner();
    update_hosts_up();
    for (std::size_t i = 0; i < h.pool.size(); ++i) {
        // Before the cluster is built (a control connection lost during discovery) the
        // pools are opened afresh by build_cluster instead.
        if (h.pool[i].get() == &c && i < h.reconnect_timers.size()) {
            schedule_reconnect(h, i);
        }
    }
    on_capacity(h);
}

void session_impl::finish_bootstrap(std::optional<failure> why) {
    if (bootstrap_done_) {
        auto p = std::move(*bootstrap_done_);
        bootstrap_done_.reset();
        p.set_value(std::move(why));
    }
}

void session_impl::update_hosts_up() {
    std::size_t up = 0;
    for (const auto& h : hosts_) {
        if (h->up()) {
            ++up;
        }
    }
    hosts_up_.store(up, std::memory_order_relaxed);
}

// --- requests ----------------------------------------------------------------------------------

void session_impl::execute(statement s, response_callback done) {
    auto o = std::make_shared<op>();
    o->k = op::kind::statement;
    o->idempotent = s.idempotent;
    if (const auto key = derive_routing_key(s)) {
        o->token = murmur3_token(*key);
    }
    o->st = std::move(s);
    o->done = std::move(done);
    submit(std::move(o));
}

void session_impl::execute(cql::batch b, response_callback done) {
    auto o = std::make_shared<op>();
    o->k = op::kind::batch;
    o->idempotent = b.idempotent;
    auto key = b.routing_key;
    if (!key && !b.statements.empty()) {
        key = derive_routing_key(b.statements.front());
    }
    if (key) {
        o->token = murmur3_token(*key);
    }
    o->bt = std::move(b);
    o->done = std::move(done);
    submit(std::move(o));
}

void session_impl::prepare(std::string query, prepared_callback done) {
    auto o = std::make_shared<op>();
    o->k = op::kind::prepare;
    o->prepare_query = std::move(query);
    o->prepared_done = std::move(done);
    submit(std::move(o));
}

void session_impl::submit(op_ptr o) {
    {
        std::unique_lock lock(incoming_mutex_);
        if (closed_) {
            lock.unlock();
            fail(o, make_failure(errc::stopped, "the CQL session is closed"));
            return;
        }
        const bool first = incoming_.empty();
        incoming_.push_back(std::move(o));
        if (!first) {
            return;  // a drain is already posted and has not swapped yet
        }
    }
    asio::post(io_, [this] { drain_incoming(); });
}

void session_impl::drain_incoming() {
    {
        std::lock_guard lock(incoming_mutex_);
        std::swap(draining_, incoming_);
    }
    for (auto& o : draining_) {
        dispatch(o);
    }
    draining_.clear();
}

host* session_impl::pick_host(op& o) {
    const std::size_t n = hosts_.size();
    if (n == 0) {
        return nullptr;
    }
    if (!o.start_host) {
        if (o.token && options_.token_aware && !ring_.empty()) {
            // The owner: the first ring token >= the key's token, wrapping to the first.
            auto it = std::lower_bound(ring_.begin(), ring_.end(), std::make_pair(*o.token, std::size_t{0}));
            if (it == ring_.end()) {
                it = ring_.begin();
            }
            o.start_host = it->second;
        } else {
            o.start_host = round_robin_++ % n;
        }
    }
    for (std::size_t j = 0; j < n; ++j) {
        auto& h = *hosts_[(*o.start_host + o.attempt + j) % n];
        if (h.up()) {
            return &h;
        }
    }
    return nullptr;
}

void session_impl::dispatch(const op_ptr& o) {
    if (closing()) {
        fail(o, make_failure(errc::stopped, "the CQL session is closed"));
        return;
    }
    host* h = pick_host(*o);
    if (h == nullptr) {
        park(o);
        return;
    }
    connection* c = h->least_loaded();
    if (c == nullptr || !h->waiting.empty()) {
        h->waiting.push_back(o);  // every stream busy: first come, first served
        return;
    }
    send_on(o, *h, c->shared_from_this());
}

request session_impl::build_request(const op& o) const {
    switch (o.k) {
    case op::kind::prepare: return prepare_request{o.prepare_query};
    case op::kind::statement: {
        query_parameters params;
        params.consistency = o.st.consistency.value_or(options_.default_consistency);
        params.values = o.st.values;
        params.page_size = o.st.page_size;
        params.paging_state = o.st.paging_state;
        if (o.st.prepared) {
            return execute_request{effective_id(o, o.st.prepared->id), std::move(params)};
        }
        return query_request{o.st.query, std::move(params)};
    }
    case op::kind::batch: {
        batch_request b;
        b.type = o.bt.type;
        b.consistency = o.bt.consistency.value_or(options_.default_consistency);
        for (const auto& s : o.bt.statements) {
            batch_statement bs;
            bs.prepared = static_cast<bool>(s.prepared);
            bs.query_or_id = s.prepared ? effective_id(o, s.prepared->id) : s.query;
            bs.values = s.values;
            b.statements.push_back(std::move(bs));
        }
        return b;
    }
    }
    return options_request{};
}

std::string session_impl::effective_id(const op& o, const std::string& id) const {
    const auto it = o.id_override.find(id);
    return it == o.id_override.end() ? id : it->second;
}

void session_impl::send_on(const op_ptr& o, host& h, const std::shared_ptr<connection>& c) {
    c->send(
        build_request(*o), [this, o, &h, c](result<response> r) { on_answer(o, h, c, std::move(r)); }, true);
}

void session_impl::on_answer(const op_ptr& o, host& h, const std::shared_ptr<connection>& c, result<response> r) {
    if (!r) {
        retry_or_fail(o, r.error());
        return;
    }
    auto& resp = r.value();
    if (auto* res = std::get_if<result_response>(&resp)) {
        if (o->k == op::kind::prepare) {
            if (auto* p = std::get_if<prepared_result>(&res->body)) {
                auto ps = std::make_shared<prepared_statement>();
                ps->query = o->prepare_query;
                ps->id = std::move(p->id);
                ps->metadata = std::move(p->metadata);
                ps->result_metadata = std::move(p->result_metadata);
                complete_prepare(o, prepared_ptr(std::move(ps)));
            } else {
                complete_prepare(o, make_failure(errc::io_error,
                                                 fmt::format("{} answered PREPARE without a Prepared result", h.name)));
            }
            return;
        }
        complete(o, std::move(res->body));
        return;
    }
    if (auto* e = std::get_if<error_response>(&resp)) {
        if (e->code == error_code::unprepared && o->k != op::kind::prepare) {
            reprepare(o, h, c, e->unprepared_id);
            return;
        }
        retry_or_fail(o, map_server_error(*e, h.name));
        return;
    }
    fail(o, make_failure(errc::io_error, fmt::format("{} answered with unexpected opcode {}", h.name,
                                                     static_cast<int>(opcode_of(resp)))));
}

void session_impl::reprepare(const op_ptr& o, host& h, const std::shared_ptr<connection>& c, const std::string& id) {
    // Which statement the server forgot: the one whose id (as sent) it names.
    const statement* target = nullptr;
    std::size_t prepared_count = 0;
    auto consider = [&](const statement& s) {
        if (s.prepared) {
            ++prepared_count;
            if (target == nullptr && effective_id(*o, s.prepared->id) == id) {
                target = &s;
            }
        }
    };
    if (o->k == op::kind::statement) {
        consider(o->st);
    } else {
        for (const auto& s : o->bt.statements) {
            consider(s);
        }
    }
    if (target == nullptr || o->reprepares >= static_cast<int>(prepared_count) + 1) {
        fail(o, make_failure(errc::store_error,
                             fmt::format("UNPREPARED from {} for a statement that could not be re-prepared", h.name)));
        return;
    }
    ++o->reprepares;
    reprepares_.fetch_add(1, std::memory_order_relaxed);
    if (!c->ready()) {
        dispatch(o);
        return;
    }
    const std::string original_id = target->prepared->id;
    c->send(
        prepare_request{target->prepared->query},
        [this, o, &h, c, original_id](result<response> r) {
            if (!r) {
                retry_or_fail(o, r.error());
                return;
            }
            if (auto* e = std::get_if<error_response>(&r.value())) {
                retry_or_fail(o, map_server_error(*e, h.name));
                return;
            }
            auto* res = std::get_if<result_response>(&r.value());
            auto* p = res != nullptr ? std::get_if<prepared_result>(&res->body) : nullptr;
            if (p == nullptr) {
                fail(o, make_failure(errc::io_error,
                                     fmt::format("{} answered PREPARE without a Prepared result", h.name)));
                return;
            }
            if (p->id != original_id) {
                o->id_override[original_id] = p->id;
            }
            if (closing()) {
                fail(o, make_failure(errc::stopped, "the CQL session is closed"));
            } else if (c->ready()) {
                // Re-execute where it was prepared; not a retry.
                send_on(o, h, c);
            } else {
                dispatch(o);
            }
        },
        true);
}

void session_impl::retry_or_fail(const op_ptr& o, failure why) {
    if (closing()) {
        fail(o, make_failure(errc::stopped, "the CQL session is closed"));
        return;
    }
    if (!is_retriable(why.code) || !o->idempotent || o->retries >= options_.max_retries) {
        fail(o, why);
        return;
    }
    ++o->retries;
    ++o->attempt;  // the next host of the plan
    retries_.fetch_add(1, std::memory_order_relaxed);
    const auto delay = std::min(retry_backoff_base * (1 << std::min(o->retries - 1, 10)), retry_backoff_max);
    auto timer = std::make_shared<asio::steady_timer>(io_, delay);
    timer->async_wait([this, o, timer](const boost::system::error_code&) { dispatch(o); });
}

void session_impl::fail(const op_ptr& o, const failure& why) {
    if (o->k == op::kind::prepare) {
        complete_prepare(o, why);
    } else {
        complete(o, why);
    }
}

void session_impl::complete(const op_ptr& o, result<result_body> r) {
    if (o->finished) {
        return;
    }
    o->finished = true;
    requests_.fetch_add(1, std::memory_order_relaxed);
    if (!r) {
        failures_.fetch_add(1, std::memory_order_relaxed);
    }
    auto done = std::move(o->done);
    if (done) {
        done(std::move(r));
    }
}

void session_impl::complete_prepare(const op_ptr& o, result<prepared_ptr> r) {
    if (o->finished) {
        return;
    }
    o->finished = true;
    requests_.fetch_add(1, std::memory_order_relaxed);
    if (!r) {
        failures_.fetch_add(1, std::memory_order_relaxed);
    }
    auto done = std::move(o->prepared_done);
    if (done) {
        done(std::move(r));
    }
}

void session_impl::on_capacity(host& h) {
    if (closing()) {
        return;
    }
    while (!h.waiting.empty()) {
        connection* c = h.least_loaded();
        if (c == nullptr) {
            break;
        }
        auto o = std::move(h.waiting.front());
        h.waiting.pop_front();
        send_on(o, h, c->shared_from_this());
    }
    if (!h.waiting.empty() && !h.up()) {
        // The host went down with requests queued: none were sent, so any host may take them.
        auto waiting = std::move(h.waiting);
        h.waiting.clear();
        for (auto& o : waiting) {
            dispatch(o);
        }
    }
}

void session_impl::park(const op_ptr& o) {
    const auto wait = options_.request_timeout.count() > 0 ? options_.request_timeout : options_.connect_timeout;
    o->park_deadline = steady::now() + wait;
    parked_.push_back(o);
    arm_park_timer();
}

void session_impl::arm_park_timer() {
    if (park_armed_ || parked_.empty()) {
        return;
    }
    park_armed_ = true;
    park_timer_.expires_at(parked_.front()->park_deadline);
    park_timer_.async_wait([this](const boost::system::error_code& ec) {
        park_armed_ = false;
        if (ec || closing()) {
            return;
        }
        const auto now = steady::now();
        while (!parked_.empty() && parked_.front()->park_deadline <= now) {
            auto o = std::move(parked_.front());
            parked_.pop_front();
            std::string names;
            for (const auto& h : hosts_) {
                names += names.empty() ? h->name : ", " + h->name;
            }
            fail(o, make_failure(errc::unavailable, fmt::format("no host reachable (of {})", names)));
        }
        arm_park_timer();
    });
}

void session_impl::unpark_all() {
    if (parked_.empty()) {
        return;
    }
    auto parked = std::move(parked_);
    parked_.clear();
    for (auto& o : parked) {
        dispatch(o);
    }
}

// --- observation and shutdown ------------------------------------------------------------------

std::vector<std::pair<std::int64_t, std::int64_t>> session_impl::token_ranges() const {
    constexpr auto lowest = std::numeric_limits<std::int64_t>::min();
    constexpr auto highest = std::numeric_limits<std::int64_t>::max();
    std::lock_guard lock(ring_mutex_);
    std::vector<std::pair<std::int64_t, std::int64_t>> out;
    if (ring_tokens_.empty()) {
        out.emplace_back(lowest, highest);
        return out;
    }
    // The wrapping range (last, first] becomes (lowest, first] and (last, highest].
    // Murmur3 never yields `lowest`, so excluding it loses no key.
    out.emplace_back(lowest, ring_tokens_.front());
    for (std::size_t i = 1; i < ring_tokens_.size(); ++i) {
        out.emplace_back(ring_tokens_[i - 1], ring_tokens_[i]);
    }
    if (ring_tokens_.back() != highest) {
        out.emplace_back(ring_tokens_.back(), highest);
    }
    return out;
}

session_stats session_impl::stats() const {
    session_stats s;
    s.requests = requests_.load(std::memory_order_relaxed);
    s.retries = retries_.load(std::memory_order_relaxed);
    s.timeouts = timeouts_.load(std::memory_order_relaxed);
    s.reprepares = reprepares_.load(std::memory_order_relaxed);
    s.reconnects = reconnects_.load(std::memory_order_relaxed);
    s.failures = failures_.load(std::memory_order_relaxed);
    s.hosts_up = hosts_up_.load(std::memory_order_relaxed);
    s.in_flight = in_flight_.load(std::memory_order_relaxed);
    s.hosts = hosts_count_.load(std::memory_order_relaxed);
    return s;
}

void session_impl::close() {
    auto begin = [this] {
        {
            std::lock_guard lock(incoming_mutex_);
            if (closed_) {
                return;
            }
            closed_ = true;
        }
        closing_.store(true);
        asio::post(io_, [this] { shutdown(); });
    };
    if (on_io_thread()) {
        // Cannot join ourselves: start the shutdown; the destructor joins.
        begin();
        return;
    }
    std::lock_guard lock(close_mutex_);
    begin();
    if (thread_.joinable()) {
        work_.reset();
        thread_.join();
    }
}

void session_impl::shutdown() {
    const auto stopped = make_failure(errc::stopped, "the CQL session is closed");
    std::vector<op_ptr> incoming;
    {
        std::lock_guard lock(incoming_mutex_);
        incoming.swap(incoming_);
    }
    for (auto& o : incoming) {
        fail(o, stopped);
    }
    park_timer_.cancel();
    auto parked = std::move(parked_);
    parked_.clear();
    for (auto& o : parked) {
        fail(o, stopped);
    }
    auto close_host = [&](host& h) {
        for (auto& t : h.reconnect_timers) {
            t->cancel();
        }
        auto waiting = std::move(h.waiting);
        h.waiting.clear();
        for (auto& o : waiting) {
            fail(o, stopped);
        }
        for (auto& c : h.pool) {
            if (c) {
                c->close(stopped);
            }
        }
    };
    if (bootstrap_host_) {
        close_host(*bootstrap_host_);
    }
    for (auto& h : hosts_) {
        close_host(*h);
    }
    update_hosts_up();
    finish_bootstrap(stopped);
}

}  // namespace

// --- session (base) -----------------------------------------------------------------------------

void session_options::validate() const {
    if (contact_points.empty()) {
        throw error(errc::invalid_config, "cql session_options.contact_points: at least one is needed");
    }
    for (const auto& cp : contact_points) {
        if (!parse_contact_point(cp, default_port)) {
            throw error(
                errc::invalid_config,
                fmt::format("cql session_options.contact_points: '{}' is not host, host:port or [v6]:port", cp));
        }
    }
    if (default_port == 0) {
        throw error(errc::invalid_config, "cql session_options.default_port: must not be 0");
    }
    if (connections_per_host == 0) {
        throw error(errc::invalid_config, "cql session_options.connections_per_host: must be at least 1");
    }
    if (max_in_flight_per_connection == 0 || max_in_flight_per_connection > max_streams) {
        throw error(errc::invalid_config, "cql session_options.max_in_flight_per_connection: must be in 1..32768");
    }
    if (connect_timeout.count() <= 0) {
        throw error(errc::invalid_config, "cql session_options.connect_timeout: must be positive");
    }
    if (request_timeout.count() < 0) {
        throw error(errc::invalid_config, "cql session_options.request_timeout: must not be negative (0 = none)");
    }
    if (reconnect_min.count() <= 0 || reconnect_max < reconnect_min) {
        throw error(errc::invalid_config,
                    "cql session_options.reconnect_min/max: need 0 < reconnect_min <= reconnect_max");
    }
    if (max_retries < 0) {
        throw error(errc::invalid_config, "cql session_options.max_retries: must not be negative");
    }
}

std::shared_ptr<session> session::connect(session_options options) {
    options.validate();
    auto s = std::make_shared<session_impl>(std::move(options));
    s->start();
    return s;
}

namespace {
template <typename T, typename Start>
result<T> wait_for(bool on_io_thread, Start&& start) {
    if (on_io_thread) {
        return result<T>(errc::invalid_config, "cql session: a blocking call from the I/O thread would deadlock");
    }
    std::promise<result<T>> promise;
    auto future = promise.get_future();
    start([&promise](result<T> r) { promise.set_value(std::move(r)); });
    return future.get();
}
}  // namespace

result<result_body> session::execute_sync(statement s) {
    return wait_for<result_body>(on_io_thread(),
                                 [&](response_callback done) { execute(std::move(s), std::move(done)); });
}

result<result_body> session::execute_sync(batch b) {
    return wait_for<result_body>(on_io_thread(),
                                 [&](response_callback done) { execute(std::move(b), std::move(done)); });
}

result<prepared_ptr> session::prepare_sync(std::string query) {
    return wait_for<prepared_ptr>(on_io_thread(),
                                  [&](prepared_callback done) { prepare(std::move(query), std::move(done)); });
}

}  // namespace rtcrm::detail::cql
