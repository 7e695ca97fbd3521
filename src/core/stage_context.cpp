#include "stage_context.hpp"

#include "dead_letter.hpp"

#include <fmt/format.h>

namespace rtcrm::detail {

void stage_context::emit(event& cause, stream to, std::string body) {
    outputs_->add(output{to, cause.player(), std::move(body), cause.ack().share(), cause.ingest_ns(), cause.ts()});
    stage_counters::bump(counters_->outputs[static_cast<std::size_t>(to)]);
}

void stage_context::reject(event& ev, errc code, std::string_view reason) {
    if (current_ != nullptr) {
        const auto i = index_of(ev);
        if (i >= fates_.size() || fates_[i] != fate::live) {
            return;  // not in this batch, or already rejected or dropped
        }
        fates_[i] = fate::rejected;
        ++removed_;
    }
    const auto& names = *source_names_;
    const std::string_view source_name = ev.origin().source < names.size() ? std::string_view{names[ev.origin().source]} : "";
    outputs_->add(output{stream::dead_letter, ev.player(), dead_letter_body(code, reason, source_name, ev.origin(), ev.raw()),
                         ev.ack().share(), ev.ingest_ns()});
    stage_counters::bump(counters_->dead_lettered);
    stage_counters::bump(counters_->by_reason[stage_counters::reason_slot(code)]);
    stage_counters::bump(counters_->outputs[static_cast<std::size_t>(stream::dead_letter)]);
    ev.ack().ack();
}

void stage_context::drop(event& ev) {
    if (current_ != nullptr) {
        const auto i = index_of(ev);
        if (i >= fates_.size() || fates_[i] != fate::live) {
            return;
        }
        fates_[i] = fate::dropped;
        ++removed_;
    }
    stage_counters::bump(counters_->dropped);
    ev.ack().ack();
}

void stage_context::run(std::vector<std::unique_ptr<bolt>>& bolts, std::vector<event>& batch,
                        shard_activity::part group) {
    for (std::size_t k = 0; k < bolts.size(); ++k) {
        auto& b = bolts[k];
        if (batch.empty()) {
            return;
        }
        const activity_scope in_bolt(group == shard_activity::part::none ? nullptr : activity_, group,
                                     static_cast<std::uint32_t>(k));
        current_ = batch.data();
        fates_.assign(batch.size(), fate::live);
        removed_ = 0;
        try {
            b->process(std::span<event>{batch}, *this);
        } catch (const std::exception& e) {
            stage_counters::bump(counters_->handler_errors);
            const auto reason = fmt::format("bolt {} threw: {}", b->name(), e.what());
            for (auto& ev : batch) {
                reject(ev, errc::handler_failed, reason);
            }
        } catch (...) {
            stage_counters::bump(counters_->handler_errors);
            const auto reason = fmt::format("bolt {} threw a non-standard exception", b->name());
            for (auto& ev : batch) {
                reject(ev, errc::handler_failed, reason);
            }
        }
        current_ = nullptr;
        if (removed_ > 0) {
            retain_if(batch, [&](const event&, std::size_t i) { return fates_[i] == fate::live; });
        }
    }
}

}  // namespace rtcrm::detail
