// Internal: the bolt_context bolts see on a shard: what they emit goes to the batch's
// output buffer, what they reject is dead-lettered, and each bolt of a group runs over
// the events the previous ones left.
#pragma once

#include "output_buffer.hpp"
#include "shard_activity.hpp"
#include "stage_counters.hpp"

#include <rtcrm/core/bolt.hpp>
#include <rtcrm/core/topology.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace rtcrm::detail {

// Keeps the events for which `keep(event&, index)` is true, in order (the predicate may
// complete the others: reject, ack).
template <typename Keep>
void retain_if(std::vector<event>& batch, Keep&& keep) {
    std::size_t kept = 0;
    for (std::size_t i = 0; i < batch.size(); ++i) {
        if (!keep(batch[i], i)) {
            continue;
        }
        if (kept != i) {
            batch[kept] = std::move(batch[i]);
        }
        ++kept;
    }
    batch.resize(kept);
}

// The bolt_context of one stage. Keeps the per-event fate of the current batch in a
// side vector (indexed by position in the batch), so events need no state field.
class stage_context : public bolt_context {
public:
    stage_context(std::uint32_t worker, const runtime_options& options, const std::vector<std::string>& source_names,
                  output_buffer& outputs, stage_counters& counters, shard_activity* activity = nullptr)
        : worker_(worker),
          options_(&options),
          source_names_(&source_names),
          outputs_(&outputs),
          counters_(&counters),
          activity_(activity) {}

    void emit(event& cause, stream to, std::string body) override;
    void reject(event& ev, errc code, std::string_view reason) override;
    void drop(event& ev) override;
    profile* profile_of(const event&) override { return nullptr; }
    [[nodiscard]] std::uint32_t worker() const noexcept override { return worker_; }
    [[nodiscard]] const profile_limits& limits() const noexcept override { return options_->limits; }

    // Runs every bolt over `batch`, removing rejected and dropped events between bolts.
    // Afterwards `batch` holds the live events, in their original order; rejected and
    // dropped events have been counted and their own ack shares released. `group` names
    // the bolts' part of the step in the activity (if any).
    void run(std::vector<std::unique_ptr<bolt>>& bolts, std::vector<event>& batch,
             shard_activity::part group = shard_activity::part::none);

protected:
    enum class fate : std::uint8_t { live, dropped, rejected };
    // The event's index in the current batch, or fates_.size() if it is not in it. The
    // range test uses std::less, which orders unrelated pointers without undefined behaviour.
    std::size_t index_of(const event& ev) const noexcept {
        const std::less<const event*> before;
        if (before(&ev, current_) || !before(&ev, current_ + fates_.size())) {
            return fates_.size();
        }
        return static_cast<std::size_t>(&ev - current_);
    }

    std::uint32_t worker_;
    const runtime_options* options_;
    const std::vector<std::string>* source_names_;
    output_buffer* outputs_;
    stage_counters* counters_;
    shard_activity* activity_;
    event* current_ = nullptr;
    std::vector<fate> fates_;
    std::size_t removed_ = 0;
};

}  // namespace rtcrm::detail
