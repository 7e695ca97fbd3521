#include "cql/cql_router.hpp"

#include <rtcrm/core/error.hpp>

#include <fmt/format.h>

#include <utility>
#include <variant>

namespace rtcrm::detail::cql {

void request_router::set_cluster(std::vector<host*> hosts, token_ring ring) {
    hosts_ = std::move(hosts);
    ring_ = std::move(ring);
}

host* request_router::pick_host(op& o) {
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

void request_router::dispatch(const op_ptr& o) {
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

void request_router::send_on(const op_ptr& o, host& h, const std::shared_ptr<connection>& c) {
    c->send(
        build_request(*o, options_.default_consistency),
        [this, o, &h, c](result<response> r) { on_answer(o, h, c, std::move(r)); }, true);
}

void request_router::on_answer(const op_ptr& o, host& h, const std::shared_ptr<connection>& c, result<response> r) {
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

void request_router::reprepare(const op_ptr& o, host& h, const std::shared_ptr<connection>& c, const std::string& id) {
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
    c->send(
        prepare_request{target->prepared->query},
        [this, o, &h, c, original_id = target->prepared->id](result<response> r) {
            on_reprepared(o, h, c, original_id, std::move(r));
        },
        true);
}

void request_router::on_reprepared(const op_ptr& o, host& h, const std::shared_ptr<connection>& c,
                                   const std::string& original_id, result<response> r) {
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
        fail(o, make_failure(errc::io_error, fmt::format("{} answered PREPARE without a Prepared result", h.name)));
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
}

void request_router::retry_or_fail(const op_ptr& o, const failure& why) {
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
    io_.after(*delay, [this, o] { dispatch(o); });
}

void request_router::on_capacity(host& h) {
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

void request_router::park(const op_ptr& o) {
    const auto wait = options_.request_timeout.count() > 0 ? options_.request_timeout : options_.connect_timeout;
    o->park_deadline = std::chrono::steady_clock::now() + wait;
    parked_.push_back(o);
    arm_park_timer();
}

void request_router::arm_park_timer() {
    if (park_armed_ || parked_.empty()) {
        return;
    }
    park_armed_ = true;
    io_.arm_park_timer(parked_.front()->park_deadline);
}

void request_router::on_park_timer(bool fired) {
    park_armed_ = false;
    if (!fired || closing()) {
        return;
    }
    const auto now = std::chrono::steady_clock::now();
    while (!parked_.empty() && parked_.front()->park_deadline <= now) {
        auto o = std::move(parked_.front());
        parked_.pop_front();
        std::string names;
        for (const auto* h : hosts_) {
            names += names.empty() ? h->name : ", " + h->name;
        }
        fail(o, make_failure(errc::unavailable, fmt::format("no host reachable (of {})", names)));
    }
    arm_park_timer();
}

void request_router::unpark_all() {
    if (parked_.empty()) {
        return;
    }
    auto parked = std::move(parked_);
    parked_.clear();
    for (auto& o : parked) {
        dispatch(o);
    }
}

void request_router::fail_parked(const failure& why) {
    auto parked = std::move(parked_);
    parked_.clear();
    for (auto& o : parked) {
        fail(o, why);
    }
}

}  // namespace rtcrm::detail::cql
