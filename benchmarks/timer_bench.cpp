// rtcrm-timer-bench: many players' timers coming due at the same instant while events keep
// arriving. How fast they fire, and the longest a shard keeps the other players' events
// waiting while they do (the gap between two events handled by one shard).
//
//   rtcrm-timer-bench --timers 1000000 --events 3000000 --shards 2
//
// The source first sends one "arm" event per timer player (each arms the timer "x", all
// due at the same time T), then "noop" events of other players with ts from T on, flat
// out: the first of them moves the watermark to T and every timer comes due. A C++ bolt
// arms the timers, counts the timer events, and times the noop events per shard.
#include <rtcrm/core/bolt.hpp>
#include <rtcrm/core/memory_store.hpp>
#include <rtcrm/core/runtime.hpp>
#include <rtcrm/core/source.hpp>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>

namespace {

namespace po = boost::program_options;
constexpr std::int64_t armed_at = 1'700'000'000'000;
constexpr std::int64_t due_at = armed_at + 3'600'000;

class timer_source final : public rtcrm::source {
public:
    timer_source(std::uint64_t timers, std::uint64_t events) : timers_(timers), events_(events) {}
    [[nodiscard]] std::string_view name() const noexcept override { return "timers"; }
    [[nodiscard]] bool bounded() const noexcept override { return true; }
    rtcrm::poll_status poll(std::vector<rtcrm::record>& out, std::size_t max, std::chrono::milliseconds) override {
        while (out.size() < max && next_ < timers_ + events_) {
            std::string bytes;
            if (next_ < timers_) {
                bytes = fmt::format(R"({{"player_id":{},"type":"arm","ts":{},"due":{}}})", next_, armed_at, due_at);
            } else {
                // Players with no timer, so every event waits only for the timers of others.
                const auto player = timers_ + rng_() % 100'000;
                bytes = fmt::format(R"({{"player_id":{},"type":"noop","ts":{}}})", player,
                                    due_at + static_cast<std::int64_t>((next_ - timers_) / 1000));
            }
            out.push_back(rtcrm::record{std::move(bytes), std::nullopt, {}});
            ++next_;
        }
        return next_ < timers_ + events_ ? rtcrm::poll_status::more : rtcrm::poll_status::end;
    }

private:
    std::uint64_t timers_;
    std::uint64_t events_;
    std::uint64_t next_ = 0;
    std::mt19937_64 rng_{1};
};

struct results {
    std::mutex mutex;
    std::uint64_t fired = 0;
    std::int64_t first_fire_ns = INT64_MAX;
    std::int64_t last_fire_ns = 0;
    std::int64_t longest_gap_ns = 0;       // between two noop events of one shard while timers fire
    std::int64_t longest_gap_other_ns = 0; // the same, while none fire (the machine's own pauses)
    std::uint64_t events_while_firing = 0;
};

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

class timer_bolt final : public rtcrm::bolt {
public:
    timer_bolt(results& out, std::uint64_t expected) : out_(&out), expected_(expected) {}
    ~timer_bolt() override {
        std::lock_guard lock(out_->mutex);
        out_->fired += fired_;
        out_->first_fire_ns = std::min(out_->first_fire_ns, first_fire_ns_);
        out_->last_fire_ns = std::max(out_->last_fire_ns, last_fire_ns_);
        out_->longest_gap_ns = std::max(out_->longest_gap_ns, longest_gap_ns_);
        out_->longest_gap_other_ns = std::max(out_->longest_gap_other_ns, longest_gap_other_ns_);
        out_->events_while_firing += events_while_firing_;
    }
    [[nodiscard]] std::string_view name() const noexcept override { return "timer-bench"; }
    void process(std::span<rtcrm::event> batch, rtcrm::bolt_context& ctx) override {
        for (auto& ev : batch) {
            if (ev.origin().timer) {
                const auto t = now_ns();
                first_fire_ns_ = std::min(first_fire_ns_, t);
                last_fire_ns_ = t;
                ++fired_;
                continue;
            }
            if (ev.type() == "arm") {
                ctx.profile_of(ev)->set_timer("x", ev.field("due")->GetInt64());
                continue;
            }
            const auto t = now_ns();
            // While this shard has timers left to fire (it started, and its share is not done).
            if (fired_ > 0 && fired_ < expected_ && last_event_ns_ > 0) {
                longest_gap_ns_ = std::max(longest_gap_ns_, t - last_event_ns_);
                ++events_while_firing_;
            } else if (last_event_ns_ > 0) {
                longest_gap_other_ns_ = std::max(longest_gap_other_ns_, t - last_event_ns_);
            }
            last_event_ns_ = t;
        }
    }

private:
    results* out_;
    std::uint64_t expected_;  // this shard's share of the timers, about
    std::uint64_t fired_ = 0;
    std::int64_t first_fire_ns_ = INT64_MAX;
    std::int64_t last_fire_ns_ = 0;
    std::int64_t last_event_ns_ = 0;
    std::int64_t longest_gap_ns_ = 0;
    std::int64_t longest_gap_other_ns_ = 0;
    std::uint64_t events_while_firing_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
    po::options_description opts("Options");
    std::uint64_t timers = 0;
    std::uint64_t events = 0;
    std::uint32_t shards = 0;
    std::size_t timer_batch = 0;
    opts.add_options()("help,h", "show this help")(
        "timers", po::value(&timers)->default_value(1'000'000), "players, each with one timer due at the same time")(
        "events", po::value(&events)->default_value(3'000'000), "events of other players after the arming")(
        "shards", po::value(&shards)->default_value(2), "shard threads")(
        "timer-batch", po::value(&timer_batch)->default_value(128), "runtime_options::timer_batch");
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, opts), vm);
    po::notify(vm);
    if (vm.count("help") > 0) {
        std::cout << "rtcrm-timer-bench: timers due at once while events arrive; prints one JSON object.\n\n" << opts;
        return 0;
    }
    results out;
    const auto per_shard = (timers + shards - 1) / shards;
    rtcrm::topology t;
    t.add_source(std::make_unique<timer_source>(timers, events))
        .add_shard_bolt([&](const rtcrm::bolt_placement&) { return std::make_unique<timer_bolt>(out, per_shard * 9 / 10); })
        .with_store(std::make_shared<rtcrm::memory_store>())
        .with_options({.shards = shards, .timer_batch = timer_batch});
    const auto started = now_ns();
    {
        rtcrm::runtime rt{std::move(t)};
        rt.run();
        std::cerr << rt.stats().summary() << "\n";
    }
    const auto seconds = static_cast<double>(now_ns() - started) / 1e9;
    const auto firing = static_cast<double>(out.last_fire_ns - out.first_fire_ns) / 1e9;
    fmt::print(R"({{"timers":{},"fired":{},"seconds":{:.3f},"firing_seconds":{:.3f},"timers_per_s":{:.0f},)"
               R"("events_while_firing":{},"longest_gap_ms":{:.3f},"longest_gap_not_firing_ms":{:.3f}}})"
               "\n",
               timers, out.fired, seconds, firing, firing > 0 ? static_cast<double>(out.fired) / firing : 0.0,
               out.events_while_firing, static_cast<double>(out.longest_gap_ns) / 1e6,
               static_cast<double>(out.longest_gap_other_ns) / 1e6);
    return out.fired == timers ? 0 : 1;
}
