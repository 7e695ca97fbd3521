#include "shard_health.hpp"

#include <fmt/format.h>

#include <exception>

namespace rtcrm::detail {

std::string duration_text(std::chrono::nanoseconds d) {
    if (d < std::chrono::seconds(1)) {
        return fmt::format("{} ms", std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
    }
    return fmt::format("{:.1f} s", std::chrono::duration<double>(d).count());
}

std::string shard_inspector::describe(std::uint32_t s) const {
    using part = shard_activity::part;
    const auto& stage = *(*shards_)[s];
    const auto where = stage.activity().now();
    const auto& ingest = stage.ingest_bolts();
    const auto& bolts = stage.shard_bolts();
    const auto& sinks = *sinks_;
    auto bolt_name = [](const std::vector<std::unique_ptr<bolt>>& group, std::uint32_t k) {
        return k < group.size() ? std::string{group[k]->name()} : std::string{"?"};
    };
    auto sink_name = [&](std::uint32_t index) {
        const auto stream_index = index >> 16;
        const auto k = index & 0xffffU;
        if (stream_index >= sinks.size() || k >= sinks[stream_index].size()) {
            return std::string{"sink ?"};
        }
        return fmt::format("sink '{}' (stream {})", sinks[stream_index][k]->name(),
                           stream_name(static_cast<stream>(stream_index)));
    };
    const bolt* in_bolt = nullptr;
    std::string text;
    switch (where.what) {
    case part::none:
    case part::batch: text = "the runtime's own work on a batch (parsing, history, acks)"; break;
    case part::ingest_bolt:
        text = fmt::format("ingest bolt '{}'", bolt_name(ingest, where.index));
        in_bolt = where.index < ingest.size() ? ingest[where.index].get() : nullptr;
        break;
    case part::loading_profiles: text = fmt::format("reading profiles from store '{}'", store_->name()); break;
    case part::shard_bolt:
        text = fmt::format("shard bolt '{}'", bolt_name(bolts, where.index));
        in_bolt = where.index < bolts.size() ? bolts[where.index].get() : nullptr;
        break;
    case part::sink: text = sink_name(where.index); break;
    case part::storing: text = fmt::format("writing profiles to store '{}'", store_->name()); break;
    case part::bolt_tick:
        text = fmt::format("tick of bolt '{}'",
                           where.index < ingest.size()
                               ? bolt_name(ingest, where.index)
                               : bolt_name(bolts, static_cast<std::uint32_t>(where.index - ingest.size())));
        break;
    case part::sink_flush: text = "flush of " + sink_name(where.index); break;
    case part::admin_task: text = "an admin request (a profile read, or a copy of the unwritten profiles for a scan)"; break;
    case part::finishing: text = "the final flush (waiting for the store's group commit)"; break;
    }
    // The first bolt with something to say; it may not be the part above (a Lua bolt
    // names the handler a tick or a scan is in).
    for (const auto* group : {&ingest, &bolts}) {
        for (const auto& b : *group) {
            std::string says;
            try {
                says = b->activity();
            } catch (const std::exception& e) {
                says = fmt::format("(activity() threw: {})", e.what());
            }
            if (says.empty()) {
                continue;
            }
            if (b.get() == in_bolt) {
                return fmt::format("{}: {}", text, says);
            }
            return fmt::format("{}; bolt '{}': {}", text, b->name(), says);
        }
    }
    return text;
}

bool shard_inspector::stuck(std::uint32_t s, std::int64_t now_ns) const noexcept {
    const auto since = busy_since(s);
    return since != 0 && stuck_after_.count() > 0 && std::chrono::nanoseconds(now_ns - since) >= stuck_after_;
}

rtcrm::shard_health shard_inspector::health_of(std::uint32_t s, bool done, std::int64_t now_ns) const {
    rtcrm::shard_health h;
    h.shard = s;
    h.finished = done;
    const auto since = busy_since(s);
    if (since == 0 || now_ns <= since) {
        return h;
    }
    const auto busy = std::chrono::nanoseconds(now_ns - since);
    h.busy_for = std::chrono::duration_cast<std::chrono::milliseconds>(busy);
    h.stuck = stuck_after_.count() > 0 && busy >= stuck_after_;
    h.doing = describe(s);
    return h;
}

}  // namespace rtcrm::detail
