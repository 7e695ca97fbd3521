// The CQL session's I/O side: one I/O thread, a pool of connections per host, the query
// plan of every request. Everything below `session_impl`'s public entry points runs on the
// I/O thread, so the state of hosts, connections and requests needs no locks; only the
// hand-over queue, the counters and the ring's tokens are shared with other threads.
// What needs no I/O is in cql_request.cpp (a request's life) and cql_topology.cpp (the
// cluster as the system tables describe it), which compile without Asio.
#include "cql/cql_connection.hpp"
#include "cql/cql_request.hpp"
#include "cql/cql_session.hpp"
#include "cql/cql_topology.hpp"

#include <rtcrm/error.hpp>

#include <fmt/format.h>
#include <boost/asio.hpp>

#include <algorithm>
#include <atomic>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <variant>

namespace rtcrm::detail::cql {

namespace {

std::string endpoint_text(const tcp::endpoint& ep) {
    if (ep.address().is_v6()) {
        return fmt::format("[{}]:{}", ep.address().to_string(), ep.port());
    }
    return fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

// A node's [inet] bytes (4 or 16, as node_info holds them) as an address.
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

class session_impl final : public session, private connection_listener {
public:
    explicit session_impl(session_options options);
    ~session_impl() override;
    session_impl(const session_impl&) = delete;
    session_impl& operator=(const session_impl&) = delete;

    // The blocking part of connect(): throws when no contact point can be used.
    void start();

    void execute(statement s, response_callback done) override { submit(make_op(std::move(s), std::move(done))); }
    void execute(cql::batch b, response_callback done) override { submit(make_op(std::move(b), std::move(done))); }
    void prepare(std::string query, prepared_callback done) override {
        submit(make_prepare_op(std::move(query), std::move(done)));
    }
    [[nodiscard]] std::vector<std::pair<std::int64_t, std::int64_t>> token_ranges() const override {
        std::lock_guard lock(ring_mutex_);
        return cql::token_ranges(ring_tokens_);
    }
    [[nodiscard]] session_stats stats() const override { return counters_.snapshot(); }
    void close() override;

    [[nodiscard]] bool on_io_thread() const noexcept override {
        return std::this_thread::get_id() == io_thread_id_.load(std::memory_order_relaxed);
    }

private:
    struct contact {
        std::string text;
        std::optional<tcp::endpoint> endpoint;
        std::string error;  // why it could not be resolved or used
    };

    // connection_listener
    void on_connection_lost(connection& c) override;
    void on_capacity(host& h) override;

    [[nodiscard]] bool closing() const noexcept { return closing_.load(std::memory_order_relaxed); }
    std::shared_ptr<connection> make_connection(host& h) {
        connection_listener& listener = *this;
        return std::make_shared<connection>(io_, options_, counters_, listener, h);
    }

    void submit(op_ptr o);
    void drain_incoming();
    void dispatch(const op_ptr& o);
    host* pick_host(op& o);
    void send_on(const op_ptr& o, host& h, const std::shared_ptr<connection>& c);
    void on_answer(const op_ptr& o, host& h, const std::shared_ptr<connection>& c, result<response> r);
    void reprepare(const op_ptr& o, host& h, const std::shared_ptr<connection>& c, const std::string& id);
    void retry_or_fail(const op_ptr& o, const failure& why);
    void fail(const op_ptr& o, const failure& why) { cql::fail(*o, why, counters_); }
    void park(const op_ptr& o);
    void unpark_all();
    void arm_park_timer();

    void bootstrap_next();
    void on_local(std::shared_ptr<connection> control, result<response> r, bool retried);
    void on_peers(std::shared_ptr<connection> control, result<response> r, bool retried);
    // Sends a system-table query on the control connection, at consistency ONE.
    void query_control(const std::shared_ptr<connection>& control, std::string_view query, response_handler then);
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
    token_ring ring_;
    std::size_t round_robin_ = 0;
    std::deque<op_ptr> parked_;  // no host up: waiting for one, until park_deadline
    asio::steady_timer park_timer_;
    bool park_armed_ = false;
    node_info local_;
    std::vector<node_info> peers_;
    std::size_t initial_pending_ = 0;
    std::optional<std::promise<std::optional<failure>>> bootstrap_done_;

    // Shared with other threads.
    mutable std::mutex ring_mutex_;
    std::vector<std::int64_t> ring_tokens_;  // sorted, distinct
    session_counters counters_;
};

session_impl::session_impl(session_options options)
    : options_(std::move(options)), work_(asio::make_work_guard(io_)), park_timer_(io_) {}

session_impl::~session_impl() { close(); }

// --- connecting and discovery ------------------------------------------------------------------

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
    auto conn = make_connection(*bootstrap_host_);
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
        query_control(conn, local_query, [this, conn](result<response> r2) { on_local(conn, std::move(r2), false); });
    });
}

void session_impl::query_control(const std::shared_ptr<connection>& control, std::string_view query,
                                 response_handler then) {
    query_request q{.query = std::string(query), .params = {}};
    q.params.consistency = consistency::one;
    control->send(q, std::move(then), true);
}

void session_impl::on_local(std::shared_ptr<connection> control, result<response> r, bool retried) {
    if (closing()) {
        finish_bootstrap(make_failure(errc::stopped, "closed while connecting"));
        return;
    }
    const rows_result* rows = rows_in(r);
    if (rows == nullptr && !retried && r && control->ready()) {
        // A server that does not know the column list: ask for every column.
        query_control(control, local_query_all,
                      [this, control](result<response> r2) { on_local(control, std::move(r2), true); });
        return;
    }
    if (const auto local = rows != nullptr ? local_node(*rows) : std::nullopt) {
        local_ = *local;
    }
    if (!options_.discover_peers || !control->ready()) {
        build_cluster();
        return;
    }
    query_control(control, peers_query,
                  [this, control](result<response> r2) { on_peers(control, std::move(r2), false); });
}

void session_impl::on_peers(std::shared_ptr<connection> control, result<response> r, bool retried) {
    if (closing()) {
        finish_bootstrap(make_failure(errc::stopped, "closed while connecting"));
        return;
    }
    const rows_result* rows = rows_in(r);
    if (rows == nullptr && !retried && r && control->ready()) {
        query_control(control, peers_query_all,
                      [this, control](result<response> r2) { on_peers(control, std::move(r2), true); });
        return;
    }
    if (rows != nullptr) {
        peers_ = peer_nodes(*rows);
    }
    build_cluster();
}

void session_impl::build_cluster() {
    auto first = std::move(bootstrap_host_);
    first->index = 0;
    first->datacenter = local_.datacenter;
    first->tokens = local_.tokens;
    const auto port = first->endpoint.port();
    hosts_.push_back(std::move(first));
    for (auto& p : peers_) {
        const auto address = address_of(p.address);
        if (std::any_of(hosts_.begin(), hosts_.end(), [&](const auto& h) { return h->endpoint.address() == address; })) {
            continue;
        }
        auto h = std::make_unique<host>();
        h->index = hosts_.size();
        h->endpoint = tcp::endpoint(address, port);
        h->name = endpoint_text(h->endpoint);
        h->datacenter = p.datacenter;
        h->tokens = std::move(p.tokens);
        hosts_.push_back(std::move(h));
    }
    peers_.clear();

    std::vector<std::pair<std::int64_t, std::size_t>> entries;
    for (const auto& h : hosts_) {
        for (const auto t : h->tokens) {
            entries.emplace_back(t, h->index);
        }
    }
    ring_ = token_ring(std::move(entries));
    {
        std::lock_guard lock(ring_mutex_);
        ring_tokens_ = ring_.tokens();
    }
    counters_.hosts.store(hosts_.size());

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
    auto conn = make_connection(h);
    h.pool[slot] = conn;
    conn->open([this, &h, slot, reconnect](result<bool> r) {
        if (!closing()) {
            if (r) {
                h.backoff[slot] = options_.reconnect_min;
                if (reconnect) {
                    counters_.reconnects.fetch_add(1, std::memory_order_relaxed);
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
    const auto up = std::count_if(hosts_.begin(), hosts_.end(), [](const auto& h) { return h->up(); });
    counters_.hosts_up.store(static_cast<std::size_t>(up), std::memory_order_relaxed);
}

// --- requests ----------------------------------------------------------------------------------

void session_impl::submit(op_ptr o) {
    {
        std::unique_lock lock(incoming_mutex_);
        if (closed_) {
            lock.unlock();
            fail(o, closed_failure());
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
            o.start_host = ring_.owner(*o.token);
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
        fail(o, closed_failure());
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

void session_impl::send_on(const op_ptr& o, host& h, const std::shared_ptr<connection>& c) {
    c->send(
        build_request(*o, options_.default_consistency),
        [this, o, &h, c](result<response> r) { on_answer(o, h, c, std::move(r)); }, true);
}

void session_impl::on_answer(const op_ptr& o, host& h, const std::shared_ptr<connection>& c, result<response> r) {
    if (!r) {
        retry_or_fail(o, r.error());
        return;
    }
    auto& resp = r.value();
    if (auto* res = std::get_if<result_response>(&resp)) {
        if (o->k != op::kind::prepare) {
            complete(*o, std::move(res->body), counters_);
        } else if (auto* p = std::get_if<prepared_result>(&res->body)) {
            complete_prepare(*o, prepared_from(*o, std::move(*p)), counters_);
        } else {
            fail(o, make_failure(errc::io_error, fmt::format("{} answered PREPARE without a Prepared result", h.name)));
        }
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
    const statement* target = unprepared_target(*o, id);
    if (target == nullptr) {
        fail(o, make_failure(errc::store_error,
                             fmt::format("UNPREPARED from {} for a statement that could not be re-prepared", h.name)));
        return;
    }
    ++o->reprepares;
    counters_.reprepares.fetch_add(1, std::memory_order_relaxed);
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
                fail(o, closed_failure());
            } else if (c->ready()) {
                // Re-execute where it was prepared; not a retry.
                send_on(o, h, c);
            } else {
                dispatch(o);
            }
        },
        true);
}

void session_impl::retry_or_fail(const op_ptr& o, const failure& why) {
    if (closing()) {
        fail(o, closed_failure());
        return;
    }
    const auto delay = retry_delay(*o, why, options_.max_retries);
    if (!delay) {
        fail(o, why);
        return;
    }
    counters_.retries.fetch_add(1, std::memory_order_relaxed);
    auto timer = std::make_shared<asio::steady_timer>(io_, *delay);
    timer->async_wait([this, o, timer](const boost::system::error_code&) { dispatch(o); });
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

// --- shutdown ----------------------------------------------------------------------------------

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
    const auto stopped = closed_failure();
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

std::shared_ptr<session> session::connect(session_options options) {
    options.validate();
    auto s = std::make_shared<session_impl>(std::move(options));
    s->start();
    return s;
}

}  // namespace rtcrm::detail::cql
