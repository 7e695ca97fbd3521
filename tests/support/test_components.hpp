// Small sources, bolts and sinks for tests.
#pragma once

#include <rtcrm/core/bolt.hpp>
#include <rtcrm/core/sink.hpp>
#include <rtcrm/core/source.hpp>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace rtcrm::testing {

// A fight event of `player` with a per-player sequence number in "seq".
inline std::string fight_json(std::int64_t player, std::int64_t seq, std::string_view result = "loss") {
    return fmt::format(R"({{"id":"e-{}-{}","player_id":{},"type":"fight","ts":{},"seq":{},"data":{{"result":"{}"}}}})", player,
                       seq, player, 1'763'800'000'000 + seq, seq, result);
}

// Serves records from a vector, spread round-robin over `partitions` partitions with
// per-partition offsets; optionally endless (then records are generated on the fly).
class vector_source final : public source {
public:
    explicit vector_source(std::vector<std::string> lines, std::int32_t partitions = 1)
        : lines_(std::move(lines)), partitions_(partitions), next_offset_(static_cast<std::size_t>(partitions), 0) {}

    [[nodiscard]] std::string_view name() const noexcept override { return "vector"; }

    poll_status poll(std::vector<record>& out, std::size_t max, std::chrono::milliseconds) override {
        while (out.size() < max && next_ < lines_.size()) {
            const auto partition = static_cast<std::int32_t>(next_ % static_cast<std::size_t>(partitions_));
            record rec{lines_[next_++], std::nullopt, {}};
            rec.origin.partition = partition;
            rec.origin.offset = next_offset_[static_cast<std::size_t>(partition)]++;
            out.push_back(std::move(rec));
        }
        return next_ < lines_.size() ? poll_status::more : poll_status::end;
    }

    void commit(std::span<const source_position> positions) override {
        std::lock_guard lock(mutex_);
        for (const auto& p : positions) {
            commits_.push_back(p);
            if (on_commit) {
                on_commit(p);
            }
        }
    }

    std::vector<source_position> commits() {
        std::lock_guard lock(mutex_);
        return commits_;
    }

    std::function<void(const source_position&)> on_commit;  // called on the source thread

private:
    std::vector<std::string> lines_;
    std::int32_t partitions_;
    std::vector<std::int64_t> next_offset_;
    std::size_t next_ = 0;
    std::mutex mutex_;
    std::vector<source_position> commits_;
};

// Produces fight events for `players` players forever (until stop).
class endless_source final : public source {
public:
    explicit endless_source(std::int64_t players) : players_(players) {}
    [[nodiscard]] std::string_view name() const noexcept override { return "endless"; }
    poll_status poll(std::vector<record>& out, std::size_t max, std::chrono::milliseconds) override {
        for (std::size_t i = 0; i < max; ++i, ++seq_) {
            record rec{fight_json(seq_ % players_ + 1, seq_), std::nullopt, {}};
            rec.origin.offset = seq_;
            out.push_back(std::move(rec));
        }
        produced.store(seq_, std::memory_order_relaxed);
        return poll_status::more;
    }
    void idle() override { idles.fetch_add(1, std::memory_order_relaxed); }
    std::atomic<std::int64_t> produced{0};
    std::atomic<std::int64_t> idles{0};  // calls of idle() while the runtime could not take records

private:
    std::int64_t players_;
    std::int64_t seq_ = 0;
};

// Emits one output per event: its raw bytes, on the main stream.
class echo_bolt final : public bolt {
public:
    [[nodiscard]] std::string_view name() const noexcept override { return "echo"; }
    void process(std::span<event> batch, bolt_context& ctx) override {
        for (auto& ev : batch) {
            ctx.emit(ev, stream::main, std::string{ev.raw()});
        }
    }
    static bolt_factory factory() {
        return [](const bolt_placement&) { return std::make_unique<echo_bolt>(); };
    }
};

// Collects output bodies (thread-safe) and acks them.
class collecting_sink final : public sink {
public:
    [[nodiscard]] std::string_view name() const noexcept override { return "collect"; }
    void consume(std::span<output> batch) override {
        std::lock_guard lock(mutex_);
        for (auto& out : batch) {
            bodies_.push_back(std::move(out.body));
            out.ack.ack();
        }
    }
    std::vector<std::string> bodies() {
        std::lock_guard lock(mutex_);
        return bodies_;
    }

private:
    std::mutex mutex_;
    std::vector<std::string> bodies_;
};

// Holds every batch until opened (a blocked downstream), then acks; counts what it got.
class gate_sink final : public sink {
public:
    explicit gate_sink(bool open = false) : open_(open) {}
    [[nodiscard]] std::string_view name() const noexcept override { return "gate"; }
    void consume(std::span<output> batch) override {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return open_; });
        for (auto& out : batch) {
            out.ack.ack();
        }
        received_ += batch.size();
    }
    void open() {
        {
            std::lock_guard lock(mutex_);
            open_ = true;
        }
        cv_.notify_all();
    }
    std::size_t received() {
        std::lock_guard lock(mutex_);
        return received_;
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool open_;
    std::size_t received_ = 0;
};

// Polls `done` until it holds or `timeout` passes; returns its last answer.
inline bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (done()) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return done();
}

}  // namespace rtcrm::testing
