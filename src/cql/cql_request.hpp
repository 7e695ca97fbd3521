/// @file cql_request.hpp
/// One request's life inside the CQL session, without the I/O: what is sent for it, which
/// token routes it, how a server error maps onto rtcrm::errc, whether and when a failed
/// attempt is retried, which statement an UNPREPARED names, and how the request completes.
/// The query plans (cql_router.hpp) drive these on the session's I/O thread.
///
/// Caveats:
/// - Nothing here is synchronised except `session_counters`: an `op` belongs to the I/O
///   thread once submitted.
#pragma once

#include "cql/cql_session.hpp"

#include <rtcrm/core/result.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace rtcrm::detail::cql {

/// The session's counters: written by the I/O thread (and `submit` callers), read by
/// `session::stats()` from any thread.
struct session_counters {
    std::atomic<std::uint64_t> requests{0};    ///< requests completed
    std::atomic<std::uint64_t> retries{0};     ///< attempts made again
    std::atomic<std::uint64_t> timeouts{0};    ///< attempts that hit request_timeout
    std::atomic<std::uint64_t> reprepares{0};  ///< UNPREPARED answered by re-preparing
    std::atomic<std::uint64_t> reconnects{0};  ///< connections re-established
    std::atomic<std::uint64_t> failures{0};    ///< requests failed after retries
    std::atomic<std::size_t> hosts_up{0};      ///< hosts with an open connection
    std::atomic<std::size_t> in_flight{0};     ///< requests sent and not answered yet
    std::atomic<std::size_t> hosts{0};         ///< hosts known

    /// Adds `delta` (negative to subtract) to `in_flight`.
    void add_in_flight(std::ptrdiff_t delta) noexcept {
        in_flight.fetch_add(static_cast<std::size_t>(delta), std::memory_order_relaxed);
    }
    /// A snapshot of every counter.
    [[nodiscard]] session_stats snapshot() const noexcept;
};

/// A failure with an rtcrm code.
failure make_failure(errc code, std::string reason);
/// The failure every request gets once the session is closing.
failure closed_failure();
/// How a server ERROR maps onto rtcrm::errc (see cql_session.hpp's Caveats); `where` names
/// the host in the reason.
failure map_server_error(const error_response& e, const std::string& where);

/// One request (a statement, a batch or a PREPARE) from `session::execute`/`prepare` until
/// its callback has run.
struct op {
    enum class kind { statement, batch, prepare };
    kind k = kind::statement;
    statement st;               ///< kind::statement
    cql::batch bt;              ///< kind::batch
    std::string prepare_query;  ///< kind::prepare
    response_callback done;            ///< statement and batch
    prepared_callback prepared_done;   ///< prepare
    bool idempotent = true;  ///< may be retried
    int retries = 0;         ///< attempts made again so far
    int reprepares = 0;      ///< UNPREPARED answered so far
    std::optional<std::int64_t> token;      ///< the routing key's token, when there is one
    std::optional<std::size_t> start_host;  ///< the first host of its plan, once chosen
    std::size_t attempt = 0;                ///< how far along the plan (hosts after start_host)
    /// Prepared ids that a re-prepare on some host answered differently.
    std::map<std::string, std::string> id_override;
    std::chrono::steady_clock::time_point park_deadline;  ///< when waiting for a host gives up
    bool finished = false;                                ///< the callback has run (or is running)
};
/// How requests are handed around (callbacks of connections and timers keep them alive).
using op_ptr = std::shared_ptr<op>;

/// A statement's request, routed by its key's token.
op_ptr make_op(statement s, response_callback done);
/// A batch's request, routed by its own key or else its first statement's.
op_ptr make_op(batch b, response_callback done);
/// A PREPARE, routed round-robin.
op_ptr make_prepare_op(std::string query, prepared_callback done);

/// The request to send for `o` now (prepared ids as overridden by re-prepares), with
/// `default_consistency` where the statement has none.
request build_request(const op& o, consistency default_consistency);

/// The prepared statement a Prepared result of `o` (a PREPARE) describes.
prepared_ptr prepared_from(const op& o, prepared_result&& p);

/// The statement of `o` whose id (as sent) is `id`, to re-prepare after an UNPREPARED; null
/// when there is none, or when `o` was re-prepared more often than it has prepared
/// statements (the server keeps forgetting).
const statement* unprepared_target(const op& o, const std::string& id);

/// After a failed attempt: the backoff before the next attempt (on the next host of the
/// plan), counted in `o`; nullopt when `why` is not retriable, `o` is not idempotent or has
/// used its `max_retries`.
std::optional<std::chrono::milliseconds> retry_delay(op& o, const failure& why, int max_retries);

/// Runs a statement's or batch's callback with `r` (once: later calls do nothing) and
/// counts it.
void complete(op& o, result<result_body> r, session_counters& counters);
/// Runs a PREPARE's callback with `r` (once) and counts it.
void complete_prepare(op& o, result<prepared_ptr> r, session_counters& counters);
/// Fails `o` with `why`, whatever its kind.
void fail(op& o, const failure& why, session_counters& counters);

}  // namespace rtcrm::detail::cql
