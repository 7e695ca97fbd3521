// The CQL session's I/O side: one I/O thread, discovery at connect, a pool of connections
// per host with reconnects, and the hand-over of requests to the I/O thread. Everything
// below `session_impl`'s public entry points runs on the I/O thread, so the state of hosts,
// connections and requests needs no locks; only the hand-over queue, the counters and the
// ring's tokens are shared with other threads.
// What needs no I/O compiles without Asio: query plans in cql_router.cpp, a request's life
// in cql_request.cpp, the cluster as the system tables describe it in cql_topology.cpp.
#include "cql/cql_connection.hpp"
#include "cql/cql_request.hpp"
#include "cql/cql_router.hpp"
#include "cql/cql_session.hpp"
#include "cql/cql_topology.hpp"

#include <rtcrm/core/error.hpp>

#include <fmt/format.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <atomic>
#include <future>
#include <mutex>
#include <thread>
#include <variant>

namespace rtcrm::detail::cql {

namespace {

class session_impl final : public session, private connection_listener, private router_io {
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
    // connection_listener
    void on_connection_lost(connection& c) override;
    void on_capacity(host& h) override { router_.on_capacity(h); }
    // router_io
    void after(std::chrono::milliseconds delay, std::function<void()> fn) override {
        auto timer = std::make_shared<asio::steady_timer>(io_, delay);
        timer->async_wait([timer, fn = std::move(fn)](const boost::system::error_code&) { fn(); });
    }
    void arm_park_timer(steady::time_point at) override {
        park_timer_.expires_at(at);
        park_timer_.async_wait([this](const boost::system::error_code& ec) { router_.on_park_timer(!ec); });
    }

    [[nodiscard]] bool closing() const noexcept { return closing_.load(std::memory_order_relaxed); }
    std::shared_ptr<connection> make_connection(tcp_host& h) {
        connection_listener& listener = *this;
        return std::make_shared<tcp_connection>(io_, options_, counters_, listener, h);
    }

    void submit(op_ptr o);
    void drain_incoming();

    void bootstrap_next();
    void discover(const std::shared_ptr<connection>& control);
    // Reads a system table on the control connection, at consistency ONE, asking again with
    // `query_all` (every column) where the server does not know the column list of `query`.
    // `then` gets the rows, or nullptr; it does not run once the session is closing.
    void read_system_table(std::shared_ptr<connection> control, std::string_view query, std::string_view query_all,
                           std::function<void(const rows_result*)> then);
    void build_cluster();
    void open_connection(tcp_host& h, std::size_t slot, bool reconnect);
    void schedule_reconnect(tcp_host& h, std::size_t slot);
    void finish_bootstrap(std::optional<failure> why);
    void update_hosts_up();
    void shutdown();

    session_options options_;
    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> work_;
    // Stopped by close() (the destructor calls it): the shutdown is posted and the work
    // guard dropped, so run() returns once the connections are closed, then it is joined.
    std::jthread thread_;
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
    std::unique_ptr<tcp_host> bootstrap_host_;
    std::vector<std::unique_ptr<tcp_host>> hosts_;
    asio::steady_timer park_timer_;
    node_info local_;
    std::vector<node_info> peers_;
    std::size_t initial_pending_ = 0;
    std::optional<std::promise<std::optional<failure>>> bootstrap_done_;

    // Shared with other threads.
    mutable std::mutex ring_mutex_;
    std::vector<std::int64_t> ring_tokens_;  // sorted, distinct
    session_counters counters_;

    request_router router_{options_, counters_, closing_, *this};
};

session_impl::session_impl(session_options options)
    : options_(std::move(options)), work_(asio::make_work_guard(io_)), park_timer_(io_) {}

session_impl::~session_impl() { close(); }

// --- connecting and discovery ------------------------------------------------------------------

void session_impl::start() {
    contacts_ = resolve_contact_points(io_, options_);

    std::promise<std::optional<failure>> promise;
    auto future = promise.get_future();
    bootstrap_done_.emplace(std::move(promise));
    asio::post(io_, [this] { bootstrap_next(); });
    thread_ = std::jthread([this] {
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
    bootstrap_host_ = std::make_unique<tcp_host>();
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
        discover(conn);
    });
}

void session_impl::discover(const std::shared_ptr<connection>& control) {
    read_system_table(control, local_query, local_query_all, [this, control](const rows_result* local) {
        if (const auto node = local != nullptr ? local_node(*local) : std::nullopt) {
            local_ = *node;
        }
        if (!options_.discover_peers || !control->ready()) {
            build_cluster();
            return;
        }
        read_system_table(control, peers_query, peers_query_all, [this](const rows_result* peers) {
            if (peers != nullptr) {
                peers_ = peer_nodes(*peers);
            }
            build_cluster();
        });
    });
}

void session_impl::read_system_table(std::shared_ptr<connection> control, std::string_view query,
                                     std::string_view query_all, std::function<void(const rows_result*)> then) {
    query_request q{.query = std::string(query), .params = {}};
    q.params.consistency = consistency::one;
    auto on_answer = [this, control, query_all, then = std::move(then)](result<response> r) {
        if (closing()) {
            finish_bootstrap(make_failure(errc::stopped, "closed while connecting"));
            return;
        }
        const rows_result* rows = rows_in(r);
        if (rows == nullptr && !query_all.empty() && r && control->ready()) {
            read_system_table(control, query_all, {}, then);
            return;
        }
        then(rows);
    };
    control->send(q, std::move(on_answer), true);
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
        auto h = std::make_unique<tcp_host>();
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
    token_ring ring(std::move(entries));
    {
        std::lock_guard lock(ring_mutex_);
        ring_tokens_ = ring.tokens();
    }
    std::vector<host*> routed;
    for (const auto& h : hosts_) {
        routed.push_back(h.get());
    }
    router_.set_cluster(std::move(routed), std::move(ring));
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

void session_impl::open_connection(tcp_host& h, std::size_t slot, bool reconnect) {
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
                router_.unpark_all();
            } else {
                schedule_reconnect(h, slot);
            }
        }
        if (!reconnect && initial_pending_ > 0 && --initial_pending_ == 0) {
            finish_bootstrap(std::nullopt);
        }
    });
}

void session_impl::schedule_reconnect(tcp_host& h, std::size_t slot) {
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
    auto& h = static_cast<tcp_host&>(c.owner());  // every host of this session is one
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
            router_.fail(o, closed_failure());
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
        router_.dispatch(o);
    }
    draining_.clear();
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
        router_.fail(o, stopped);
    }
    park_timer_.cancel();
    router_.fail_parked(stopped);
    auto close_host = [&](tcp_host& h) {
        for (auto& t : h.reconnect_timers) {
            t->cancel();
        }
        auto waiting = std::move(h.waiting);
        h.waiting.clear();
        for (auto& o : waiting) {
            router_.fail(o, stopped);
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
