#include "core/profile_journal.hpp"

#include "core/profile_size.hpp"

#include <algorithm>
#include <utility>

namespace rtcrm::detail {
namespace {

template <typename Vec>
auto find_named(Vec& vec, std::string_view name) noexcept {
    return std::find_if(vec.begin(), vec.end(), [&](const auto& entry) { return entry.first == name; });
}

// The bytes of a value that count against max_value_bytes.
std::size_t value_bytes(const attribute& a) noexcept {
    if (const auto* s = std::get_if<std::string>(&a)) {
        return s->size();
    }
    if (const auto* j = std::get_if<json_text>(&a)) {
        return j->text.size();
    }
    return 0;
}

// The most one increment can grow a counter's encoding: the total's varint and a new
// bucket (two varints) with the bucket count's varint, a varint being 1 to 10 bytes.
constexpr std::size_t max_increment_growth = 40;

}  // namespace

std::string_view limit_name(write_error e) noexcept {
    switch (e) {
    case write_error::max_attributes: return "max_attributes";
    case write_error::max_counters: return "max_counters";
    case write_error::max_value_bytes: return "max_value_bytes";
    case write_error::max_encoded_bytes: return "max_encoded_bytes";
    case write_error::max_timers: return "max_timers";
    default: return {};
    }
}

std::size_t limit_value(write_error e, const profile_limits& limits) noexcept {
    switch (e) {
    case write_error::max_attributes: return limits.max_attributes;
    case write_error::max_counters: return limits.max_counters;
    case write_error::max_value_bytes: return limits.max_value_bytes;
    case write_error::max_encoded_bytes: return limits.max_encoded_bytes;
    case write_error::max_timers: return limits.max_timers;
    default: return 0;
    }
}

write_result profile_journal::check_value(std::size_t bytes, const profile_limits& limits) noexcept {
    if (limits.max_value_bytes != 0 && bytes > limits.max_value_bytes) {
        return {write_error::max_value_bytes, bytes};
    }
    return {};
}

std::size_t profile_journal::known_size(profile& p) noexcept {
    if (p.encoded_size_ == profile::unknown_size) {
        p.encoded_size_ = p.measure();
    }
    return p.encoded_size_;
}

write_result profile_journal::check_growth(profile& p, std::size_t removed, std::size_t added,
                                           const profile_limits& limits) noexcept {
    if (limits.max_encoded_bytes == 0 || added <= removed) {
        return {};
    }
    const std::size_t after = known_size(p) - removed + added;
    if (after > limits.max_encoded_bytes) {
        return {write_error::max_encoded_bytes, after};
    }
    return {};
}

profile_journal::attribute_undo* profile_journal::touched_attribute(std::string_view name) noexcept {
    for (std::size_t k = 0; k < attributes_used_; ++k) {
        if (attributes_[k].name == name) {
            return &attributes_[k];
        }
    }
    return nullptr;
}

profile_journal::attribute_undo& profile_journal::remember_attribute(std::size_t index, std::string_view name) {
    auto& undo = next_attribute_undo();
    undo.name.assign(name);
    undo.displaced = false;
    if (index == absent) {
        undo.index = absent;
        return undo;
    }
    // An attribute not yet written in this call has not moved relative to the others that
    // existed before it; the only ones missing in front of it are those the call erased.
    // So its place before the call is `index` plus the displaced places up to there.
    undo.index = index;
    for (const auto d : displaced_) {
        if (d > undo.index) {
            break;
        }
        ++undo.index;
    }
    return undo;
}

void profile_journal::displace(attribute_undo& undo) {
    if (undo.index != absent && !undo.displaced) {
        displaced_.insert(std::upper_bound(displaced_.begin(), displaced_.end(), undo.index), undo.index);
        undo.displaced = true;
    }
}

bool profile_journal::touched_counter(std::string_view name) const noexcept {
    for (std::size_t k = 0; k < counters_used_; ++k) {
        if (counters_[k].name == name) {
            return true;
        }
    }
    return false;
}

// The next free entry, kept from an earlier call where possible. It counts as used only
// once the caller has filled it, so a throw while filling leaves the log as it was.
profile_journal::attribute_undo& profile_journal::next_attribute_undo() {
    if (attributes_used_ == attributes_.size()) {
        attributes_.emplace_back();
    }
    return attributes_[attributes_used_];
}

profile_journal::counter_undo& profile_journal::next_counter_undo() {
    if (counters_used_ == counters_.size()) {
        counters_.emplace_back();
    }
    return counters_[counters_used_];
}

write_result profile_journal::set(profile& p, std::string_view name, attribute value, const profile_limits& limits) {
    if (const auto r = check_value(value_bytes(value), limits); !r) {
        return r;
    }
    return write(p, name, find_named(p.attributes_, name), std::move(value), limits);
}

write_result profile_journal::incr(profile& p, std::string_view name, double delta, const profile_limits& limits,
                                   double& sum) {
    const auto it = find_named(p.attributes_, name);
    auto value = profile::plus(it == p.attributes_.end() ? nullptr : &it->second, delta);
    if (!value) {
        return {write_error::not_a_number, 0};
    }
    sum = std::holds_alternative<std::int64_t>(*value) ? static_cast<double>(std::get<std::int64_t>(*value))
                                                       : std::get<double>(*value);
    return write(p, name, it, std::move(*value), limits);
}

write_result profile_journal::write(profile& p, std::string_view name, attribute_list::iterator it, attribute value,
                                    const profile_limits& limits) {
    auto& attrs = p.attributes_;
    const bool fresh = it == attrs.end();
    const std::size_t n = attrs.size();
    if (fresh && limits.max_attributes != 0 && n >= limits.max_attributes) {
        return {write_error::max_attributes, n + 1};
    }
    const std::size_t removed = fresh ? encoded::varint(n) : encoded::value(it->second);
    const std::size_t added =
        fresh ? encoded::varint(n + 1) + encoded::attribute_entry(name, value) : encoded::value(value);
    if (const auto r = check_growth(p, removed, added, limits); !r) {
        return r;
    }
    // A name the profile lacks was written earlier in the call only if the call erased it.
    if ((fresh && !erased_) || touched_attribute(name) == nullptr) {
        auto& undo = remember_attribute(fresh ? absent : static_cast<std::size_t>(it - attrs.begin()), name);
        if (!fresh) {
            undo.value = std::move(it->second);  // replaced just below, so moved rather than copied
        }
        ++attributes_used_;
    }
    if (fresh) {
        attrs.emplace_back(std::string{name}, std::move(value));
    } else {
        it->second = std::move(value);
    }
    p.resized(removed, added);
    return {};
}

bool profile_journal::erase(profile& p, std::string_view name) {
    auto& attrs = p.attributes_;
    const auto it = find_named(attrs, name);
    if (it == attrs.end()) {
        return false;
    }
    const std::size_t n = attrs.size();
    const std::size_t removed = encoded::varint(n) + encoded::attribute_entry(it->first, it->second);
    if (auto* undo = touched_attribute(name); undo != nullptr) {
        displace(*undo);
    } else {
        auto& first = remember_attribute(static_cast<std::size_t>(it - attrs.begin()), name);
        displace(first);
        // Nothing throws from here on. The entry goes just below: its value moves to the
        // log rather than being copied.
        first.value = std::move(it->second);
        ++attributes_used_;
    }
    attrs.erase(it);
    erased_ = true;
    p.resized(removed, encoded::varint(n - 1));
    return true;
}

write_result profile_journal::incr_windowed(profile& p, std::string_view name, std::int64_t delta, std::int64_t ts,
                                            std::int64_t bucket_ms, const profile_limits& limits) {
    auto& counters = p.counters_;
    const auto it = find_named(counters, name);
    const bool fresh = it == counters.end();
    const std::size_t n = counters.size();
    if (fresh && limits.max_counters != 0 && n >= limits.max_counters) {
        return {write_error::max_counters, n + 1};
    }
    // An increment grows the encoding by a few bytes at most. Only when that could pass
    // max_encoded_bytes is the exact growth measured, with a copy of the counter to go
    // back to; elsewhere the bound shows the write fits.
    bool near = false;
    std::size_t before = 0;
    if (limits.max_encoded_bytes != 0) {
        before = known_size(p);
        const std::size_t most =
            max_increment_growth + (fresh ? encoded::varint(n + 1) + encoded::string(name) + 12 : 0);
        near = before + most > limits.max_encoded_bytes;
    }
    bool remembered = false;
    if (fresh || !touched_counter(name)) {  // counters are never erased: a new one is untouched
        auto& undo = next_counter_undo();
        undo.name.assign(name);
        undo.index = fresh ? absent : static_cast<std::size_t>(it - counters.begin());
        if (!fresh) {
            undo.value = it->second;  // a copy into the entry's kept storage
        }
        ++counters_used_;
        remembered = true;
    }
    if (near && !fresh) {
        scratch_ = it->second;
    }
    windowed_counter& c = fresh ? p.add_counter(name, bucket_ms) : it->second;
    p.add_to_counter(c, delta, ts, limits);
    if (near) {
        const std::size_t after = p.encoded_size_;
        if (after > before && after > limits.max_encoded_bytes) {
            if (fresh) {
                counters.pop_back();
            } else {
                std::swap(it->second, scratch_);
            }
            p.encoded_size_ = before;
            if (remembered) {
                --counters_used_;
            }
            return {write_error::max_encoded_bytes, after};
        }
    }
    return {};
}

void profile_journal::remember_timers(const profile& p) {
    if (!timers_touched_) {
        timers_before_ = p.timers_;  // element-wise assignment: keeps storage from earlier calls
        timers_touched_ = true;
    }
}

write_result profile_journal::set_timer(profile& p, std::string_view name, std::int64_t due, std::string_view event_id,
                                        std::string_view data, std::string_view ref, const profile_limits& limits) {
    const pending_timer* existing = p.timer(name);
    const std::size_t n = p.timers_.size();
    if (existing == nullptr && limits.max_timers != 0 && n >= limits.max_timers) {
        return {write_error::max_timers, n + 1};
    }
    if (const auto r = check_value(data.size(), limits); !r) {
        return r;
    }
    if (limits.max_encoded_bytes != 0) {
        const std::size_t entry = encoded::string(name) + encoded::integer(due) + encoded::string(event_id) +
                                  encoded::string(data) + encoded::string(ref);
        const std::size_t before = encoded::timers_section(p.timers_);
        std::size_t after = 0;
        if (existing != nullptr) {
            after = before - encoded::timer_entry(*existing) + entry;
        } else if (n == 0) {
            after = encoded::varint(1) + entry;
        } else {
            after = before - encoded::varint(n) + encoded::varint(n + 1) + entry;
        }
        if (const auto r = check_growth(p, before, after, limits); !r) {
            return r;
        }
    }
    remember_timers(p);
    p.set_timer(name, due, event_id, data, ref);
    return {};
}

bool profile_journal::cancel_timer(profile& p, std::string_view name) {
    if (p.timer(name) == nullptr) {
        return false;
    }
    remember_timers(p);
    return p.cancel_timer(name);
}

void profile_journal::commit() noexcept {
    if (!empty()) {
        forget();
    }
}

void profile_journal::rollback(profile& p) noexcept {
    if (empty()) {
        return;
    }
    // Counters are never removed during a call, so the ones that existed are still where
    // they were, and the new ones were appended behind them.
    auto& counters = p.counters_;
    for (std::size_t k = counters_used_; k-- > 0;) {
        auto& undo = counters_[k];
        if (undo.index == absent) {
            if (const auto it = find_named(counters, undo.name); it != counters.end()) {
                counters.erase(it);
            }
        } else if (undo.index < counters.size() && counters[undo.index].first == undo.name) {
            std::swap(counters[undo.index].second, undo.value);  // the entry keeps storage for later calls
        }
    }
    // Attributes move (an erase shifts those behind it; a new one is appended). Those the
    // call did not touch kept their order, so removing every touched name and putting
    // back the ones that existed, at their old positions in increasing order, rebuilds
    // the list exactly. The list had room for all of them before the call, so no
    // insertion allocates.
    if (attributes_used_ > 0) {
        auto& attrs = p.attributes_;
        std::erase_if(attrs, [&](const auto& a) { return touched_attribute(a.first) != nullptr; });
        const auto end = attributes_.begin() + static_cast<std::ptrdiff_t>(attributes_used_);
        std::sort(attributes_.begin(), end,
                  [](const attribute_undo& a, const attribute_undo& b) { return a.index < b.index; });
        for (auto u = attributes_.begin(); u != end && u->index != absent; ++u) {
            const auto at = attrs.begin() + static_cast<std::ptrdiff_t>(std::min(u->index, attrs.size()));
            attrs.emplace(at, std::move(u->name), std::move(u->value));
        }
    }
    if (timers_touched_) {
        std::swap(p.timers_, timers_before_);
    }
    // Measured again at the next write that needs it: rollbacks are rare.
    p.encoded_size_ = profile::unknown_size;
    forget();
}

void profile_journal::forget() noexcept {
    // Old values can be large strings: let them go now. Names and counters' buckets keep
    // their storage for the next call.
    for (std::size_t k = 0; k < attributes_used_; ++k) {
        attributes_[k].value = std::monostate{};
    }
    attributes_used_ = 0;
    counters_used_ = 0;
    displaced_.clear();
    erased_ = false;
    timers_touched_ = false;
}

}  // namespace rtcrm::detail
