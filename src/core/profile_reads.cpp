// Other threads reading the shards' profiles (the admin API, a host): each shard's own
// profiles are read on its thread, through its mailbox, so the shards keep their caches
// without a lock; what no shard holds is read from the store on the calling thread.
#include "runtime_impl.hpp"

#include <fmt/format.h>

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

result<void> runtime::scan_profiles(const visitor_factory& make, std::size_t store_workers,
                                    std::chrono::milliseconds timeout) {
    auto& d = *impl_;
    const auto shards = d.parts.shards;
    // The shards' own profiles first, each on its thread; note which keys they hold.
    std::vector<std::shared_ptr<std::vector<player_key>>> held(shards);
    for (std::uint32_t s = 0; s < shards; ++s) {
        held[s] = std::make_shared<std::vector<player_key>>();
        auto keys = held[s];
        auto visit = make(s);
        if (!d.on_shard(s,
                        [keys, visit](detail::shard_stage& stage) {
                            bool more = true;
                            stage.for_each_cached([&](const profile& p) {
                                keys->push_back(p.key());
                                more = more && visit(p);
                                return true;  // keep collecting keys: the store part must skip them all
                            });
                        },
                        timeout)) {
            return {errc::timeout, fmt::format("runtime: shard {} did not answer within {} ms", s, timeout.count())};
        }
    }
    std::unordered_set<player_key> cached;
    for (const auto& keys : held) {
        cached.insert(keys->begin(), keys->end());
    }
    return d.parts.store->scan_parallel(store_workers, [&](std::size_t w) -> profile_visitor {
        auto visit = make(shards + w);
        return [&cached, visit](const profile& p) { return cached.contains(p.key()) || visit(p); };
    });
}

}  // namespace rtcrm
