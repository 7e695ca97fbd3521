#include <rtcrm/core/profile.hpp>
#include <rtcrm/core/json_text.hpp>

#include "core/profile_size.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace rtcrm {
namespace {

namespace encoded = detail::encoded;

template <typename Vec>
auto find_named(Vec& vec, std::string_view name) noexcept {
    return std::find_if(vec.begin(), vec.end(), [&](const auto& entry) { return entry.first == name; });
}

// Floor division, so a bucket start is correct for times before the epoch too.
// Event times are bounded at parse, but a profile is also driven by hosts and scripts with
// any int64: the time arithmetic saturates instead of overflowing.
std::int64_t saturating_add(std::int64_t a, std::int64_t b) noexcept {
    std::int64_t r = 0;
    if (__builtin_add_overflow(a, b, &r)) {
        return b > 0 ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
    }
    return r;
}

std::int64_t saturating_sub(std::int64_t a, std::int64_t b) noexcept {
    std::int64_t r = 0;
    if (__builtin_sub_overflow(a, b, &r)) {
        return b < 0 ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
    }
    return r;
}

std::int64_t bucket_start(std::int64_t ts, std::int64_t width) noexcept {
    const std::int64_t q = ts / width;
    std::int64_t start = 0;
    if (__builtin_mul_overflow(ts % width != 0 && ts < 0 ? q - 1 : q, width, &start)) {
        return std::numeric_limits<std::int64_t>::min();  // the bucket below the first whole one
    }
    return start;
}

// JSON text is UTF-8: a name or a string a script stored that is not (Lua strings are
// bytes) shows U+FFFD in place of each ill-formed sequence (json_text.hpp).
void write_text(rapidjson::Writer<rapidjson::StringBuffer>& w, std::string_view s, bool key = false) {
    if (is_valid_utf8(s)) {
        key ? w.Key(s.data(), static_cast<rapidjson::SizeType>(s.size()))
            : w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
        return;
    }
    const auto valid = to_valid_utf8(s);
    key ? w.Key(valid.data(), static_cast<rapidjson::SizeType>(valid.size()))
        : w.String(valid.data(), static_cast<rapidjson::SizeType>(valid.size()));
}

void write_attribute(rapidjson::Writer<rapidjson::StringBuffer>& w, const attribute& value) {
    std::visit(
        [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::monostate>) {
                w.Null();
            } else if constexpr (std::is_same_v<T, bool>) {
                w.Bool(v);
            } else if constexpr (std::is_same_v<T, std::int64_t>) {
                w.Int64(v);
            } else if constexpr (std::is_same_v<T, double>) {
                w.Double(v);
            } else if constexpr (std::is_same_v<T, std::string>) {
                write_text(w, v);
            } else {
                w.RawValue(v.text.data(), v.text.size(), rapidjson::kObjectType);
            }
        },
        value);
}

void write_key(rapidjson::Writer<rapidjson::StringBuffer>& w, std::string_view s) { write_text(w, s, true); }

}  // namespace

const attribute* profile::get(std::string_view name) const noexcept {
    const auto it = find_named(attributes_, name);
    return it == attributes_.end() ? nullptr : &it->second;
}

void profile::set(std::string_view name, attribute value) {
    auto it = find_named(attributes_, name);
    if (it == attributes_.end()) {
        const std::size_t n = attributes_.size();
        const std::size_t added = encoded::varint(n + 1) + encoded::attribute_entry(name, value);
        attributes_.emplace_back(std::string{name}, std::move(value));
        resized(encoded::varint(n), added);
    } else {
        const std::size_t removed = encoded::value(it->second);
        const std::size_t added = encoded::value(value);
        it->second = std::move(value);
        resized(removed, added);
    }
}

bool profile::erase(std::string_view name) {
    const auto it = find_named(attributes_, name);
    if (it == attributes_.end()) {
        return false;
    }
    const std::size_t n = attributes_.size();
    const std::size_t removed = encoded::varint(n) + encoded::attribute_entry(it->first, it->second);
    attributes_.erase(it);
    resized(removed, encoded::varint(n - 1));
    return true;
}

std::optional<attribute> profile::plus(const attribute* current, double delta) noexcept {
    const bool integral = std::trunc(delta) == delta && std::abs(delta) < 9.0e15;
    if (current == nullptr) {
        return integral ? attribute{static_cast<std::int64_t>(delta)} : attribute{delta};
    }
    if (const auto* i = std::get_if<std::int64_t>(current)) {
        return integral ? attribute{*i + static_cast<std::int64_t>(delta)} : attribute{static_cast<double>(*i) + delta};
    }
    if (const auto* d = std::get_if<double>(current)) {
        return attribute{*d + delta};
    }
    return std::nullopt;
}

std::optional<double> profile::incr(std::string_view name, double delta) {
    const auto it = find_named(attributes_, name);
    auto sum = plus(it == attributes_.end() ? nullptr : &it->second, delta);
    if (!sum) {
        return std::nullopt;
    }
    const double result = std::holds_alternative<std::int64_t>(*sum) ? static_cast<double>(std::get<std::int64_t>(*sum))
                                                                     : std::get<double>(*sum);
    if (it == attributes_.end()) {
        const std::size_t n = attributes_.size();
        const std::size_t added = encoded::varint(n + 1) + encoded::attribute_entry(name, *sum);
        attributes_.emplace_back(std::string{name}, std::move(*sum));
        resized(encoded::varint(n), added);
    } else {
        const std::size_t removed = encoded::value(it->second);
        it->second = std::move(*sum);
        resized(removed, encoded::value(it->second));
    }
    return result;
}

void profile::incr_windowed(std::string_view name, std::int64_t delta, std::int64_t ts, std::int64_t bucket_ms,
                            const profile_limits& limits) {
    auto it = find_named(counters_, name);
    windowed_counter& c = it != counters_.end() ? it->second : add_counter(name, bucket_ms);
    add_to_counter(c, delta, ts, limits);
}

windowed_counter& profile::add_counter(std::string_view name, std::int64_t bucket_ms) {
    auto& entry = counters_.emplace_back(std::string{name}, windowed_counter{0, bucket_ms > 0 ? bucket_ms : 1, {}});
    resized(encoded::varint(counters_.size() - 1),
            encoded::varint(counters_.size()) + encoded::counter_entry(entry.first, entry.second));
    return entry.second;
}

void profile::add_to_counter(windowed_counter& c, std::int64_t delta, std::int64_t ts, const profile_limits& limits) {
    // Bytes the change removes from the encoding and adds to it. The one step that can
    // throw (inserting a bucket) comes before any other change.
    std::size_t removed = encoded::integer(c.total);
    std::size_t added = encoded::integer(saturating_add(c.total, delta));
    const std::int64_t start = bucket_start(ts, c.bucket_ms);
    auto& buckets = c.buckets;
    // Events mostly arrive in time order, so the bucket is usually the last one.
    auto pos = std::lower_bound(buckets.begin(), buckets.end(), start,
                                [](const auto& bucket, std::int64_t value) { return bucket.first < value; });
    if (pos != buckets.end() && pos->first == start) {
        removed += encoded::integer(pos->second);
        pos->second = saturating_add(pos->second, delta);
        added += encoded::integer(pos->second);
    } else if (pos != buckets.begin() || buckets.size() < limits.max_buckets) {
        // (Otherwise it is older than everything kept: it counts toward the total only.)
        removed += encoded::varint(buckets.size());
        added += encoded::bucket(start, delta);
        buckets.insert(pos, {start, delta});
        if (buckets.size() > limits.max_buckets) {
            const auto dropped = buckets.begin() + static_cast<std::ptrdiff_t>(buckets.size() - limits.max_buckets);
            for (auto b = buckets.begin(); b != dropped; ++b) {
                removed += encoded::bucket(b->first, b->second);
            }
            buckets.erase(buckets.begin(), dropped);
        }
        added += encoded::varint(buckets.size());
    }
    c.total = saturating_add(c.total, delta);
    resized(removed, added);
}

std::int64_t profile::count(std::string_view name, std::int64_t window_ms, std::int64_t now_ms) const noexcept {
    const auto it = find_named(counters_, name);
    if (it == counters_.end()) {
        return 0;
    }
    const windowed_counter& c = it->second;
    if (window_ms <= 0) {
        return c.total;
    }
    std::int64_t sum = 0;
    for (const auto& [start, n] : c.buckets) {
        // A bucket counts if it overlaps the window (now - window, now].
        if (saturating_add(start, c.bucket_ms) > saturating_sub(now_ms, window_ms) && start <= now_ms) {
            sum = saturating_add(sum, n);
        }
    }
    return sum;
}

void profile::touch(std::int64_t ts) noexcept {
    if (ts > last_event_ts_) {
        resized(encoded::integer(last_event_ts_), encoded::integer(ts));
        last_event_ts_ = ts;
    }
}

void profile::record_event(std::string_view type, std::int64_t ts, std::string_view id, const profile_limits& limits) {
    touch(ts);
    if (limits.recent_events == 0) {
        return;
    }
    if (recent_.size() > limits.recent_events) {
        // The limit shrank: keep the newest, in order.
        auto ordered = recent();
        ordered.erase(ordered.begin(), ordered.end() - static_cast<std::ptrdiff_t>(limits.recent_events));
        recent_ = std::move(ordered);
        recent_head_ = 0;
        encoded_size_ = unknown_size;  // rare: measured again when next asked
    }
    const std::size_t added = encoded::recent_entry(type, ts, id);
    if (recent_.size() < limits.recent_events) {
        recent_.push_back(recent_event{std::string{type}, ts, std::string{id}});
        resized(encoded::varint(recent_.size() - 1), encoded::varint(recent_.size()) + added);
        return;
    }
    // Full: overwrite the oldest in place (reusing its strings' storage).
    auto& slot = recent_[recent_head_];
    const std::size_t removed = encoded::recent_entry(slot.type, slot.ts, slot.id);
    slot.type.assign(type);
    slot.ts = ts;
    slot.id.assign(id);
    resized(removed, added);
    recent_head_ = (recent_head_ + 1) % recent_.size();
}

bool profile::applied(std::string_view source, std::int32_t partition, std::int64_t offset) const noexcept {
    for (const auto& a : applied_) {
        if (a.partition == partition && a.source == source) {
            return offset <= a.offset;
        }
    }
    return false;
}

void profile::mark_applied(std::string_view source, std::int32_t partition, std::int64_t offset) {
    for (auto& a : applied_) {
        if (a.partition == partition && a.source == source) {
            if (offset > a.offset) {
                resized(encoded::integer(a.offset), encoded::integer(offset));
                a.offset = offset;
            }
            return;
        }
    }
    applied_.push_back(applied_position{std::string{source}, partition, offset});
    resized(encoded::varint(applied_.size() - 1),
            encoded::varint(applied_.size()) + encoded::applied_entry(applied_.back()));
}

std::vector<recent_event> profile::recent() const {
    std::vector<recent_event> out;
    out.reserve(recent_.size());
    for (std::size_t k = 0; k < recent_.size(); ++k) {
        out.push_back(recent_[(recent_head_ + k) % recent_.size()]);
    }
    return out;
}

std::size_t profile::encoded_size() const noexcept { return encoded_size_ != unknown_size ? encoded_size_ : measure(); }

std::size_t profile::measure() const noexcept {
    // In the codec's order: version, key kind, key, last event time, then each list.
    std::size_t size = 2 + encoded::string(key_.text()) + encoded::integer(last_event_ts_);
    size += encoded::varint(attributes_.size());
    for (const auto& [name, value] : attributes_) {
        size += encoded::attribute_entry(name, value);
    }
    size += encoded::varint(counters_.size());
    for (const auto& [name, c] : counters_) {
        size += encoded::counter_entry(name, c);
    }
    size += encoded::varint(recent_.size());
    for (const auto& e : recent_) {
        size += encoded::recent_entry(e.type, e.ts, e.id);
    }
    size += encoded::varint(triggers_.size());
    for (const auto& [campaign, h] : triggers_) {
        size += encoded::trigger_entry(campaign, h);
    }
    size += encoded::varint(applied_.size());
    for (const auto& a : applied_) {
        size += encoded::applied_entry(a);
    }
    return size + encoded::tail_sections(timers_, triggers_);
}

bool operator==(const profile& a, const profile& b) {
    return a.key_ == b.key_ && a.attributes_ == b.attributes_ && a.counters_ == b.counters_ && a.triggers_ == b.triggers_ &&
           a.applied_ == b.applied_ && a.last_event_ts_ == b.last_event_ts_ && a.recent() == b.recent() &&
           a.timers_ == b.timers_;
}

bool profile::expire_history(std::int64_t cutoff_ms) {
    bool changed = false;
    if (std::any_of(recent_.begin(), recent_.end(), [&](const recent_event& e) { return e.ts < cutoff_ms; })) {
        auto ordered = recent();
        std::erase_if(ordered, [&](const recent_event& e) { return e.ts < cutoff_ms; });
        recent_ = std::move(ordered);
        recent_head_ = 0;  // not full any more: appends go to the back
        changed = true;
    }
    for (auto& [name, h] : triggers_) {
        changed |= std::erase_if(h.recent, [&](std::int64_t ts) { return ts < cutoff_ms; }) > 0;
    }
    for (auto& [name, c] : counters_) {
        const auto width = c.bucket_ms;
        changed |= std::erase_if(c.buckets, [&](const auto& b) { return saturating_add(b.first, width) <= cutoff_ms; }) > 0;
    }
    if (changed) {
        encoded_size_ = unknown_size;  // a background sweep: measured again when next asked
    }
    return changed;
}

void profile::record_trigger(std::string_view campaign, std::int64_t ts, const profile_limits& limits) {
    auto it = find_named(triggers_, campaign);
    if (it == triggers_.end()) {
        triggers_.emplace_back(std::string{campaign}, trigger_history{});
        it = std::prev(triggers_.end());
        resized(encoded::varint(triggers_.size() - 1),
                encoded::varint(triggers_.size()) + encoded::trigger_entry(it->first, it->second));
    }
    auto& h = it->second;
    // Firings are rarer than events and the list is short: measure the entry before and after.
    const std::size_t before = encoded::trigger_entry(it->first, h);
    h.recent.push_back(ts);
    h.total = saturating_add(h.total, 1);
    if (h.recent.size() > limits.recent_triggers) {
        h.recent.erase(h.recent.begin(), h.recent.begin() + static_cast<std::ptrdiff_t>(h.recent.size() - limits.recent_triggers));
    }
    resized(before, encoded::trigger_entry(it->first, h));
}

bool profile::mark_converted(std::string_view campaign) {
    const auto it = find_named(triggers_, campaign);
    if (it == triggers_.end() || it->second.total == 0 || it->second.converted == it->second.total) {
        return false;
    }
    const std::size_t before = encoded::tail_sections(timers_, triggers_);
    it->second.converted = it->second.total;
    resized(before, encoded::tail_sections(timers_, triggers_));
    return true;
}

void profile::set_timer(std::string_view name, std::int64_t due, std::string_view event_id, std::string_view data,
                        std::string_view ref) {
    const auto before = encoded::tail_sections(timers_, triggers_);
    auto it = std::find_if(timers_.begin(), timers_.end(), [&](const pending_timer& t) { return t.name == name; });
    if (it == timers_.end()) {
        timers_.push_back(pending_timer{std::string{name}, due, std::string{event_id}, std::string{data}, std::string{ref}});
    } else {
        it->due = due;
        it->event_id.assign(event_id);
        it->data.assign(data);
        it->ref.assign(ref);
    }
    resized(before, encoded::tail_sections(timers_, triggers_));
}

bool profile::cancel_timer(std::string_view name) {
    const auto it = std::find_if(timers_.begin(), timers_.end(), [&](const pending_timer& t) { return t.name == name; });
    if (it == timers_.end()) {
        return false;
    }
    const auto before = encoded::tail_sections(timers_, triggers_);
    timers_.erase(it);
    resized(before, encoded::tail_sections(timers_, triggers_));
    return true;
}

const pending_timer* profile::timer(std::string_view name) const noexcept {
    const auto it = std::find_if(timers_.begin(), timers_.end(), [&](const pending_timer& t) { return t.name == name; });
    return it == timers_.end() ? nullptr : &*it;
}

std::optional<std::int64_t> profile::next_timer_due() const noexcept {
    std::optional<std::int64_t> next;
    for (const auto& t : timers_) {
        if (!next || t.due < *next) {
            next = t.due;
        }
    }
    return next;
}

const trigger_history* profile::triggers(std::string_view campaign) const noexcept {
    const auto it = find_named(triggers_, campaign);
    return it == triggers_.end() ? nullptr : &it->second;
}

std::int64_t profile::triggers_since(std::string_view campaign, std::int64_t since_ms) const noexcept {
    const auto* h = triggers(campaign);
    if (h == nullptr) {
        return 0;
    }
    return static_cast<std::int64_t>(std::count_if(h->recent.begin(), h->recent.end(), [&](std::int64_t t) { return t >= since_ms; }));
}

std::string profile::to_json() const {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    write_key(w, "player_id");
    if (auto i = key_.integer()) {
        w.Int64(*i);
    } else {
        write_text(w, key_.text());
    }
    write_key(w, "attributes");
    w.StartObject();
    for (const auto& [name, value] : attributes_) {
        write_key(w, name);
        write_attribute(w, value);
    }
    w.EndObject();
    write_key(w, "counters");
    w.StartObject();
    for (const auto& [name, c] : counters_) {
        write_key(w, name);
        w.StartObject();
        write_key(w, "total");
        w.Int64(c.total);
        write_key(w, "bucket_ms");
        w.Int64(c.bucket_ms);
        write_key(w, "buckets");
        w.StartArray();
        for (const auto& [start, n] : c.buckets) {
            w.StartArray();
            w.Int64(start);
            w.Int64(n);
            w.EndArray();
        }
        w.EndArray();
        w.EndObject();
    }
    w.EndObject();
    write_key(w, "recent");
    w.StartArray();
    for (const auto& e : recent()) {
        w.StartObject();
        write_key(w, "type");
        write_text(w, e.type);
        write_key(w, "ts");
        w.Int64(e.ts);
        if (!e.id.empty()) {
            write_key(w, "id");
            write_text(w, e.id);
        }
        w.EndObject();
    }
    w.EndArray();
    write_key(w, "triggers");
    w.StartObject();
    for (const auto& [campaign, h] : triggers_) {
        write_key(w, campaign);
        w.StartObject();
        write_key(w, "total");
        w.Int64(h.total);
        write_key(w, "recent");
        w.StartArray();
        for (auto t : h.recent) {
            w.Int64(t);
        }
        w.EndArray();
        if (h.converted != 0) {
            write_key(w, "converted");
            w.Int64(h.converted);
        }
        w.EndObject();
    }
    w.EndObject();
    write_key(w, "last_event_ts");
    w.Int64(last_event_ts_);
    if (!timers_.empty()) {
        std::vector<const pending_timer*> by_due;
        for (const auto& t : timers_) {
            by_due.push_back(&t);
        }
        std::stable_sort(by_due.begin(), by_due.end(), [](const auto* a, const auto* b) {
            return a->due != b->due ? a->due < b->due : a->name < b->name;
        });
        write_key(w, "timers");
        w.StartArray();
        for (const auto* t : by_due) {
            w.StartObject();
            write_key(w, "name");
            write_text(w, t->name);
            write_key(w, "due");
            w.Int64(t->due);
            if (!t->event_id.empty()) {
                write_key(w, "event_id");
                write_text(w, t->event_id);
            }
            if (!t->data.empty()) {
                write_key(w, "data");
                w.RawValue(t->data.data(), t->data.size(), rapidjson::kObjectType);
            }
            w.EndObject();
        }
        w.EndArray();
    }
    w.EndObject();
    return {buf.GetString(), buf.GetSize()};
}

}  // namespace rtcrm
