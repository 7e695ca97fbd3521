/// @file generator_source.hpp
/// A synthetic game: players with a Zipf-like activity distribution send login, fight
/// (win/loss), build, purchase and level_up events, for demos and benchmarks.
///
/// Events are JSON in the default wire format, with ids `g-<seq>`, event times that
/// advance from `start_ts` by `ts_step_ms`, and `"game":"foe"`. The same seed gives the
/// same stream. Rate-limited (`rate` events/s) or flat out (`rate` 0).
///
/// The `bob` scenario adds one scripted player, Bob (`player_id` 4242, or `bob_id`): a
/// non-paying level-12 player whose events are mixed into the stream: a login, a
/// `level_up` to 12, then three lost fights in a row, so a "frustrated fighter" campaign
/// fires for him.
///
/// Caveats: offsets are the sequence numbers of partition 0; the stream is not
/// persistent, so `commit` is ignored.
#pragma once

#include <rtcrm/core/source.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace rtcrm {

/// Options of `generator_source`.
struct generator_options {
    std::uint64_t events = 100'000;             ///< events to produce; 0 = endless (until stop)
    std::uint64_t players = 10'000;             ///< distinct players (ids 1..players)
    std::uint64_t seed = 1;                     ///< PRNG seed: same seed, same stream
    double rate = 0;                            ///< events per second; 0 = as fast as possible
    double zipf_s = 1.1;                        ///< Zipf exponent of player activity
    std::string scenario;                       ///< "" or "bob"
    std::int64_t bob_id = 4242;                 ///< Bob's player id in the bob scenario
    std::int64_t start_ts = 1'763'800'000'000;  ///< event time of the first event (ms since the epoch)
    std::int64_t ts_step_ms = 10;               ///< event time added per event
    std::string name = "generator";             ///< the source name

    /// @throws rtcrm::error(invalid_config) for players 0, a negative rate, zipf_s <= 0,
    /// an unknown scenario, or the bob scenario with Bob as the only player.
    void validate() const;
};

/// The synthetic game event source. Used on its runtime's source thread only.
class generator_source final : public source {
public:
    /// @throws rtcrm::error(invalid_config) if the options do not validate.
    explicit generator_source(generator_options options);
    ~generator_source() override;
    generator_source(const generator_source&) = delete;
    generator_source& operator=(const generator_source&) = delete;

    [[nodiscard]] std::string_view name() const noexcept override;
    poll_status poll(std::vector<record>& out, std::size_t max, std::chrono::milliseconds timeout) override;
    /// Unless it is endless (`events` 0).
    [[nodiscard]] bool bounded() const noexcept override { return bounded_; }

    /// Events produced so far.
    [[nodiscard]] std::uint64_t produced() const noexcept;

private:
    bool bounded_;
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace rtcrm
