// Other threads reading the shards' profiles (the admin API, a host): a shard's cache is
// read on its thread, through its mailbox, so the shards keep their caches without a
// lock; the store is read on the calling thread.
#include "runtime_impl.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <future>
#include <unordered_set>

namespace rtcrm {

bool runtime::impl::on_shard(std::uint32_t index, const detail::shard_mailbox::task& task,
                             std::chrono::milliseconds timeout) {
    if (state.if_shard_idle(index, [&] { task(*shards[index]); })) {
        return true;
    }
    auto done = std::make_shared<std::promise<void>>();
    auto future = done->get_future();
    mailboxes[index]->post([task, done](detail::shard_stage& stage) {
        task(stage);
        done->set_value();
    });
    queues->nudge(index);
    return future.wait_for(timeout) == std::future_status::ready;
}

std::optional<profile> runtime::profile_of(const player_key& key, std::chrono::milliseconds timeout) {
    auto& d = *impl_;
    // A shared result: a late answer (after the timeout) must not write to a dead frame.
    struct answer {
        std::mutex mutex;
        std::optional<profile> p;
        bool cached = false;
    };
    auto result = std::make_shared<answer>();
    if (!d.on_shard(key.shard(d.parts.shards),
                    [result, key](detail::shard_stage& stage) {
                        if (const auto* p = stage.find(key)) {
                            std::lock_guard lock(result->mutex);
                            result->p = *p;
                            result->cached = true;
                        }
                    },
                    timeout)) {
        throw error(errc::timeout, fmt::format("runtime: shard {} did not answer within {} ms", key.shard(d.parts.shards),
                                               timeout.count()));
    }
    std::lock_guard lock(result->mutex);
    if (result->cached) {
        return std::move(result->p);
    }
    std::vector<player_key> keys{key};
    std::vector<std::optional<profile>> out(1);
    if (const auto got = d.parts.store->get(keys, out); !got) {
        throw error(errc::store_error, fmt::format("runtime: store {}: {}", d.parts.store->name(), got.error().reason));
    }
    return std::move(out[0]);
}

// A scan runs on the calling thread, not on the shards': a segment costs up to a Lua call
// per profile, and a shard that ran it would hold its events for the whole scan. Each
// shard is asked only for what the store does not hold yet, its dirty profiles (copied
// between two batches: bounded by its write-back schedule, so cheap), and the number of
// its last write-back handed to the committer. Every other profile a shard holds is the
// store's version, so once the committer has made those write-backs durable, one scan
// of the store (a snapshot read for LMDB, stripe by stripe for the memory store, pages
// for Cassandra) sees them; the keys copied from the shards are skipped there.
result<void> runtime::scan_profiles(const visitor_factory& make, std::size_t store_workers,
                                    std::chrono::milliseconds timeout) {
    auto& d = *impl_;
    const auto shards = d.parts.shards;
    struct unwritten {
        std::vector<profile> profiles;
        std::uint64_t submitted = 0;
    };
    std::vector<std::shared_ptr<unwritten>> copies(shards);
    for (std::uint32_t s = 0; s < shards; ++s) {
        copies[s] = std::make_shared<unwritten>();
        if (!d.on_shard(s,
                        [copy = copies[s]](detail::shard_stage& stage) {
                            stage.for_each_dirty([&](const profile& p) { copy->profiles.push_back(p); });
                            copy->submitted = stage.last_submitted();
                        },
                        timeout)) {
            return {errc::timeout, fmt::format("runtime: shard {} did not answer within {} ms", s, timeout.count())};
        }
    }
    if (d.committer) {
        std::uint64_t submitted = 0;
        for (const auto& c : copies) {
            submitted = std::max(submitted, c->submitted);
        }
        if (!d.committer->wait_for(submitted, timeout)) {
            return {errc::timeout, fmt::format("runtime: the store committer did not write the shards' profiles within {} ms",
                                               timeout.count())};
        }
    }
    std::unordered_set<player_key> copied;
    for (std::uint32_t s = 0; s < shards; ++s) {
        auto visit = make(s);
        for (const auto& p : copies[s]->profiles) {
            copied.insert(p.key());
        }
        for (const auto& p : copies[s]->profiles) {
            if (!visit(p)) {
                break;
            }
        }
        copies[s].reset();
    }
    return d.parts.store->scan_parallel(store_workers, [&](std::size_t w) -> profile_visitor {
        auto visit = make(shards + w);
        return [&copied, visit](const profile& p) { return copied.contains(p.key()) || visit(p); };
    });
}

}  // namespace rtcrm
