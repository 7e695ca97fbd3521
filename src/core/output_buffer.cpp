#include "output_buffer.hpp"

#include "logging.hpp"

namespace rtcrm::detail {

void output_buffer::dispatch() {
    for (std::size_t s = 0; s < stream_count; ++s) {
        auto& pending = pending_[s];
        if (pending.empty()) {
            continue;
        }
        const auto& sinks = (*sinks_)[s];
        if (sinks.empty()) {
            // Nobody listens on this stream: the outputs are done with.
            for (auto& out : pending) {
                out.ack.ack();
            }
            pending.clear();
            continue;
        }
        // Every sink but the last gets copies with their own ack shares; the last takes
        // the originals. An output is complete when every sink acked its copy.
        for (std::size_t k = 0; k < sinks.size(); ++k) {
            const bool last = k + 1 == sinks.size();
            if (!last) {
                copies_.clear();
                copies_.reserve(pending.size());
                for (const auto& out : pending) {
                    copies_.push_back(output{out.stream, out.player, out.body, out.ack.share(), out.ingest_ns, out.event_ts});
                }
            }
            auto& batch = last ? pending : copies_;
            const activity_scope in_sink(activity_, shard_activity::part::sink, shard_activity::sink_index(s, k));
            try {
                sinks[k]->consume(batch);
            } catch (const std::exception& e) {
                // Outputs the sink did not take are nacked when `batch` is cleared below,
                // so their events are not committed; the pipeline goes on.
                stage_counters::bump(counters_->handler_errors);
                log_fmt(log_level::error, "runtime", "sink {} failed: {}", sinks[k]->name(), e.what());
            }
            batch.clear();
        }
    }
}

}  // namespace rtcrm::detail
