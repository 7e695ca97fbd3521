// Test support for campaign experiments: an engine state (so the tests read its campaign
// ledger) driving a topology through the test driver.
#pragma once

#include "lua/arm_assignment.hpp"
#include "lua/engine_state.hpp"

#include <rtcrm/core/test_driver.hpp>

#include <fmt/format.h>
#include <rapidjson/document.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace rtcrm::test {

inline constexpr std::int64_t t0 = 1'763'800'000'000;  // 2025-11-22T08:26:40Z
inline constexpr std::int64_t minute = 60'000;
inline constexpr std::int64_t hour = 60 * minute;
inline constexpr std::int64_t day = 24 * hour;

inline std::string ev(std::string_view type, std::int64_t ts, std::int64_t player = 1, std::string_view data = "{}") {
    return fmt::format(R"({{"id":"e-{}-{}-{}","player_id":{},"type":"{}","ts":{},"data":{}}})", type, player, ts, player,
                       type, ts, data);
}

inline std::shared_ptr<detail::lua::engine_state> installed(std::string script) {
    auto state = std::make_shared<detail::lua::engine_state>();
    if (auto r = state->install({{"exp.lua", std::move(script)}}); !r) {
        throw std::runtime_error(r.error().reason);
    }
    return state;
}

inline topology experiment_topology(const std::shared_ptr<detail::lua::engine_state>& state, std::uint32_t shards,
                                     std::shared_ptr<profile_store> store = nullptr) {
    topology t;
    t.add_shard_bolt(detail::lua::make_crm_bolt_factory(state)).with_options({.shards = shards});
    if (store) {
        t.with_store(std::move(store));
    }
    return t;
}

struct experiment {
    std::shared_ptr<detail::lua::engine_state> state;
    topology_test_driver driver;

    explicit experiment(std::string script, std::uint32_t shards = 1, std::shared_ptr<profile_store> store = nullptr)
        : state(installed(std::move(script))), driver(experiment_topology(state, shards, std::move(store))) {}

    void pipe(std::string_view type, std::int64_t ts, std::int64_t player = 1, std::string_view data = "{}") {
        driver.pipe(ev(type, ts, player, data));
    }
    void kill(const std::string& id) {
        std::lock_guard lock(state->mutex);
        state->killed.emplace(id);
        state->kill_version.fetch_add(1);
    }
    detail::lua::campaign_ledger ledger() const { return state->ledger_snapshot(); }
    // The campaign's tally on the day of `ts`.
    detail::lua::day_tally on(std::string_view id, std::int64_t ts) const {
        auto l = ledger();
        return l.day(id, ts);
    }
    profile profile_of(std::int64_t player = 1) const {
        auto p = driver.profile_of(player_key{player});
        if (!p) {
            throw std::runtime_error("no profile");
        }
        return *p;
    }
};

// The suppressions of one reason in a day's tally.
inline std::int64_t suppressed(detail::lua::day_tally d, detail::lua::suppression reason) { return d.suppressed_by(reason); }

inline rapidjson::Document parsed(const std::string& body) {
    rapidjson::Document d;
    d.Parse(body.c_str());
    if (d.HasParseError()) {
        throw std::runtime_error("not JSON: " + body);
    }
    return d;
}

// The arm of `player` in a campaign with this id, holdout and variant names (weights 1).
inline std::string arm_of(const std::string& id, double holdout, const std::vector<std::string>& variants, std::int64_t player) {
    detail::lua::campaign_spec spec;
    spec.id = id;
    spec.holdout_buckets = static_cast<std::int64_t>(holdout * 10000 + 0.5);
    for (const auto& v : variants) {
        spec.variants.push_back({v, 1, ""});
    }
    return std::string{detail::lua::arm_name(spec, detail::lua::assign_arm(spec, player_key{player}))};
}

// The first player from 1 up in `arm`.
inline std::int64_t player_in(const std::string& arm, const std::string& id, double holdout,
                              const std::vector<std::string>& variants = {}) {
    for (std::int64_t p = 1; p < 100'000; ++p) {
        if (arm_of(id, holdout, variants, p) == arm) {
            return p;
        }
    }
    throw std::runtime_error("no player in arm " + arm);
}

}  // namespace rtcrm::test
