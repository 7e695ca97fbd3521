/// @file archive_bolt.hpp
/// The ingest bolt that feeds the event archive: it emits each event's raw bytes, exactly
/// as received, on `stream::archive` (with the event's time, which picks the day file),
/// and lets the event go on.
///
/// Add it after the validation bolt, so the archive holds exactly the events that passed
/// validation (timer events never pass the ingest bolts, so they are not archived), and
/// bind an `archive_sink` to `stream::archive`:
/// @code
///   t.add_ingest_bolt(rtcrm::validation_bolt::factory({.schema_dir = "schemas"}))
///    .add_ingest_bolt(rtcrm::archive_bolt::factory())
///    .add_sink(rtcrm::stream::archive, std::make_shared<rtcrm::archive_sink>(rtcrm::archive_sink_options{.dir = "archive"}));
/// @endcode
/// The emitted output holds a share of the event's ack, so the event is committed only
/// once the archive acked it (its frame was written).
#pragma once

#include <rtcrm/core/bolt.hpp>

namespace rtcrm {

/// Emits each event's raw bytes on `stream::archive`. Stateless.
class archive_bolt final : public bolt {
public:
    /// A factory of archive bolts (one per shard).
    static bolt_factory factory();

    /// "archive".
    [[nodiscard]] std::string_view name() const noexcept override { return "archive"; }
    void process(std::span<event> batch, bolt_context& ctx) override;
};

}  // namespace rtcrm
