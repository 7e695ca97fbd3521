#include "runtime_impl.hpp"

#include "logging.hpp"
#include "shard_runner.hpp"
#include "thread_name.hpp"
#include "topology_defaults.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <future>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

namespace rtcrm {

namespace {

// With submission on, the submit source joins the topology as its last source.
topology with_submit_source(topology t, detail::submit_source*& submit) {
    submit = nullptr;
    if (const auto capacity = t.options().submit_capacity; capacity > 0) {
        auto src = std::make_unique<detail::submit_source>(capacity);
        submit = src.get();
        t.add_source(std::move(src));
    }
    return t;
}

detail::submit_source& submit_source_of(detail::submit_source* submit) {
    if (submit == nullptr) {
        throw error(errc::invalid_config, "runtime::submit: submission is off (set runtime_options::submit_capacity)");
    }
    return *submit;
}

}  // namespace

runtime::impl::impl(topology t)
    : topo(with_submit_source(std::move(t), submit)),
      parts(detail::with_defaults(topo), topo.sources().size()),
      state(static_cast<std::uint32_t>(topo.sources().size()), parts.shards),
      inspector(shards, parts.sinks, *parts.store, parts.options.stuck_after) {
    if (topo.sources().empty()) {
        throw error(errc::invalid_config, "runtime: the topology has no source");
    }
    const auto count = static_cast<std::uint32_t>(topo.sources().size());
    for (std::uint32_t i = 0; i < count; ++i) {
        ingests.push_back(std::make_unique<detail::ingest_stage>(i, parts.options, parts.source_names, parts.shards,
                                                                 topo.sources()[i]->resumable() && parts.store->durable()));
    }
    if (parts.store->durable()) {
        // Two submissions per shard may wait: one being written, one filling up.
        // Failing writes are given up at the drain deadline, so a stop (or the drain
        // after the sources' end) stays within drain_timeout.
        committer = std::make_unique<detail::store_committer>(parts.store, 2 * parts.shards, parts.options.drain_timeout,
                                                              [this] { return state.drain_deadline(); });
    }
    for (std::uint32_t i = 0; i < parts.shards; ++i) {
        shards.push_back(std::make_unique<detail::shard_stage>(
            i, parts.options, parts.make_bolts(topo.ingest_bolts(), i, parts.shards, false),
            parts.make_bolts(topo.shard_bolts(), i, parts.shards, true), parts.sinks, parts.source_names, parts.store,
            committer.get()));
    }
    queues = std::make_unique<detail::router>(parts.shards, count, parts.options.queue_batches);
    if (submit != nullptr) {
        // Host threads hand submitted records straight to the shards' lanes and wake
        // the shard (see submit_source.hpp).
        submit->bind(count - 1, parts.shards, parts.options, [this](std::uint32_t s) { queues->nudge(s); });
    }
    for (std::uint32_t i = 0; i < parts.shards; ++i) {
        mailboxes.push_back(std::make_unique<detail::shard_mailbox>());
    }
    for (std::uint32_t i = 0; i < count; ++i) {
        auto& src = *topo.sources()[i];
        auto forget = [this, i](std::span<const std::int32_t> partitions, std::chrono::milliseconds timeout) {
            return forget_profiles(i, partitions, timeout);
        };
        sources.push_back(std::make_unique<detail::source_runner>(i, src, *ingests[i], parts.options, parts.shards, *queues,
                                                                  *parts.store, state, &src == submit, forget));
    }
}

runtime::impl::~impl() {
    if (committer) {
        committer->stop();
    }
}

bool runtime::impl::forget_profiles(std::uint32_t source, std::span<const std::int32_t> partitions,
                                    std::chrono::milliseconds timeout) {
    if (partitions.empty()) {
        return true;
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const auto& name = parts.source_names[source];
    auto forget = [name, wanted = std::vector<std::int32_t>(partitions.begin(), partitions.end())](
                      detail::shard_stage& stage) { stage.forget_partitions(name, wanted); };
    // Posted to every shard first, then awaited: the shards do it at the same time.
    std::vector<std::future<void>> answers;
    for (std::uint32_t s = 0; s < parts.shards; ++s) {
        if (state.if_shard_idle(s, [&] { forget(*shards[s]); })) {
            continue;
        }
        auto done = std::make_shared<std::promise<void>>();
        answers.push_back(done->get_future());
        mailboxes[s]->post([forget, done](detail::shard_stage& stage) {
            forget(stage);
            done->set_value();
        });
        queues->nudge(s);
    }
    bool all = true;
    for (auto& answer : answers) {
        all = answer.wait_until(deadline) == std::future_status::ready && all;
    }
    if (!all) {
        detail::log_fmt(log_level::warning, "runtime",
                        "source {}: a shard did not drop the cached profiles of {} given-up partitions within {} ms; "
                        "it drops them when it gets there",
                        name, partitions.size(), timeout.count());
    }
    return all;
}

void runtime::impl::join() {
    if (!state.begin_join()) {
        return;
    }
    watchdog.stop();
    sweeper.stop();
    if (committer) {
        committer->stop();  // the shards waited for their last write-backs already
    }
    for (auto& t : threads) {
        if (t.joinable()) {
            t.join();
        }
    }
    // Every shard is done: sinks complete what they still hold while the trackers live.
    std::vector<sink*> closed;
    for (const auto& bound : parts.sinks) {
        for (const auto& snk : bound) {
            if (std::find(closed.begin(), closed.end(), snk.get()) == closed.end()) {
                closed.push_back(snk.get());
                try {
                    snk->close();
                } catch (const std::exception& e) {
                    detail::log_fmt(log_level::warning, "runtime", "sink {} failed to close: {}", snk->name(), e.what());
                }
            }
        }
    }
}

void runtime::impl::abandon() {
    watchdog.stop();
    sweeper.abandon();  // it may be waiting for the same stuck store
    for (auto& t : threads) {
        if (t.joinable()) {
            t.detach();
        }
    }
}

runtime::runtime(topology topo) : impl_(std::make_unique<impl>(std::move(topo))) {}

runtime::~runtime() {
    std::vector<std::jthread> stoppers;
    {
        std::lock_guard lock(impl_->stoppers_mutex);
        stoppers.swap(impl_->stoppers);
    }
    stoppers.clear();  // joins them: each runs stop() to its end
    if (!stop().stopped) {
        impl_->abandon();
#if defined(__SANITIZE_ADDRESS__)
        __lsan_ignore_object(impl_.get());  // kept on purpose, not leaked by mistake
#endif
        (void)impl_.release();  // see the header: a stuck thread still uses it
    }
}

void runtime::start() {
    auto& d = *impl_;
    if (const auto& sched = d.parts.options.shard_scheduling; sched.policy != thread_policy::inherit) {
        // Ask the kernel on a thread of its own first, so a refusal (no privilege for
        // SCHED_FIFO) is this call's error, before anything runs.
        std::exception_ptr refused;
        std::jthread([&] {
            try {
                apply_to_this_thread(sched);
            } catch (...) {
                refused = std::current_exception();
            }
        }).join();
        if (refused) {
            std::rethrow_exception(refused);
        }
    }
    if (!d.state.mark_started()) {
        throw error(errc::invalid_config, "runtime: start() called twice");
    }
    auto& store = *d.parts.store;
    for (std::size_t i = 0; i < d.topo.sources().size(); ++i) {
        auto& src = *d.topo.sources()[i];
        if (src.resumable() && store.durable()) {
            std::vector<source_position> mine;
            for (auto& pos : store.positions()) {
                if (pos.source == src.name()) {
                    mine.push_back(std::move(pos));
                }
            }
            if (!mine.empty()) {
                src.resume(mine);
            }
        }
        src.attach(d.sources[i]->control());
        src.open();  // throws: nothing is running yet
    }
    const auto sources = static_cast<std::uint32_t>(d.topo.sources().size());
    d.state.set_running(sources + d.parts.shards);
    // The threads hold the impl, not `this`: a stuck one may outlive the runtime object
    // (see ~runtime).
    auto* p = impl_.get();
    for (std::uint32_t i = 0; i < p->parts.shards; ++i) {
        p->threads.emplace_back([p, i] {
            detail::name_this_thread(fmt::format("rtcrm-shard{}", i));
            try {
                apply_to_this_thread(p->parts.options.shard_scheduling);
            } catch (const std::exception& e) {
                // start()'s probe was allowed; the limits changed since. Run as created.
                detail::log_fmt(log_level::warning, "runtime", "shard {}: {}; running with the inherited scheduling", i,
                                e.what());
            }
            detail::run_shard(i, *p->shards[i], *p->queues, p->submit, *p->mailboxes[i], p->parts.options, p->state);
        });
    }
    for (std::uint32_t i = 0; i < sources; ++i) {
        p->threads.emplace_back([p, i] {
            detail::name_this_thread(fmt::format("rtcrm-src{}", i));
            p->sources[i]->run();
        });
    }
    if (p->parts.options.expiry.enabled()) {
        p->sweeper.start(p->shards, *p->parts.store, p->parts.options);
    }
    if (p->parts.options.stuck_after.count() > 0) {
        p->watchdog.start(p->inspector, p->parts.shards, p->parts.options.stuck_after);
    }
}

stop_report runtime::stop() {
    auto& d = *impl_;
    if (d.submit != nullptr) {
        d.submit->close();  // refuse from now on; what it holds is drained
    }
    d.state.request_stop(d.parts.options.drain_timeout);
    if (!d.state.started()) {
        return d.report(true);
    }
    if (!d.state.await_threads(*d.state.stop_deadline(),
                               [&d](std::uint32_t s, std::int64_t now_ns) { return d.inspector.stuck(s, now_ns); })) {
        return d.report(false);
    }
    d.join();
    return d.report(true);
}

void runtime::wait() {
    if (impl_->state.wait_ended() == detail::run_state::ending::ended) {
        impl_->join();
    }
    // not_started: nothing to wait for; gave_up: stop() gave up on a stuck thread.
}

bool runtime::wait_for(std::chrono::milliseconds timeout) {
    switch (impl_->state.wait_ended(timeout)) {
    case detail::run_state::ending::timed_out: return false;
    case detail::run_state::ending::ended: impl_->join(); return true;
    case detail::run_state::ending::not_started:
    case detail::run_state::ending::gave_up: return true;
    }
    return true;
}

void runtime::run() {
    start();
    wait();
}

void runtime::stop_async(std::function<void()> on_stopped) {
    std::lock_guard lock(impl_->stoppers_mutex);
    impl_->stoppers.emplace_back([this, done = std::move(on_stopped)] {
        stop();
        if (done) {
            done();
        }
    });
}

submit_status runtime::submit(record& rec, std::chrono::milliseconds timeout) {
    return submit_source_of(impl_->submit).push(rec, timeout);
}

submit_status runtime::submit(std::string json, std::chrono::milliseconds timeout) {
    record rec{std::move(json), std::nullopt, {}};
    return submit(rec, timeout);
}

std::size_t runtime::submit(std::span<record> records, std::chrono::milliseconds timeout) {
    return submit_source_of(impl_->submit).push(records, timeout);
}

std::size_t runtime::submit_queue_depth() const noexcept { return impl_->submit != nullptr ? impl_->submit->queued() : 0; }

runtime_stats runtime::stats() const {
    runtime_stats s;
    std::array<std::uint64_t, detail::stage_counters::reasons> reasons{};
    detail::pipeline_parts::sum(impl_->ingests, s, reasons);
    detail::pipeline_parts::sum(impl_->shards, s, reasons);
    detail::pipeline_parts::finish_reasons(s, reasons);
    for (const auto& ingest : impl_->ingests) {
        s.nacked += ingest->counters().nacked.load(std::memory_order_relaxed);
    }
    if (impl_->submit != nullptr) {
        // Submitted records skip the ingest stages: their lanes count them.
        s.events_in += impl_->submit->taken();
        s.nacked += impl_->submit->nacked();
    }
    if (impl_->committer) {
        s.store_errors += impl_->committer->errors();
        s.unstored += impl_->committer->unstored();
        impl_->committer->commit_latency().add_to(s.store_commit);
    }
    s.expired_profiles += impl_->sweeper.expired();
    s.trimmed_profiles += impl_->sweeper.trimmed();
    s.shards = impl_->parts.shards;
    for (std::uint32_t i = 0; i < impl_->parts.shards; ++i) {
        s.queue_depth.push_back(impl_->queues->depth(i));
    }
    return s;
}

std::uint32_t runtime::shards() const noexcept { return impl_->parts.shards; }

std::vector<rtcrm::shard_health> runtime::shard_health() const {
    const auto done = impl_->state.now().shards_ended;
    const auto now = steady_now_ns();
    std::vector<rtcrm::shard_health> out;
    out.reserve(impl_->parts.shards);
    for (std::uint32_t s = 0; s < impl_->parts.shards; ++s) {
        out.push_back(impl_->inspector.health_of(s, done[s], now));
    }
    return out;
}

std::uint64_t runtime::stuck_episodes() const noexcept { return impl_->watchdog.episodes(); }

const std::shared_ptr<profile_store>& runtime::store() const noexcept { return impl_->parts.store; }

std::optional<std::string> runtime::store_failure() const {
    return impl_->committer ? impl_->committer->failure() : std::nullopt;
}

}  // namespace rtcrm
