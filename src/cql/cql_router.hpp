/// @file cql_router.hpp
/// The CQL session's query plans, without the I/O: which host a request goes to (the
/// owner of its token, else round-robin), waiting for a free stream or for a host to come
/// up, answers, re-preparing after UNPREPARED, and retries on the next host.
///
/// Everything here runs on the session's I/O thread; timers are the I/O side's
/// (`router_io`).
///
/// Caveats:
/// - A request that finds no host up is parked until one comes up or its wait
///   (request_timeout, else connect_timeout) is over, then fails with `unavailable`.
#pragma once

#include "cql/cql_host.hpp"
#include "cql/cql_request.hpp"
#include "cql/cql_session.hpp"
#include "cql/cql_topology.hpp"

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace rtcrm::detail::cql {

/// What the router asks of the session's I/O side.
class router_io {
public:
    /// Runs `fn` on the I/O thread after `delay`, also while the session closes.
    virtual void after(std::chrono::milliseconds delay, std::function<void()> fn) = 0;
    /// Calls `request_router::on_park_timer` at `at`: with true then, with false when the
    /// timer is cancelled or the session is closing.
    virtual void arm_park_timer(std::chrono::steady_clock::time_point at) = 0;

protected:
    ~router_io() = default;
};

/// Routes requests over the hosts of one session.
class request_router {
public:
    /// Everything passed must outlive the router.
    request_router(const session_options& options, session_counters& counters, const std::atomic<bool>& closing,
                   router_io& io)
        : options_(options), counters_(counters), closing_(closing), io_(io) {}

    /// The hosts (owned by the session) and their ring, once discovered.
    void set_cluster(std::vector<host*> hosts, token_ring ring);

    /// Sends `o` on the next host of its plan that is up, queues it there when every
    /// stream is busy, parks it when no host is up; fails it once the session is closing.
    void dispatch(const op_ptr& o);
    /// Sends what waits on `h` as far as its connections can take it; when `h` is down,
    /// dispatches it again (none of it was sent, so any host may take it).
    void on_capacity(host& h);
    /// Dispatches every parked request again (a connection came up).
    void unpark_all();
    /// The park timer armed through `router_io` fired (`fired`) or was cancelled.
    void on_park_timer(bool fired);
    /// Fails every parked request with `why` (the session is shutting down).
    void fail_parked(const failure& why);
    /// Fails `o` with `why`.
    void fail(const op_ptr& o, const failure& why) { cql::fail(*o, why, counters_); }

private:
    [[nodiscard]] bool closing() const noexcept { return closing_.load(std::memory_order_relaxed); }
    host* pick_host(op& o);
    void send_on(const op_ptr& o, host& h, const std::shared_ptr<connection>& c);
    void on_answer(const op_ptr& o, host& h, const std::shared_ptr<connection>& c, result<response> r);
    void reprepare(const op_ptr& o, host& h, const std::shared_ptr<connection>& c, const std::string& id);
    void on_reprepared(const op_ptr& o, host& h, const std::shared_ptr<connection>& c, const std::string& original_id,
                       result<response> r);
    void retry_or_fail(const op_ptr& o, const failure& why);
    void park(const op_ptr& o);
    void arm_park_timer();

    const session_options& options_;
    session_counters& counters_;
    const std::atomic<bool>& closing_;
    router_io& io_;
    std::vector<host*> hosts_;
    token_ring ring_;
    std::size_t round_robin_ = 0;
    std::deque<op_ptr> parked_;  // no host up: waiting for one, until park_deadline
    bool park_armed_ = false;
};

}  // namespace rtcrm::detail::cql
