#include <rtcrm/core/error.hpp>
#include <rtcrm/core/generator_source.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <thread>

namespace rtcrm {

void generator_options::validate() const {
    auto require = [](bool ok, const char* what) {
        if (!ok) {
            throw error(errc::invalid_config, fmt::format("generator_options: {}", what));
        }
    };
    require(players > 0, "players must be > 0");
    // The Zipf table takes 8 bytes a player (and the id shuffle multiplies in 64 bits).
    require(players <= 100'000'000, "players must be at most 100,000,000");
    require(rate >= 0, "rate must be >= 0");
    require(zipf_s > 0, "zipf_s must be > 0");
    require(ts_step_ms >= 0, "ts_step_ms must be >= 0");
    require(scenario.empty() || scenario == "bob", "scenario must be empty or \"bob\"");
    // Regular traffic never uses Bob's id; with Bob as the only player there is none.
    require(scenario.empty() || players > 1 || bob_id != 1, "the bob scenario needs a player other than Bob");
}

namespace {

// xoshiro256**: fast, good enough statistically, and reproducible from a seed.
class rng {
public:
    explicit rng(std::uint64_t seed) {
        for (auto& s : state_) {
            seed += 0x9e3779b97f4a7c15ULL;  // splitmix64 to spread the seed
            std::uint64_t z = seed;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
            s = z ^ (z >> 31);
        }
    }
    std::uint64_t next() noexcept {
        const auto result = rotl(state_[1] * 5, 7) * 9;
        const auto t = state_[1] << 17;
        state_[2] ^= state_[0];
        state_[3] ^= state_[1];
        state_[1] ^= state_[2];
        state_[0] ^= state_[3];
        state_[2] ^= t;
        state_[3] = rotl(state_[3], 45);
        return result;
    }
    double uniform() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    std::uint64_t below(std::uint64_t n) noexcept { return next() % n; }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
    std::array<std::uint64_t, 4> state_{};
};

constexpr std::array<const char*, 4> markets{"de", "en", "fr", "us"};
constexpr std::array<const char*, 3> platforms{"ios", "android", "web"};
constexpr std::array<const char*, 4> buildings{"farm", "barracks", "tower", "market"};
constexpr std::array<const char*, 3> items{"gems-100", "tanks-10", "starter-pack"};
constexpr std::array<const char*, 3> prices{"4.99", "9.99", "19.99"};

}  // namespace

struct generator_source::impl {
    generator_options options;
    rng random;
    std::vector<double> cdf;  // Zipf CDF over player ranks 1..players
    std::uint64_t seq = 0;
    std::array<std::uint64_t, 5> bob_at{};  // sequence numbers of Bob's five events
    std::size_t bob_next = 0;
    std::chrono::steady_clock::time_point started{};
    fmt::memory_buffer buf;

    explicit impl(generator_options o) : options(std::move(o)), random(options.seed) {
        // Rank r has weight 1/r^s; the most active player is rank 1.
        cdf.resize(options.players);
        double sum = 0;
        for (std::uint64_t r = 0; r < options.players; ++r) {
            sum += 1.0 / std::pow(static_cast<double>(r + 1), options.zipf_s);
            cdf[r] = sum;
        }
        for (auto& c : cdf) {
            c /= sum;
        }
        // Bob's events spread through the stream (or first, in a tiny one).
        const std::uint64_t span = options.events == 0 ? 6000 : options.events;
        for (std::uint64_t k = 0; k < bob_at.size(); ++k) {
            bob_at[k] = span < 6 ? k : (k + 1) * span / 6;
        }
        if (options.scenario.empty()) {
            bob_next = bob_at.size();
        }
    }

    // A player id from the Zipf distribution; ids are a fixed shuffle of ranks so the
    // most active players are not simply ids 1, 2, 3.
    std::int64_t sample_player() {
        const auto rank = static_cast<std::uint64_t>(std::lower_bound(cdf.begin(), cdf.end(), random.uniform()) - cdf.begin());
        return not_bob(static_cast<std::int64_t>((rank * 2654435761ULL) % options.players) + 1);
    }

    // Bob only does what his scenario says: his draws go to the next id instead (one draw
    // per event, however skewed the distribution, so a seed gives the same stream).
    [[nodiscard]] std::int64_t not_bob(std::int64_t id) const noexcept {
        if (!options.scenario.empty() && id == options.bob_id) {
            return id % static_cast<std::int64_t>(options.players) + 1;
        }
        return id;
    }

    // Someone else than `player` (and than Bob), when there is anyone.
    std::int64_t opponent_of(std::int64_t player) {
        const auto n = static_cast<std::int64_t>(options.players);
        auto id = not_bob(static_cast<std::int64_t>(random.below(options.players)) + 1);
        for (int k = 0; k < 2 && id == player && n > 1; ++k) {
            id = not_bob(id % n + 1);
        }
        return id;
    }

    void write_event(std::int64_t player, std::string_view type, const std::string_view data) {
        buf.clear();
        fmt::format_to(std::back_inserter(buf), R"({{"id":"g-{}","player_id":{},"type":"{}","ts":{},"game":"foe","market":"{}","data":{}}})", seq,
                       player, type, options.start_ts + static_cast<std::int64_t>(seq) * options.ts_step_ms,
                       markets[static_cast<std::uint64_t>(player) % markets.size()], data);
    }

    void next_event() {
        if (bob_next < bob_at.size() && seq == bob_at[bob_next]) {
            static constexpr std::array<std::pair<const char*, const char*>, 5> bob{{
                {"login", R"({"platform":"android"})"},
                {"level_up", R"({"level":12})"},
                {"fight", R"({"result":"loss","opponent":1})"},
                {"fight", R"({"result":"loss","opponent":2})"},
                {"fight", R"({"result":"loss","opponent":3})"},
            }};
            write_event(options.bob_id, bob[bob_next].first, bob[bob_next].second);
            ++bob_next;
            return;
        }
        const auto player = sample_player();
        const double kind = random.uniform();
        char data[96];
        if (kind < 0.15) {
            const auto n = fmt::format_to_n(data, sizeof data, R"({{"platform":"{}"}})", platforms[random.below(platforms.size())]);
            write_event(player, "login", {data, n.size});
        } else if (kind < 0.65) {
            // Draws in a fixed order (function arguments are evaluated in an unspecified one).
            const bool loss = random.uniform() < 0.45;
            const auto opponent = opponent_of(player);
            const auto n = fmt::format_to_n(data, sizeof data, R"({{"result":"{}","opponent":{}}})", loss ? "loss" : "win", opponent);
            write_event(player, "fight", {data, n.size});
        } else if (kind < 0.85) {
            const auto n = fmt::format_to_n(data, sizeof data, R"({{"building":"{}","level":{}}})",
                                            buildings[random.below(buildings.size())], random.below(20) + 1);
            write_event(player, "build", {data, n.size});
        } else if (kind < 0.88) {
            const auto i = random.below(items.size());
            const auto n = fmt::format_to_n(data, sizeof data, R"({{"item":"{}","amount":{},"currency":"EUR"}})", items[i], prices[i]);
            write_event(player, "purchase", {data, n.size});
        } else {
            const auto n = fmt::format_to_n(data, sizeof data, R"({{"level":{}}})", random.below(99) + 2);
            write_event(player, "level_up", {data, n.size});
        }
    }
};

generator_source::generator_source(generator_options options) : bounded_(options.events > 0) {
    options.validate();
    impl_ = std::make_unique<impl>(std::move(options));
}

generator_source::~generator_source() = default;

std::string_view generator_source::name() const noexcept { return impl_->options.name; }

poll_status generator_source::poll(std::vector<record>& out, std::size_t max, std::chrono::milliseconds timeout) {
    auto& d = *impl_;
    const auto total = d.options.events;
    if (total > 0 && d.seq >= total) {
        return poll_status::end;
    }
    std::size_t n = max;
    if (total > 0) {
        n = static_cast<std::size_t>(std::min<std::uint64_t>(n, total - d.seq));
    }
    if (d.options.rate > 0) {
        // Pace against the start time: event k is due at k / rate seconds.
        const auto now = std::chrono::steady_clock::now();
        if (d.seq == 0) {
            d.started = now;
        }
        auto due_now = [&] {
            const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - d.started).count();
            return static_cast<std::uint64_t>(elapsed * d.options.rate) + 1;
        };
        auto due = due_now();
        if (due <= d.seq) {
            // Sleep until the next event is due (at most `timeout`), then produce it.
            // (event k is due at k / rate seconds after the start)
            const auto wait = std::chrono::duration<double>(static_cast<double>(d.seq) / d.options.rate) -
                              (std::chrono::steady_clock::now() - d.started);
            std::this_thread::sleep_for(std::min<std::chrono::duration<double>>(wait, timeout));
            due = due_now();
            if (due <= d.seq) {
                return poll_status::more;  // the timeout came first
            }
        }
        n = static_cast<std::size_t>(std::min<std::uint64_t>(n, due - d.seq));
    }
    for (std::size_t i = 0; i < n; ++i) {
        d.next_event();
        record rec{std::string{d.buf.data(), d.buf.size()}, std::nullopt, {}};
        rec.origin.offset = static_cast<std::int64_t>(d.seq);
        out.push_back(std::move(rec));
        ++d.seq;
    }
    return total > 0 && d.seq >= total ? poll_status::end : poll_status::more;
}

std::uint64_t generator_source::produced() const noexcept { return impl_->seq; }

}  // namespace rtcrm
