// rtcrm-custom-sink [--fail-every N] [--out FILE]: your own sink, plugged into rtcrm.
//
// `remote_sink` batches outputs and "delivers" each batch to a pretend remote service on
// a background thread: a simulated round trip, then one JSON line per batch to FILE (default
// standard output). It acks each output only once its batch is delivered; when a delivery
// fails (every Nth batch with --fail-every N; never by default) it nacks the batch's
// outputs with the reason. main() runs the Bob demo into it and prints the delivery counts
// next to the runtime's own.
//
// The contract it shows (rtcrm/core/sink.hpp): consume() runs on several shard threads at once;
// acks come later, on another thread; flush() hands over what waits without blocking long;
// close() completes every ack share still held, because the runtime's trackers behind them
// go away after it.
#include <rtcrm/core/generator_source.hpp>
#include <rtcrm/core/runtime.hpp>
#include <rtcrm/lua/lua_engine.hpp>

#include <fmt/format.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;

struct remote_options {
    std::size_t batch_size = 16;              // outputs per delivery
    std::size_t max_queued = 4;               // batches waiting for delivery before consume() blocks
    std::chrono::milliseconds round_trip{2};  // simulated latency of one delivery
    std::uint64_t fail_every = 0;             // every Nth delivery fails; 0: none
    std::FILE* out = stdout;                  // where delivered batches are written
};

class remote_sink final : public rtcrm::sink {
public:
    explicit remote_sink(remote_options options) : options_(options), worker_([this] { deliver_loop(); }) {}
    ~remote_sink() override { close(); }
    remote_sink(const remote_sink&) = delete;
    remote_sink& operator=(const remote_sink&) = delete;

    [[nodiscard]] std::string_view name() const noexcept override { return "pretend-remote"; }

    // Shard threads, several at once: take the outputs (and their ack shares) into the
    // current batch; a full batch goes to the delivery queue. When the queue is full this
    // waits: that is the backpressure that slows the shards, and through them the sources.
    void consume(std::span<rtcrm::output> batch) override {
        std::unique_lock lock(mutex_);
        consumers_.insert(std::this_thread::get_id());
        for (auto& out : batch) {
            pending_.push_back(std::move(out));
            if (pending_.size() >= options_.batch_size) {
                room_.wait(lock, [&] { return queue_.size() < options_.max_queued; });
                enqueue();
            }
        }
    }

    // Shard threads, every flush_interval: a partial batch should not wait for company
    // forever. Must not block for long, so a full queue just means "next time".
    void flush() override {
        std::lock_guard lock(mutex_);
        if (queue_.size() < options_.max_queued) {
            enqueue();
        }
    }

    // Once, at stop, after the last consume() and flush(): deliver what is left, waiting at
    // most 5 s; whatever is still queued then is nacked. Either way every share completes.
    void close() override {
        std::unique_lock lock(mutex_);
        if (closing_) {
            return;
        }
        closing_ = true;
        enqueue();
        work_.notify_one();  // also when nothing is left: the delivery thread then ends
        if (!room_.wait_for(lock, 5s, [&] { return queue_.empty() && !busy_; })) {
            for (auto& late : queue_) {
                nack_all(late, rtcrm::errc::timeout);
            }
            queue_.clear();
        }
        lock.unlock();
        worker_.join();
    }

    void report(const rtcrm::runtime_stats& stats) {
        std::lock_guard lock(mutex_);
        fmt::print(stderr,
                   "deliveries: {} ok ({} outputs acked), {} failed ({} outputs nacked); consume() ran on {} threads\n",
                   ok_batches_.load(), acked_.load(), failed_batches_.load(), nacked_.load(), consumers_.size());
        fmt::print(stderr, "runtime: {}\n", stats.summary());
    }

private:
    void enqueue() {  // mutex_ held
        if (!pending_.empty()) {
            queue_.push_back(std::exchange(pending_, {}));
            work_.notify_one();
        }
    }

    void nack_all(std::vector<rtcrm::output>& batch, rtcrm::errc why) {
        for (auto& out : batch) {
            out.ack.nack(make_error_code(why));  // the event's position is not committed
        }
        nacked_ += batch.size();
    }

    // The delivery thread: one batch at a time, in order; acks and nacks happen here.
    void deliver_loop() {
        std::unique_lock lock(mutex_);
        for (;;) {
            work_.wait(lock, [&] { return !queue_.empty() || closing_; });
            if (queue_.empty()) {
                return;  // closing, and everything delivered
            }
            auto batch = std::move(queue_.front());
            queue_.pop_front();
            busy_ = true;
            room_.notify_all();
            lock.unlock();
            deliver(batch);
            lock.lock();
            busy_ = false;
            room_.notify_all();
        }
    }

    void deliver(std::vector<rtcrm::output>& batch) {
        std::this_thread::sleep_for(options_.round_trip);  // the request and its answer
        const auto n = ++deliveries_;
        if (options_.fail_every > 0 && n % options_.fail_every == 0) {
            fmt::print(stderr, "delivery {} failed: 503 from the pretend service; nacking {} outputs\n", n,
                       batch.size());
            nack_all(batch, rtcrm::errc::delivery_failed);
            ++failed_batches_;
            return;
        }
        std::string line = fmt::format(R"({{"delivery":{},"count":{},"outputs":[)", n, batch.size());
        for (std::size_t i = 0; i < batch.size(); ++i) {
            line += i == 0 ? "" : ",";
            line += batch[i].body;
        }
        line += "]}\n";
        std::fwrite(line.data(), 1, line.size(), options_.out);
        std::fflush(options_.out);
        for (auto& out : batch) {
            out.ack.ack();  // delivered: now the event may be committed
        }
        acked_ += batch.size();
        ++ok_batches_;
    }

    remote_options options_;
    std::mutex mutex_;
    std::condition_variable work_;                  // the delivery thread waits for batches
    std::condition_variable room_;                  // consume() and close() wait for the queue to drain
    std::vector<rtcrm::output> pending_;            // the batch being filled
    std::deque<std::vector<rtcrm::output>> queue_;  // full batches waiting for delivery
    std::set<std::thread::id> consumers_;
    bool busy_ = false;
    bool closing_ = false;
    std::atomic<std::uint64_t> deliveries_{0}, ok_batches_{0}, failed_batches_{0}, acked_{0}, nacked_{0};
    std::thread worker_;  // last: it starts once everything above exists
};

}  // namespace

int main(int argc, char** argv) try {
    remote_options options;
    for (int i = 1; i < argc; i += 2) {
        const std::string_view flag = argv[i];
        const std::string value = i + 1 < argc ? argv[i + 1] : "";
        if (flag == "--fail-every" && !value.empty()) {
            options.fail_every = std::stoull(value);
        } else if (flag == "--out" && !value.empty()) {
            options.out = std::fopen(value.c_str(), "w");
            if (options.out == nullptr) {
                throw std::runtime_error("cannot open " + value);
            }
        } else {
            throw std::runtime_error(fmt::format("bad option {} (use --fail-every N, --out FILE)", flag));
        }
    }
    auto sink = std::make_shared<remote_sink>(options);
    auto engine = std::make_shared<rtcrm::lua_engine>(rtcrm::lua_options{.script_dir = "lua/examples"});
    rtcrm::topology t;
    t.add_source(std::make_unique<rtcrm::generator_source>(
                     rtcrm::generator_options{.events = 20000, .players = 2000, .seed = 7, .scenario = "bob"}))
        .add_shard_bolt(engine->make_bolt_factory())
        .add_sink(rtcrm::stream::main, sink)
        .with_options({.shards = 2});
    rtcrm::runtime rt{std::move(t)};
    rt.run();  // until the generator ends; stop() drains, flushes, then calls close()
    sink->report(rt.stats());
    if (options.out != stdout) {
        std::fclose(options.out);
    }
    return 0;
} catch (const std::exception& e) {
    fmt::print(stderr, "rtcrm-custom-sink: {}\n", e.what());
    return 1;
}
