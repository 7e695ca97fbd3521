#include "cql/cql_request.hpp"

#include "cql/cql_values.hpp"

#include <rtcrm/core/error.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <string_view>
#include <utility>
#include <vector>

namespace rtcrm::detail::cql {

namespace {

// Retry backoff: short, since a retry usually goes to another host.
constexpr std::chrono::milliseconds retry_backoff_base{2};
constexpr std::chrono::milliseconds retry_backoff_max{100};

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

std::string effective_id(const op& o, const std::string& id) {
    const auto it = o.id_override.find(id);
    return it == o.id_override.end() ? id : it->second;
}

// Counts a completion and hands back the callback to run, or null once `o` has completed.
template <typename Callback>
Callback finish(op& o, Callback& callback, bool ok, session_counters& counters) {
    if (o.finished) {
        return nullptr;
    }
    o.finished = true;
    counters.requests.fetch_add(1, std::memory_order_relaxed);
    if (!ok) {
        counters.failures.fetch_add(1, std::memory_order_relaxed);
    }
    return std::move(callback);
}

}  // namespace

session_stats session_counters::snapshot() const noexcept {
    session_stats s;
    s.requests = requests.load(std::memory_order_relaxed);
    s.retries = retries.load(std::memory_order_relaxed);
    s.timeouts = timeouts.load(std::memory_order_relaxed);
    s.reprepares = reprepares.load(std::memory_order_relaxed);
    s.reconnects = reconnects.load(std::memory_order_relaxed);
    s.failures = failures.load(std::memory_order_relaxed);
    s.hosts_up = hosts_up.load(std::memory_order_relaxed);
    s.in_flight = in_flight.load(std::memory_order_relaxed);
    s.hosts = hosts.load(std::memory_order_relaxed);
    return s;
}

failure make_failure(errc code, std::string reason) { return failure{make_error_code(code), std::move(reason)}; }

failure closed_failure() { return make_failure(errc::stopped, "the CQL session is closed"); }

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

op_ptr make_op(statement s, response_callback done) {
    auto o = std::make_shared<op>();
    o->k = op::kind::statement;
    o->idempotent = s.idempotent;
    if (const auto key = derive_routing_key(s)) {
        o->token = murmur3_token(*key);
    }
    o->st = std::move(s);
    o->done = std::move(done);
    return o;
}

op_ptr make_op(batch b, response_callback done) {
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
    return o;
}

op_ptr make_prepare_op(std::string query, prepared_callback done) {
    auto o = std::make_shared<op>();
    o->k = op::kind::prepare;
    o->prepare_query = std::move(query);
    o->prepared_done = std::move(done);
    return o;
}

request build_request(const op& o, consistency default_consistency) {
    switch (o.k) {
    case op::kind::prepare: return prepare_request{o.prepare_query};
    case op::kind::statement: {
        query_parameters params;
        params.consistency = o.st.consistency.value_or(default_consistency);
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
        b.consistency = o.bt.consistency.value_or(default_consistency);
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

prepared_ptr prepared_from(const op& o, prepared_result&& p) {
    auto ps = std::make_shared<prepared_statement>();
    ps->query = o.prepare_query;
    ps->id = std::move(p.id);
    ps->metadata = std::move(p.metadata);
    ps->result_metadata = std::move(p.result_metadata);
    return ps;
}

const statement* unprepared_target(const op& o, const std::string& id) {
    // Which statement the server forgot: the one whose id (as sent) it names.
    const statement* target = nullptr;
    std::size_t prepared_count = 0;
    auto consider = [&](const statement& s) {
        if (s.prepared) {
            ++prepared_count;
            if (target == nullptr && effective_id(o, s.prepared->id) == id) {
                target = &s;
            }
        }
    };
    if (o.k == op::kind::statement) {
        consider(o.st);
    } else {
        for (const auto& s : o.bt.statements) {
            consider(s);
        }
    }
    if (o.reprepares >= static_cast<int>(prepared_count) + 1) {
        return nullptr;
    }
    return target;
}

std::optional<std::chrono::milliseconds> retry_delay(op& o, const failure& why, int max_retries) {
    if (!is_retriable(why.code) || !o.idempotent || o.retries >= max_retries) {
        return std::nullopt;
    }
    ++o.retries;
    ++o.attempt;  // the next host of the plan
    return std::min(retry_backoff_base * (1 << std::min(o.retries - 1, 10)), retry_backoff_max);
}

void complete(op& o, result<result_body> r, session_counters& counters) {
    if (auto done = finish(o, o.done, r.ok(), counters)) {
        done(std::move(r));
    }
}

void complete_prepare(op& o, result<prepared_ptr> r, session_counters& counters) {
    if (auto done = finish(o, o.prepared_done, r.ok(), counters)) {
        done(std::move(r));
    }
}

void fail(op& o, const failure& why, session_counters& counters) {
    if (o.k == op::kind::prepare) {
        complete_prepare(o, why, counters);
    } else {
        complete(o, why, counters);
    }
}

}  // namespace rtcrm::detail::cql
