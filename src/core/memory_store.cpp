#include <rtcrm/core/memory_store.hpp>

#include <algorithm>
#include <array>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

namespace rtcrm {

struct memory_store::impl {
    // Stripes keyed by the high bits of the player hash: the shards own disjoint key sets
    // chosen by the low bits, so every shard spreads over all stripes evenly.
    static constexpr std::size_t stripes = 16;
    struct stripe {
        mutable std::mutex mutex;
        std::unordered_map<player_key, profile> profiles;
    };
    std::array<stripe, stripes> data;

    // The due-time index: (earliest due, key text) of every stored profile with timers.
    // Taken after a stripe's lock, never before one.
    std::mutex due_mutex;
    std::set<std::pair<std::int64_t, std::string>> due;

    // Keeps the index in step with one profile's change from `before` to `after` (either
    // may be null: a new or an erased profile). The caller holds the profile's stripe.
    void reindex(const profile* before, const profile* after, const player_key& key) {
        const auto old_due = before != nullptr ? before->next_timer_due() : std::nullopt;
        const auto new_due = after != nullptr ? after->next_timer_due() : std::nullopt;
        if (old_due == new_due) {
            return;
        }
        std::lock_guard lock(due_mutex);
        if (old_due) {
            due.erase({*old_due, std::string{key.text()}});
        }
        if (new_due) {
            due.emplace(*new_due, std::string{key.text()});
        }
    }

    std::mutex positions_mutex;
    std::vector<source_position> positions;

    std::mutex tallies_mutex;
    std::unordered_map<std::string, std::int64_t> tallies;

    stripe& stripe_of(const player_key& key) { return data[(key.hash() >> 24) % stripes]; }
};

memory_store::memory_store() : impl_(std::make_unique<impl>()) {}
memory_store::~memory_store() = default;

result<void> memory_store::get(std::span<const player_key> keys, std::span<std::optional<profile>> out) {
    for (std::size_t i = 0; i < keys.size() && i < out.size(); ++i) {
        auto& s = impl_->stripe_of(keys[i]);
        std::lock_guard lock(s.mutex);
        const auto it = s.profiles.find(keys[i]);
        if (it == s.profiles.end()) {
            out[i].reset();
        } else {
            out[i] = it->second;
        }
    }
    return {};
}

result<void> memory_store::write(const write_batch& batch) {
    for (const auto& p : batch.profiles) {
        auto& s = impl_->stripe_of(p.key());
        std::lock_guard lock(s.mutex);
        const auto it = s.profiles.find(p.key());
        impl_->reindex(it == s.profiles.end() ? nullptr : &it->second, &p, p.key());
        s.profiles.insert_or_assign(p.key(), p);
    }
    for (const auto& key : batch.erased) {
        auto& s = impl_->stripe_of(key);
        std::lock_guard lock(s.mutex);
        const auto it = s.profiles.find(key);
        if (it != s.profiles.end()) {
            impl_->reindex(&it->second, nullptr, key);
            s.profiles.erase(it);
        }
    }
    if (!batch.positions.empty()) {
        std::lock_guard lock(impl_->positions_mutex);
        for (const auto& pos : batch.positions) {
            auto it = std::find_if(impl_->positions.begin(), impl_->positions.end(), [&](const source_position& p) {
                return p.source == pos.source && p.partition == pos.partition;
            });
            if (it == impl_->positions.end()) {
                impl_->positions.push_back(pos);
            } else if (pos.offset > it->offset) {
                it->offset = pos.offset;
            }
        }
    }
    if (!batch.tallies.empty()) {
        std::lock_guard lock(impl_->tallies_mutex);
        for (const auto& [name, value] : batch.tallies) {
            impl_->tallies[name] += value;
        }
    }
    return {};
}

result<std::vector<tally>> memory_store::tallies() {
    std::lock_guard lock(impl_->tallies_mutex);
    return std::vector<tally>(impl_->tallies.begin(), impl_->tallies.end());
}

result<void> memory_store::scan(const profile_visitor& visit) {
    // Copy each stripe's profiles out before calling back, so a visitor may call into the
    // store (or take as long as it likes) without holding a stripe lock.
    for (auto& s : impl_->data) {
        std::vector<profile> copy;
        {
            std::lock_guard lock(s.mutex);
            copy.reserve(s.profiles.size());
            for (const auto& [key, p] : s.profiles) {
                copy.push_back(p);
            }
        }
        for (const auto& p : copy) {
            if (!visit(p)) {
                return {};
            }
        }
    }
    return {};
}

result<void> memory_store::scan_parallel(std::size_t workers, const visitor_factory& make) {
    workers = std::clamp<std::size_t>(workers, 1, impl::stripes);
    std::vector<std::jthread> threads;  // joined when they go, before this returns
    for (std::size_t w = 0; w < workers; ++w) {
        threads.emplace_back([this, w, workers, visit = make(w)] {
            for (std::size_t i = w; i < impl::stripes; i += workers) {  // stripe i belongs to worker i % workers
                auto& s = impl_->data[i];
                std::vector<profile> copy;
                {
                    std::lock_guard lock(s.mutex);
                    copy.reserve(s.profiles.size());
                    for (const auto& [key, p] : s.profiles) {
                        copy.push_back(p);
                    }
                }
                for (const auto& p : copy) {
                    if (!visit(p)) {
                        return;
                    }
                }
            }
        });
    }
    return {};
}

result<expiry_result> memory_store::expire(const expiry_policy& policy, std::int64_t now_ms) {
    expiry_result out;
    // A stripe at a time, under its lock: a write-back of the same profile waits for the
    // decision or comes after it, never in between.
    for (auto& s : impl_->data) {
        std::lock_guard lock(s.mutex);
        for (auto it = s.profiles.begin(); it != s.profiles.end();) {
            switch (apply_expiry(it->second, policy, now_ms)) {
            case expiry_verdict::expired:
                impl_->reindex(&it->second, nullptr, it->first);  // none: a profile with timers is kept
                it = s.profiles.erase(it);
                ++out.expired;
                continue;
            case expiry_verdict::trimmed: ++out.trimmed; break;
            case expiry_verdict::keep: break;
            }
            ++it;
        }
    }
    return out;
}

result<due_page> memory_store::due_timers(std::int64_t until_ms, const std::optional<due_entry>& after,
                                          std::size_t limit, const player_filter& accept) {
    due_page page;
    std::lock_guard lock(impl_->due_mutex);
    auto it = after ? impl_->due.upper_bound({after->due, std::string{after->key.text()}}) : impl_->due.begin();
    for (; it != impl_->due.end(); ++it) {
        player_key key{it->second};
        if (accept && !accept(key)) {
            continue;
        }
        if (it->first > until_ms) {
            page.next_due = it->first;
            break;
        }
        if (page.entries.size() == limit) {
            page.more = true;
            break;
        }
        page.entries.push_back({it->first, std::move(key)});
    }
    return page;
}

std::vector<source_position> memory_store::positions() {
    std::lock_guard lock(impl_->positions_mutex);
    return impl_->positions;
}

std::size_t memory_store::size() const {
    std::size_t n = 0;
    for (const auto& s : impl_->data) {
        std::lock_guard lock(s.mutex);
        n += s.profiles.size();
    }
    return n;
}

}  // namespace rtcrm
