#include <rtcrm/kafka/kafka_source.hpp>
#include <rtcrm/kafka/kafka_topic.hpp>

#include "core/logging.hpp"
#include "message_record.hpp"
#include "rdkafka.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace rtcrm {

using namespace detail::kafka;
using clock = std::chrono::steady_clock;

namespace {

// "2026-11-22T10:00:00Z" or with ".123" milliseconds → ms since the epoch, or nullopt.
std::optional<std::int64_t> parse_iso8601(std::string_view text) {
    if (text.find('\0') != std::string_view::npos) {
        return std::nullopt;  // strptime reads a C string: what follows a NUL would go unread
    }
    std::tm tm{};
    const std::string s{text};
    const char* rest = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (rest == nullptr) {
        return std::nullopt;
    }
    std::int64_t millis = 0;
    if (*rest == '.') {
        ++rest;
        int digits = 0;
        while (*rest >= '0' && *rest <= '9') {
            if (digits < 3) {
                millis = millis * 10 + (*rest - '0');
            }
            ++digits;
            ++rest;
        }
        for (; digits < 3; ++digits) {
            millis *= 10;
        }
    }
    if (std::strcmp(rest, "Z") != 0) {
        return std::nullopt;
    }
    return static_cast<std::int64_t>(timegm(&tm)) * 1000 + millis;
}

}  // namespace

void parse_kafka_start(std::string_view text, kafka_start& start, std::int64_t& timestamp_ms) {
    if (text == "committed") {
        start = kafka_start::committed;
    } else if (text == "earliest") {
        start = kafka_start::earliest;
    } else if (text == "latest") {
        start = kafka_start::latest;
    } else {
        std::int64_t ms = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
        if (ec == std::errc{} && end == text.data() + text.size() && ms >= 0) {
            timestamp_ms = ms;
        } else if (const auto iso = parse_iso8601(text)) {
            timestamp_ms = *iso;
        } else {
            throw error(errc::invalid_config,
                        fmt::format("kafka start '{}': expected committed, earliest, latest, a timestamp in ms "
                                    "or YYYY-MM-DDTHH:MM:SS[.mmm]Z",
                                    text));
        }
        start = kafka_start::timestamp;
    }
}

void kafka_source_options::validate() const {
    if (brokers.empty()) {
        throw error(errc::invalid_config, "kafka_source: brokers is empty");
    }
    validate_kafka_topic(topic, "kafka_source");
    if (group.empty()) {
        throw error(errc::invalid_config, "kafka_source: group is empty");
    }
    if (start == kafka_start::timestamp && start_timestamp_ms < 0) {
        throw error(errc::invalid_config, "kafka_source: start_timestamp_ms is negative");
    }
}

struct kafka_source::impl {
    kafka_source_options opt;
    std::string name;
    handle_ptr rk;
    source_control* control = nullptr;

    // Source thread only.
    std::vector<record>* filling = nullptr;  // poll()'s output while it is being filled
    std::size_t filling_from = 0;            // records before this index are not ours to touch
    std::deque<record> stash;                // read while idle; handed out by the next poll
    std::set<std::int32_t> assigned;
    std::set<std::int32_t> seen;                     // assigned at least once in this process
    std::map<std::int32_t, std::int64_t> skip_before;  // timestamp start: skip older messages until one is not
    std::map<std::int32_t, std::int64_t> committed;  // next offset committed, per partition
    std::map<std::int32_t, std::int64_t> last_read;  // offset of the last message read
    bool paused = false;
    clock::time_point next_status = clock::now();

    mutable std::mutex status_mutex;
    kafka_source_status status_;  // guarded by status_mutex
    std::atomic<std::uint64_t> messages{0};
    std::atomic<std::uint64_t> rebalances{0};
    std::atomic<std::uint64_t> commits{0};
    std::atomic<std::uint64_t> commit_failures{0};
    std::atomic<std::uint64_t> unused_keys{0};

    explicit impl(kafka_source_options o) : opt(std::move(o)) {
        opt.validate();
        name = opt.name.empty() ? "kafka:" + opt.topic : opt.name;
        const kafka_properties defaults{
            {"auto.offset.reset", opt.start == kafka_start::latest ? "latest" : "earliest"},
            {"client.id", "rtcrm"},
            {"enable.partition.eof", "false"},
        };
        const kafka_properties forced{
            {"bootstrap.servers", opt.brokers},
            {"group.id", opt.group},
            {"enable.auto.commit", "false"},       // commits follow the runtime's safe positions only
            {"enable.auto.offset.store", "false"},
        };
        auto conf = make_conf(name, defaults, opt.properties, forced);
        rd_kafka_conf_set_opaque(conf.get(), this);
        rd_kafka_conf_set_rebalance_cb(conf.get(), &impl::on_rebalance);
        rd_kafka_conf_set_offset_commit_cb(conf.get(), &impl::on_commit);
        rk = make_handle(name, RD_KAFKA_CONSUMER, std::move(conf));
        rd_kafka_poll_set_consumer(rk.get());  // callbacks are served by consumer_poll
    }

    static void on_commit(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t*, void* opaque) {
        auto* self = static_cast<impl*>(opaque);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
            self->commit_failures.fetch_add(1, std::memory_order_relaxed);
        }
    }

    static void on_rebalance(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                             void* opaque) {
        auto* self = static_cast<impl*>(opaque);
        self->rebalances.fetch_add(1, std::memory_order_relaxed);
        try {
            if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                self->assign(parts);
            } else {
                self->revoke(parts);
            }
        } catch (const std::exception& e) {
            detail::log_fmt(log_level::error, "kafka", "{}: rebalance failed: {}", self->name, e.what());
        }
    }

    [[nodiscard]] bool cooperative() const {
        const char* protocol = rd_kafka_rebalance_protocol(rk.get());
        return protocol != nullptr && std::strcmp(protocol, "COOPERATIVE") == 0;
    }

    void assign(rd_kafka_topic_partition_list_t* parts) {
        std::vector<int> by_time;  // indexes into parts that start at a timestamp
        std::vector<std::int32_t> back;  // owned before in this process
        for (int i = 0; i < parts->cnt; ++i) {
            auto& tp = parts->elems[i];
            // Whatever this process tracked of the partition before is stale now.
            control->release(tp.partition);
            committed.erase(tp.partition);
            last_read.erase(tp.partition);
            tp.offset = RD_KAFKA_OFFSET_INVALID;  // the committed offset (or auto.offset.reset)
            if (!seen.insert(tp.partition).second) {
                back.push_back(tp.partition);
            } else {
                switch (opt.start) {
                case kafka_start::committed: break;
                case kafka_start::earliest: tp.offset = RD_KAFKA_OFFSET_BEGINNING; break;
                case kafka_start::latest: tp.offset = RD_KAFKA_OFFSET_END; break;
                case kafka_start::timestamp: by_time.push_back(i); break;
                }
            }
        }
        // The revoke dropped the profiles of these partitions; events finished after it
        // (past revoke_timeout) may have cached some again, from before the other owner's
        // updates.
        control->forget_profiles(back, opt.revoke_timeout);
        if (!by_time.empty()) {
            seek_to_timestamp(parts, by_time);
        }
        rd_kafka_error_t* failure = nullptr;
        rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
        if (cooperative()) {
            failure = rd_kafka_incremental_assign(rk.get(), parts);
        } else {
            err = rd_kafka_assign(rk.get(), parts);
        }
        if (failure != nullptr) {
            const std::string why = rd_kafka_error_string(failure);
            rd_kafka_error_destroy(failure);
            throw error(errc::io_error, fmt::format("assign: {}", why));
        }
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            throw error(errc::io_error, fmt::format("assign: {}", describe(err)));
        }
        for (int i = 0; i < parts->cnt; ++i) {
            assigned.insert(parts->elems[i].partition);
        }
        paused = false;
    }

    // Kafka's offsetsForTimes where the broker answers it; where it does not (or answers
    // nothing), read from the beginning. Either way messages older than the timestamp
    // are skipped until the first one that is not, which is what offsetsForTimes means.
    void seek_to_timestamp(rd_kafka_topic_partition_list_t* parts, const std::vector<int>& by_time) {
        list_ptr query{rd_kafka_topic_partition_list_new(static_cast<int>(by_time.size()))};
        for (int i : by_time) {
            rd_kafka_topic_partition_list_add(query.get(), parts->elems[i].topic, parts->elems[i].partition)->offset =
                opt.start_timestamp_ms;
        }
        const auto err = rd_kafka_offsets_for_times(rk.get(), query.get(), 10'000);
        for (int i : by_time) {
            auto& tp = parts->elems[i];
            tp.offset = RD_KAFKA_OFFSET_BEGINNING;
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                const auto* found = rd_kafka_topic_partition_list_find(query.get(), tp.topic, tp.partition);
                if (found != nullptr && found->err == RD_KAFKA_RESP_ERR_NO_ERROR && found->offset >= 0) {
                    tp.offset = found->offset;
                }
            }
            skip_before[tp.partition] = opt.start_timestamp_ms;
        }
    }

    void revoke(rd_kafka_topic_partition_list_t* parts) {
        std::set<std::int32_t> going;
        for (int i = 0; i < parts->cnt; ++i) {
            going.insert(parts->elems[i].partition);
        }
        // Read but not yet handed to the runtime: the next owner reads them again.
        auto ours = [&](const record& r) { return going.contains(r.origin.partition); };
        if (filling != nullptr) {
            filling->erase(std::remove_if(filling->begin() + static_cast<std::ptrdiff_t>(filling_from), filling->end(), ours),
                           filling->end());
        }
        std::erase_if(stash, ours);

        // Let the in-flight events of those partitions finish, then commit what is safe.
        const auto deadline = clock::now() + opt.revoke_timeout;
        auto busy = [&] {
            return std::any_of(going.begin(), going.end(), [&](std::int32_t p) { return control->in_flight(p) > 0; });
        };
        while (busy() && clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        // The next owner reads these partitions' players from the store: no copy of them
        // may stay here, to be written over its updates if the partition comes back.
        control->forget_profiles(std::vector<std::int32_t>(going.begin(), going.end()), opt.revoke_timeout);
        std::vector<source_position> safe;
        for (auto& pos : control->safe_positions()) {
            if (going.contains(pos.partition)) {
                safe.push_back(std::move(pos));
            }
        }
        commit_positions(safe, /*async=*/false);
        for (auto p : going) {
            if (const auto left = control->in_flight(p); left > 0) {
                detail::log_fmt(log_level::warning, "kafka",
                                "{}: partition {} revoked with {} events still in flight; they are not committed", name,
                                p, left);
            }
            control->release(p);
            assigned.erase(p);
            committed.erase(p);
            last_read.erase(p);
            skip_before.erase(p);
        }
        if (cooperative()) {
            if (auto* failure = rd_kafka_incremental_unassign(rk.get(), parts)) {
                rd_kafka_error_destroy(failure);
            }
        } else {
            rd_kafka_assign(rk.get(), nullptr);
            assigned.clear();
        }
        paused = false;
    }

    void commit_positions(std::span<const source_position> positions, bool async) {
        list_ptr list{rd_kafka_topic_partition_list_new(static_cast<int>(positions.size()))};
        for (const auto& pos : positions) {
            if (!assigned.contains(pos.partition)) {
                continue;  // no longer ours: its new owner commits it
            }
            const auto next = pos.offset + 1;  // Kafka commits the next offset to read
            auto [it, fresh] = committed.try_emplace(pos.partition, next);
            if (!fresh) {
                if (it->second >= next) {
                    continue;
                }
                it->second = next;
            }
            rd_kafka_topic_partition_list_add(list.get(), opt.topic.c_str(), pos.partition)->offset = next;
        }
        if (list->cnt == 0) {
            return;
        }
        const auto err = rd_kafka_commit(rk.get(), list.get(), async ? 1 : 0);
        commits.fetch_add(1, std::memory_order_relaxed);
        if (!async && err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            commit_failures.fetch_add(1, std::memory_order_relaxed);
            detail::log_fmt(log_level::warning, "kafka", "{}: commit failed: {}; those events will be read again", name,
                            describe(err));
        }
    }

    // Turns one message into a record, or nothing (an error, or before a replay's start).
    void take(rd_kafka_message_t* m, std::vector<record>& out) {
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                return;
            }
            char reason[512];
            if (rd_kafka_fatal_error(rk.get(), reason, sizeof reason) != RD_KAFKA_RESP_ERR_NO_ERROR) {
                throw error(errc::io_error, fmt::format("{}: fatal consumer error: {}", name, reason));
            }
            detail::log_fmt(log_level::warning, "kafka", "{}: {}", name, rd_kafka_message_errstr(m));
            return;
        }
        last_read[m->partition] = m->offset;
        if (const auto skip = skip_before.find(m->partition); skip != skip_before.end()) {
            rd_kafka_timestamp_type_t type{};
            if (rd_kafka_message_timestamp(m, &type) < skip->second) {
                return;  // before the replay's start: not an event of this run
            }
            skip_before.erase(skip);
        }
        auto as_view = [](const void* data, std::size_t size) -> std::optional<std::string_view> {
            if (data == nullptr) {
                return std::nullopt;
            }
            return std::string_view{static_cast<const char*>(data), size};
        };
        auto taken = record_from_message(as_view(m->key, m->key_len), as_view(m->payload, m->len), opt.key_from_message);
        if (taken.key != key_use::player && taken.key != key_use::absent) {
            report_unused_key(taken.key, m);
        }
        taken.rec.origin.partition = m->partition;
        taken.rec.origin.offset = m->offset;
        out.push_back(std::move(taken.rec));
        messages.fetch_add(1, std::memory_order_relaxed);
    }

    // Counted; logged the 1st, 2nd, 4th, 8th... time, so a producer with binary keys
    // is visible without a line per message.
    void report_unused_key(key_use why, const rd_kafka_message_t* m) {
        const auto n = unused_keys.fetch_add(1, std::memory_order_relaxed) + 1;
        if ((n & (n - 1)) == 0) {
            detail::log_fmt(log_level::warning, "kafka",
                            "{}: message key at partition {} offset {} ({} bytes) is not used as the player key: {} "
                            "(a key must be 1 to {} bytes of UTF-8 without control characters); the event's key field "
                            "names the player instead ({} such keys so far)",
                            name, m->partition, m->offset, m->key_len, key_use_name(why), max_player_key_size, n);
        }
    }

    void set_paused(bool on) {
        if (paused == on || assigned.empty()) {
            paused = on && !assigned.empty();
            return;
        }
        list_ptr list{rd_kafka_topic_partition_list_new(static_cast<int>(assigned.size()))};
        for (auto p : assigned) {
            rd_kafka_topic_partition_list_add(list.get(), opt.topic.c_str(), p);
        }
        if (on) {
            rd_kafka_pause_partitions(rk.get(), list.get());
        } else {
            rd_kafka_resume_partitions(rk.get(), list.get());
        }
        paused = on;
    }

    void update_status() {
        const auto now = clock::now();
        if (now < next_status) {
            return;
        }
        next_status = now + std::chrono::seconds(1);
        kafka_source_status s;
        s.assigned.assign(assigned.begin(), assigned.end());
        for (auto p : assigned) {
            std::int64_t low = 0;
            std::int64_t high = 0;
            if (rd_kafka_get_watermark_offsets(rk.get(), opt.topic.c_str(), p, &low, &high) != RD_KAFKA_RESP_ERR_NO_ERROR ||
                high < 0) {
                s.lag = -1;
                break;
            }
            const auto read = last_read.find(p);
            s.lag += std::max<std::int64_t>(0, high - (read == last_read.end() ? low : read->second + 1));
        }
        s.paused = paused;
        std::lock_guard lock(status_mutex);
        status_ = std::move(s);
    }
};

kafka_source::kafka_source(kafka_source_options options) : impl_(std::make_unique<impl>(std::move(options))) {}

kafka_source::~kafka_source() = default;

std::string_view kafka_source::name() const noexcept { return impl_->name; }

void kafka_source::attach(source_control& control) { impl_->control = &control; }

void kafka_source::open() {
    if (impl_->control == nullptr) {
        throw error(errc::invalid_config, fmt::format("{}: open() before attach(): run it in an rtcrm::runtime", impl_->name));
    }
    list_ptr topics{rd_kafka_topic_partition_list_new(1)};
    rd_kafka_topic_partition_list_add(topics.get(), impl_->opt.topic.c_str(), RD_KAFKA_PARTITION_UA);
    if (const auto err = rd_kafka_subscribe(impl_->rk.get(), topics.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        throw error(errc::io_error, fmt::format("{}: subscribe: {}", impl_->name, describe(err)));
    }
}

poll_status kafka_source::poll(std::vector<record>& out, std::size_t max, std::chrono::milliseconds timeout) {
    auto& s = *impl_;
    s.set_paused(false);
    s.filling_from = out.size();  // earlier records are the caller's; stashed ones are still ours
    while (!s.stash.empty() && out.size() < max) {
        out.push_back(std::move(s.stash.front()));
        s.stash.pop_front();
    }
    s.filling = &out;
    const auto deadline = clock::now() + timeout;
    try {
        while (out.size() < max) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
            const int wait = out.empty() ? static_cast<int>(std::max<std::int64_t>(left, 0)) : 0;
            message_ptr m{rd_kafka_consumer_poll(s.rk.get(), wait)};
            if (!m) {
                if (!out.empty() || wait == 0) {
                    break;
                }
                continue;
            }
            s.take(m.get(), out);
        }
    } catch (...) {
        s.filling = nullptr;
        throw;
    }
    s.filling = nullptr;
    s.update_status();
    return poll_status::more;
}

void kafka_source::idle() {
    auto& s = *impl_;
    s.set_paused(true);
    // Serves the group (heartbeats, rebalances); a message that still comes waits in the stash.
    std::vector<record> read;
    message_ptr m{rd_kafka_consumer_poll(s.rk.get(), 0)};
    if (m) {
        s.take(m.get(), read);
    }
    for (auto& r : read) {
        s.stash.push_back(std::move(r));
    }
    s.update_status();
}

void kafka_source::commit(std::span<const source_position> positions) {
    impl_->commit_positions(positions, true);
}

void kafka_source::close() {
    // Leaves the group: the revoke callback commits what is safe, and the partitions move
    // to the other members at once instead of after the session timeout.
    if (const auto err = rd_kafka_consumer_close(impl_->rk.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        detail::log_fmt(log_level::warning, "kafka", "{}: close: {}", impl_->name, describe(err));
    }
}

void kafka_source::wakeup() { rd_kafka_yield(impl_->rk.get()); }

kafka_source_status kafka_source::status() const {
    kafka_source_status s;
    {
        std::lock_guard lock(impl_->status_mutex);
        s = impl_->status_;
    }
    s.messages = impl_->messages.load(std::memory_order_relaxed);
    s.rebalances = impl_->rebalances.load(std::memory_order_relaxed);
    s.committed = impl_->commits.load(std::memory_order_relaxed);
    s.commit_failures = impl_->commit_failures.load(std::memory_order_relaxed);
    s.unused_keys = impl_->unused_keys.load(std::memory_order_relaxed);
    return s;
}

}  // namespace rtcrm
