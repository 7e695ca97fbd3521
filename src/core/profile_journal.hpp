// Internal: the profile writes of one handler call, staged and bounded.
//
// A journal is an undo log. Before a call's first change of a name it remembers that
// name's state (an attribute's value and position, or a whole windowed counter); the
// writes themselves go straight to the profile, so a handler reads its own writes.
// `commit()` keeps them and forgets the log (keeping its storage for the next call);
// `rollback()` puts back exactly what the call found, so the profile compares equal,
// serialises and encodes as it did before the call.
//
// Every write is checked against `profile_limits` first: a write that would pass a limit
// is refused and changes nothing, so each write is all or nothing on its own as well.
//
// Timers (set_timer, cancel_timer) are logged as the whole list of pending timers, copied
// at the call's first timer write.
//
// Cost: nothing for a call that writes nothing. Per write, a scan of the names the call
// has touched (the profile's own lookup is a linear scan too, over at most
// max_attributes), skipped for a new name unless the call has erased one. On a name's
// first write in a call, a copy of its name, and of a counter's buckets, into storage
// kept from earlier calls; an attribute's old value is moved, not copied. The log holds
// at most one old value per name, so at most the profile's size before the call.
//
// One journal serves one profile at a time: every call that writes ends with `commit()`
// or `rollback()` of the profile it wrote to. Not synchronised (a shard owns it).
#pragma once

#include <rtcrm/core/profile.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rtcrm::detail {

// Why a write was refused.
enum class write_error : unsigned char {
    none,
    not_a_number,    // incr of an attribute that holds something other than a number
    max_attributes,  // the profile_limits field of that name
    max_counters,
    max_value_bytes,
    max_encoded_bytes,
    max_timers,
};

// The profile_limits field a refusal names ("max_value_bytes"); empty for none and not_a_number.
std::string_view limit_name(write_error e) noexcept;
// That field's value in `limits` (0 for none and not_a_number).
std::size_t limit_value(write_error e, const profile_limits& limits) noexcept;

// The outcome of a write: true if it was made.
struct write_result {
    write_error error = write_error::none;
    // What would have passed the limit: the value's bytes (0 if not known in full, for a
    // value that was cut short), the attribute or counter count, or the encoded size.
    std::size_t size = 0;

    explicit operator bool() const noexcept { return error == write_error::none; }
};

class profile_journal {
public:
    // Refuses a value of `bytes` (a string's length, a JSON text's length) past
    // max_value_bytes; for checking before the value is built.
    static write_result check_value(std::size_t bytes, const profile_limits& limits) noexcept;

    // Sets attribute `name` (profile::set), within the limits.
    write_result set(profile& p, std::string_view name, attribute value, const profile_limits& limits);
    // Removes attribute `name` (profile::erase); true if it existed. Never refused.
    bool erase(profile& p, std::string_view name);
    // Adds `delta` to a numeric attribute (profile::incr); the new value lands in `sum`.
    // Refused with not_a_number if the attribute holds something else.
    write_result incr(profile& p, std::string_view name, double delta, const profile_limits& limits, double& sum);
    // Adds `delta` at `ts` to a windowed counter (profile::incr_windowed), within the limits.
    write_result incr_windowed(profile& p, std::string_view name, std::int64_t delta, std::int64_t ts,
                               std::int64_t bucket_ms, const profile_limits& limits);

    // Arms the timer `name` (profile::set_timer), within max_timers, max_value_bytes (its
    // data) and max_encoded_bytes. Replacing a pending timer never passes max_timers.
    write_result set_timer(profile& p, std::string_view name, std::int64_t due, std::string_view event_id,
                           std::string_view data, std::string_view ref, const profile_limits& limits);
    // Removes the pending timer `name` (profile::cancel_timer); true if there was one.
    bool cancel_timer(profile& p, std::string_view name);

    // Keeps the writes made since the last commit or rollback.
    void commit() noexcept;
    // Undoes the writes made to `p` since the last commit or rollback.
    void rollback(profile& p) noexcept;
    // True if no write is pending.
    [[nodiscard]] bool empty() const noexcept {
        return attributes_used_ == 0 && counters_used_ == 0 && !timers_touched_;
    }

private:
    static constexpr std::size_t absent = static_cast<std::size_t>(-1);

    // The state of a name before the call's first write of it. `index` is its position in
    // the profile's list before the call, or `absent` if it did not exist.
    struct attribute_undo {
        std::string name;
        std::size_t index = absent;
        attribute value;
        bool displaced = false;  // it existed and was erased during the call
    };
    struct counter_undo {
        std::string name;
        std::size_t index = absent;
        windowed_counter value;
    };

    using attribute_list = std::vector<std::pair<std::string, attribute>>;

    write_result write(profile& p, std::string_view name, attribute_list::iterator it, attribute value,
                       const profile_limits& limits);
    // The profile's encoded size, measured at the first ask; the profile keeps it from then on.
    static std::size_t known_size(profile& p) noexcept;
    // Refuses a change of `removed` encoded bytes to `added` that takes `p` past max_encoded_bytes.
    static write_result check_growth(profile& p, std::size_t removed, std::size_t added,
                                     const profile_limits& limits) noexcept;
    void forget() noexcept;
    [[nodiscard]] attribute_undo* touched_attribute(std::string_view name) noexcept;
    // Remembers the attribute at `index` now, before its first write of the call.
    attribute_undo& remember_attribute(std::size_t index, std::string_view name);
    void displace(attribute_undo& undo);
    [[nodiscard]] bool touched_counter(std::string_view name) const noexcept;
    attribute_undo& next_attribute_undo();
    counter_undo& next_counter_undo();

    // Entries [0, used) are live; the rest keep their storage for later calls.
    std::vector<attribute_undo> attributes_;
    std::size_t attributes_used_ = 0;
    std::vector<std::size_t> displaced_;  // the positions before the call of the displaced attributes, sorted
    bool erased_ = false;                 // the call erased an attribute
    std::vector<counter_undo> counters_;
    std::size_t counters_used_ = 0;
    windowed_counter scratch_;  // a counter before a write that may be refused
    // The pending timers before the call's first timer write: a profile holds few
    // (max_timers), so the whole list is the undo record.
    std::vector<pending_timer> timers_before_;
    bool timers_touched_ = false;
    void remember_timers(const profile& p);
};

}  // namespace rtcrm::detail
