#include "runtime_impl.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>

namespace rtcrm {

stop_report runtime::impl::report(bool stopped) {
    stop_report r;
    r.stopped = stopped;
    const auto seen = state.now();
    for (std::size_t i = 0; i < topo.sources().size(); ++i) {
        const auto& src = topo.sources()[i];
        const bool ended = seen.sources_ended[i];
        source_drain d;
        d.name = std::string{src->name()};
        d.closed = ended || !seen.started;
        if (ended) {
            d.failure = sources[i]->failure();
        }
        if (src.get() == submit) {
            d.read = submit->taken();
            d.unacked = submit->queued();
            d.nacked = submit->nacked();
        } else {
            d.read = ingests[i]->counters().events_in.load(std::memory_order_relaxed) + sources[i]->abandoned();
            d.unacked = ended ? sources[i]->unacked() : 0;
            d.nacked = ingests[i]->counters().nacked.load(std::memory_order_relaxed);
        }
        r.sources.push_back(std::move(d));
    }
    const auto now = steady_now_ns();
    for (std::uint32_t s = 0; s < parts.shards; ++s) {
        if (seen.started && !seen.shards_ended[s]) {
            r.unfinished.push_back(inspector.health_of(s, false, now));
        }
    }
    runtime_stats totals;
    std::array<std::uint64_t, detail::stage_counters::reasons> reasons{};
    detail::pipeline_parts::sum(ingests, totals, reasons);
    detail::pipeline_parts::sum(shards, totals, reasons);
    if (submit != nullptr) {
        totals.events_in += submit->taken();
    }
    const auto finished = totals.processed + totals.dropped + totals.dead_lettered + totals.replayed;
    r.in_flight = totals.events_in > finished ? totals.events_in - finished : 0;
    if (committer) {
        r.unstored = committer->unstored();
        r.store_failure = committer->given_up_reason();
    }
    return r;
}

bool stop_report::clean() const noexcept {
    return stopped && unstored == 0 && std::all_of(sources.begin(), sources.end(), [](const source_drain& s) {
               return s.closed && s.unacked == 0 && s.nacked == 0 && s.failure.empty();
           });
}

std::string stop_report::summary() const {
    std::string out;
    auto line = std::back_inserter(out);
    for (const auto& h : unfinished) {
        fmt::format_to(line, "shard {} did not finish{}: {}\n", h.shard,
                       h.stuck ? ", stuck for " + detail::duration_text(h.busy_for) : "",
                       h.doing.empty() ? "waiting for work" : h.doing);
    }
    if (!stopped && in_flight > 0) {
        fmt::format_to(line, "{} events read and not processed (in the shards' queues or their current step)\n",
                       in_flight);
    }
    if (unstored > 0) {
        fmt::format_to(line, "{} events processed and not stored (the store's writes were given up at the drain deadline; "
                             "not committed): {}\n",
                       unstored, store_failure);
    }
    for (const auto& s : sources) {
        if (!s.failure.empty()) {
            fmt::format_to(line, "source {} failed after {} records: {}\n", s.name, s.read, s.failure);
        }
        if (!s.closed) {
            fmt::format_to(
                line,
                "source {}: {} read; its thread did not end (in poll, commit or close): what it committed is unknown\n",
                s.name, s.read);
        } else if (s.unacked > 0 || s.nacked > 0) {
            fmt::format_to(line,
                           "source {}: {} read; not committed: {} still in flight at the drain timeout, {} failed\n",
                           s.name, s.read, s.unacked, s.nacked);
        }
    }
    return out;
}

}  // namespace rtcrm
