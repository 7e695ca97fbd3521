// A bolt_context for micro benchmarks: profiles in a map, outputs counted and dropped.
#pragma once

#include <rtcrm/core/bolt.hpp>

#include <unordered_map>

namespace rtcrm::bench {

class bench_context final : public bolt_context {
public:
    void emit(event& cause, stream, std::string) override {
        (void)cause;
        ++emitted;
    }
    void reject(event&, errc, std::string_view) override { ++rejected; }
    void drop(event&) override { ++dropped; }
    profile* profile_of(const event& ev) override {
        auto [it, inserted] = profiles.try_emplace(ev.player(), ev.player());
        return &it->second;
    }
    [[nodiscard]] std::uint32_t worker() const noexcept override { return 0; }
    [[nodiscard]] const profile_limits& limits() const noexcept override { return limits_; }

    std::uint64_t emitted = 0;
    std::uint64_t rejected = 0;
    std::uint64_t dropped = 0;
    std::unordered_map<player_key, profile> profiles;

private:
    profile_limits limits_;
};

}  // namespace rtcrm::bench
