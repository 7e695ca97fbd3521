#include <rtcrm/core/test_driver.hpp>

#include "ingest_stage.hpp"
#include "pipeline.hpp"
#include "shard_stage.hpp"
#include "topology_defaults.hpp"

#include <mutex>

namespace rtcrm {
namespace {

// Captures every output of one stream, and acks it, for `read`.
class capture_sink final : public sink {
public:
    [[nodiscard]] std::string_view name() const noexcept override { return "test_driver"; }
    void consume(std::span<output> batch) override {
        for (auto& out : batch) {
            bodies.push_back(std::move(out.body));
            out.ack.ack();
        }
    }
    std::vector<std::string> bodies;
};

}  // namespace

struct topology_test_driver::impl {
    topology topo;
    // Declared before `parts`: its initialiser fills them in.
    std::array<std::shared_ptr<capture_sink>, stream_count> captures;
    detail::pipeline_parts parts;
    std::unique_ptr<detail::ingest_stage> ingest;
    std::vector<std::unique_ptr<detail::shard_stage>> shards;
    std::vector<record> records;
    std::vector<detail::router::batch> per_shard;
    std::int64_t next_offset = 0;

    static topology& with_captures(topology& t, std::array<std::shared_ptr<capture_sink>, stream_count>& captures) {
        for (std::size_t s = 0; s < stream_count; ++s) {
            captures[s] = std::make_shared<capture_sink>();
            t.add_sink(static_cast<stream>(s), captures[s]);
        }
        return t;
    }

    explicit impl(topology t) : topo(std::move(t)), parts(detail::with_defaults(with_captures(topo, captures)), 1) {
        ingest = std::make_unique<detail::ingest_stage>(0, parts.options, parts.source_names, parts.shards,
                                                        parts.store->durable());
        for (std::uint32_t i = 0; i < parts.shards; ++i) {
            shards.push_back(std::make_unique<detail::shard_stage>(
                i, parts.options, parts.make_bolts(topo.ingest_bolts(), i, parts.shards, false),
                parts.make_bolts(topo.shard_bolts(), i, parts.shards, true), parts.sinks, parts.source_names, parts.store));
        }
        per_shard.resize(parts.shards);
    }
};

topology_test_driver::topology_test_driver(topology topo) : impl_(std::make_unique<impl>(std::move(topo))) {}

topology_test_driver::~topology_test_driver() {
    for (auto& s : impl_->shards) {
        s->finish();
    }
}

void topology_test_driver::pipe(std::string bytes) {
    record rec{std::move(bytes), std::nullopt, {}};
    rec.origin.offset = impl_->next_offset;
    pipe(std::move(rec));
}

void topology_test_driver::pipe(record rec) {
    auto& d = *impl_;
    if (rec.origin.offset >= d.next_offset) {
        d.next_offset = rec.origin.offset + 1;
    }
    d.records.clear();
    d.records.push_back(std::move(rec));
    const auto taken = d.ingest->process(d.records, 0, d.per_shard);
    if (taken == 0) {
        throw error(errc::queue_full, "topology_test_driver: max_in_flight events unacked");
    }
    for (std::uint32_t s = 0; s < d.parts.shards; ++s) {
        if (!d.per_shard[s].empty()) {
            d.shards[s]->process(d.per_shard[s]);
        }
    }
    fire_due();
    d.ingest->advance();
}

void topology_test_driver::advance_time(std::int64_t ms) {
    for (auto& s : impl_->shards) {
        s->advance_clock(ms);
    }
    fire_due();
}

void topology_test_driver::fire_due() {
    // What the shard threads do between batches, until nothing more is due (bounded: a
    // handler re-arming its timer at the clock without end stops after a few rounds).
    for (auto& s : impl_->shards) {
        for (int round = 0; round < 100'000 && s->fire_due_timers(impl_->parts.options.timer_batch); ++round) {
        }
    }
}

std::vector<pending_timer> topology_test_driver::timers_of(const player_key& player) const {
    const auto p = profile_of(player);
    return p ? p->timers() : std::vector<pending_timer>{};
}

std::vector<std::string> topology_test_driver::read(stream s) {
    return std::exchange(impl_->captures[static_cast<std::size_t>(s)]->bodies, {});
}

std::optional<profile> topology_test_driver::profile_of(const player_key& player) const {
    const auto& shard = impl_->shards[player.shard(impl_->parts.shards)];
    if (const auto* p = shard->find(player)) {
        return *p;
    }
    // Not cached (never seen, or evicted): ask the store.
    std::vector<player_key> keys{player};
    std::vector<std::optional<profile>> out(1);
    if (!impl_->parts.store->get(keys, out)) {
        return std::nullopt;
    }
    return std::move(out[0]);
}

void topology_test_driver::flush() {
    for (auto& s : impl_->shards) {
        s->tick(std::chrono::steady_clock::now());
        s->write_back();
    }
}

std::optional<std::int64_t> topology_test_driver::committed(std::int32_t partition) {
    impl_->ingest->advance();
    return impl_->ingest->position(partition);
}

runtime_stats topology_test_driver::stats() const {
    runtime_stats s;
    std::array<std::uint64_t, detail::stage_counters::reasons> reasons{};
    impl_->ingest->counters().add_to(s, reasons);
    detail::pipeline_parts::sum(impl_->shards, s, reasons);
    detail::pipeline_parts::finish_reasons(s, reasons);
    s.nacked = impl_->ingest->counters().nacked.load();
    s.shards = impl_->parts.shards;
    s.queue_depth.assign(s.shards, 0);
    return s;
}

}  // namespace rtcrm
