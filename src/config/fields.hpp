// One row of the settings table: a JSON member, the C++ member it fills, its flag and its
// documentation, and, from its value type, how it is read from JSON, checked by
// validate(), set by a flag and shown in README. The functions below make the rows; each
// takes the member as a lambda `[](auto& c) -> auto& { return c.source.generator.events; }`
// (generic, so that one lambda serves a const and a mutable configuration).
#pragma once

#include "config/values.hpp"

#include <rtcrm/config/topology_config.hpp>
#include <rtcrm/config/topology_flags.hpp>
#include <rtcrm/core/duration.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace rtcrm::detail {

// What a row says besides its value type.
struct about {
    std::string_view flag;  // the flag, as Boost.program_options spells it; "" = none
    std::string_view help;  // its --help text (a kind's may name {kinds} or {kinds_with_flags})
    std::string_view doc;   // README's meaning; "" = left out of README
    bool (*in_use)(const topology_config&) = nullptr;  // validate() checks it only then; nullptr = always
    bool required = false;                             // validate(): empty is refused while its kind is chosen
    bool required_in_file = false;                     // the loader: empty is refused once its object is read
};

using json_read = std::function<void(const json_value&, const std::string& path, topology_config&, const json_reader&)>;
using config_check = std::function<void(const topology_config&, const std::string& path)>;
using flag_get = std::function<topology_flag_value(const topology_config&)>;
using flag_set = std::function<void(topology_config&, const topology_flag_value&, const std::string& path)>;

struct field {
    std::string_view name;  // the JSON member
    about info;
    std::string help;       // info.help, with the kinds named
    std::string type;       // README's type column
    std::string flag_cell;  // README's flag column
    json_read read;
    config_check check;                                        // throws through config_error
    std::function<bool(const topology_config&)> empty;         // for `required`
    std::function<std::string(const topology_config&)> shown;  // README's default column
    flag_get get;
    flag_set set;
};

template <typename Ref>
using value_of = std::remove_cvref_t<std::invoke_result_t<Ref, topology_config&>>;

// The parts every value type shares.
field make_field(std::string_view name, const about& a, std::string type);

// "`x`": a string as README's default column shows it.
std::string code(std::string_view s);

// A member held as it is read and set, within a rule (text_rule, number_rule) that the
// loader, validate() and the flag apply.
template <typename Ref, typename Rule>
field ruled(std::string_view name, Ref ref, const Rule& rule, const about& a) {
    auto f = make_field(name, a, std::string{rule.type});
    f.read = [=, &rule](const json_value& v, const std::string& p, topology_config& c, const json_reader& r) {
        ref(c) = r.read(v, p, rule);
    };
    f.check = [=, &rule](const topology_config& c, const std::string& p) {
        if (auto what = rule.problem(ref(c)); !what.empty()) {
            config_error(p, what);
        }
    };
    f.get = [=](const topology_config& c) -> topology_flag_value { return ref(c); };
    f.set = [=](topology_config& c, const topology_flag_value& v, const std::string&) {
        ref(c) = std::get<value_of<Ref>>(v);
    };
    return f;
}

// An unsigned integer from `min` to `max` (std::uint32_t, std::uint64_t or std::size_t).
template <typename Ref>
field integer(std::string_view name, Ref ref, std::uint64_t min, std::uint64_t max, const about& a) {
    using T = value_of<Ref>;
    max = std::min<std::uint64_t>(max, std::numeric_limits<T>::max());
    auto f = make_field(name, a,
                        max == std::numeric_limits<T>::max() ? fmt::format("integer ≥ {}", min)
                                                             : fmt::format("integer {}–{}", min, max));
    f.read = [=](const json_value& v, const std::string& p, topology_config& c, const json_reader& r) {
        ref(c) = static_cast<T>(r.integer(v, p, min, max));
    };
    f.check = [=](const topology_config& c, const std::string& p) {
        if (ref(c) < min || ref(c) > max) {
            config_error(p, fmt::format("{}, got {}", integer_expected(min, max), ref(c)));
        }
    };
    f.shown = [=](const topology_config& c) { return std::to_string(ref(c)); };
    f.get = [=](const topology_config& c) -> topology_flag_value {
        if constexpr (std::is_same_v<T, std::uint32_t>) {
            return ref(c);
        } else {
            return std::uint64_t{ref(c)};
        }
    };
    f.set = [=](topology_config& c, const topology_flag_value& v, const std::string&) {
        ref(c) = static_cast<T>(
            std::get<std::conditional_t<std::is_same_v<T, std::uint32_t>, std::uint32_t, std::uint64_t>>(v));
    };
    return f;
}

// A std::chrono::milliseconds written as an integer of milliseconds ("..._ms" members).
// A number of milliseconds too large for it holds the largest it can.
template <typename Ref>
field milliseconds(std::string_view name, Ref ref, std::uint64_t min, const about& a) {
    constexpr auto largest = static_cast<std::uint64_t>(std::numeric_limits<std::chrono::milliseconds::rep>::max());
    const auto assign = [=](topology_config& c, std::uint64_t n) {
        ref(c) = std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(std::min(n, largest)));
    };
    auto f = make_field(name, a, fmt::format("integer ≥ {}", min));
    f.read = [=](const json_value& v, const std::string& p, topology_config& c, const json_reader& r) {
        assign(c, r.integer(v, p, min, max_u64));
    };
    f.check = [=](const topology_config& c, const std::string& p) {
        if (ref(c).count() < 0 || static_cast<std::uint64_t>(ref(c).count()) < min) {
            config_error(p, fmt::format("{}, got {}", integer_expected(min, max_u64), ref(c).count()));
        }
    };
    f.shown = [=](const topology_config& c) { return std::to_string(ref(c).count()); };
    f.get = [=](const topology_config& c) -> topology_flag_value {
        return static_cast<std::uint64_t>(std::max<std::chrono::milliseconds::rep>(ref(c).count(), 0));
    };
    f.set = [=](topology_config& c, const topology_flag_value& v, const std::string&) {
        assign(c, std::get<std::uint64_t>(v));
    };
    return f;
}

// A number (double) within a rule.
template <typename Ref>
field number(std::string_view name, Ref ref, const number_rule& rule, const about& a) {
    auto f = ruled(name, ref, rule, a);
    f.shown = [=](const topology_config& c) { return fmt::format("{}", ref(c)); };
    return f;
}

// true or false; its flag is a switch that turns it on, or off when `inverted`.
template <typename Ref>
field boolean(std::string_view name, Ref ref, const about& a, bool inverted = false) {
    auto f = make_field(name, a, "boolean");
    f.read = [=](const json_value& v, const std::string& p, topology_config& c, const json_reader& r) {
        ref(c) = r.boolean(v, p);
    };
    if (inverted) {
        f.flag_cell += " (inverted)";
    }
    f.shown = [=](const topology_config& c) { return std::string{ref(c) ? "true" : "false"}; };
    f.get = [=](const topology_config& c) -> topology_flag_value { return ref(c) != inverted; };
    f.set = [=](topology_config& c, const topology_flag_value& v, const std::string&) {
        ref(c) = std::get<bool>(v) != inverted;
    };
    return f;
}

// A string within a rule.
template <typename Ref>
field text(std::string_view name, Ref ref, const text_rule& rule, const about& a) {
    auto f = ruled(name, ref, rule, a);
    f.empty = [=](const topology_config& c) { return ref(c).empty(); };
    f.shown = [=](const topology_config& c) { return code(ref(c).empty() ? std::string_view{R"("")"} : ref(c)); };
    return f;
}

// A std::chrono::milliseconds written as a duration string, within `rule` (any_duration
// or positive_duration); or, for a std::optional of one, a duration or "" for none.
template <typename Ref>
field duration(std::string_view name, Ref ref, const text_rule& rule, const about& a) {
    constexpr bool optional = !std::is_same_v<value_of<Ref>, std::chrono::milliseconds>;
    const auto assign = [=](topology_config& c, const std::string& s) {
        if constexpr (optional) {
            ref(c) = s.empty() ? std::nullopt : parse_duration(s);
        } else {
            ref(c) = parse_duration(s).value();
        }
    };
    const auto as_text = [=](const topology_config& c) {
        if constexpr (optional) {
            return ref(c) ? format_duration(*ref(c)) : std::string{};
        } else {
            return format_duration(ref(c));
        }
    };
    auto f = make_field(name, a, std::string{rule.type});
    f.read = [=, &rule](const json_value& v, const std::string& p, topology_config& c, const json_reader& r) {
        assign(c, r.read(v, p, rule));
    };
    f.check = [=, &rule](const topology_config& c, const std::string& p) {
        if (auto what = rule.problem(as_text(c)); !what.empty()) {  // a negative one is "-5s": refused too
            config_error(p, what);
        }
    };
    f.shown = [=](const topology_config& c) { return code(as_text(c).empty() ? R"("")" : as_text(c)); };
    f.get = [=](const topology_config& c) -> topology_flag_value { return as_text(c); };
    f.set = [=, &rule](topology_config& c, const topology_flag_value& v, const std::string& p) {
        const auto& s = std::get<std::string>(v);
        if (auto what = rule.problem(s); !what.empty()) {
            config_error(p, what);
        }
        assign(c, s);
    };
    return f;
}

// One of a list of names, each standing for a value of the enumeration E; `what` names
// the list in messages: unknown shard policy "rr" (inherit | batch | fifo).
template <typename Ref, typename E = value_of<Ref>>
field enumeration(std::string_view name, Ref ref, std::string_view what,
                  std::vector<std::pair<E, std::string_view>> names, const about& a) {
    std::vector<std::string_view> all;
    for (const auto& n : names) {
        all.push_back(n.second);
    }
    const auto listed = alternatives(all);
    const auto unknown = [=](std::string_view rendered) {
        return fmt::format("unknown {} {} ({})", what, rendered, listed);
    };
    // The value of a name, or std::nullopt.
    const auto value = [names](std::string_view s) -> std::optional<E> {
        for (const auto& [e, n] : names) {
            if (n == s) {
                return e;
            }
        }
        return std::nullopt;
    };
    const auto name_of = [names](E e) -> std::string {
        for (const auto& [x, n] : names) {
            if (x == e) {
                return std::string{n};
            }
        }
        return std::to_string(static_cast<int>(e));
    };
    std::string type;
    for (const auto& n : all) {
        type += fmt::format("{}`{}`", type.empty() ? "" : " | ", n);
    }
    auto f = make_field(name, a, type);
    f.read = [=](const json_value& v, const std::string& p, topology_config& c, const json_reader& r) {
        const auto e = value(r.string(v, p));
        if (!e) {
            r.fail(p, unknown(render(v)));
        }
        ref(c) = *e;
    };
    f.check = [=](const topology_config& c, const std::string& p) {
        if (!value(name_of(ref(c)))) {
            config_error(p, unknown(render(name_of(ref(c)))));
        }
    };
    f.shown = [=](const topology_config& c) { return code(name_of(ref(c))); };
    f.get = [=](const topology_config& c) -> topology_flag_value { return name_of(ref(c)); };
    f.set = [=](topology_config& c, const topology_flag_value& v, const std::string& p) {
        const auto& s = std::get<std::string>(v);
        const auto e = value(s);
        if (!e) {
            config_error(p, unknown(render(s)));
        }
        ref(c) = *e;
    };
    return f;
}

// A rule for a list of strings: how README calls it and shows it empty, how it is read
// from JSON and checked.
struct list_rule {
    std::string_view type;
    std::string_view none;  // README's default column for an empty list
    std::vector<std::string> (*read)(const json_value& v, const std::string& path, const json_reader& r);
    void (*check)(const std::vector<std::string>& list, const std::string& path);
};

// Campaign ids as Lua scripts write them: an array of strings or non-negative integers.
extern const list_rule campaign_id_list;
// librdkafka properties: an object of strings (numbers and booleans are written as
// text), held as "key=value".
extern const list_rule property_list;

// A list of strings; its flag (a short one, -X) adds to it, so it shows no default.
template <typename Ref>
field list(std::string_view name, Ref ref, const list_rule& rule, const about& a) {
    auto f = make_field(name, a, std::string{rule.type});
    if (a.flag.starts_with(',')) {
        f.flag_cell = fmt::format("`-{} key=value`", a.flag.substr(1));
    }
    f.read = [=, &rule](const json_value& v, const std::string& p, topology_config& c, const json_reader& r) {
        ref(c) = rule.read(v, p, r);
    };
    f.check = [=, &rule](const topology_config& c, const std::string& p) { rule.check(ref(c), p); };
    f.empty = [=](const topology_config& c) { return ref(c).empty(); };
    f.shown = [=, &rule](const topology_config& c) {
        return code(ref(c).empty() ? rule.none : fmt::format("{}", fmt::join(ref(c), ", ")));
    };
    f.get = [](const topology_config&) -> topology_flag_value { return std::vector<std::string>{}; };
    f.set = [=](topology_config& c, const topology_flag_value& v, const std::string&) {
        const auto& added = std::get<std::vector<std::string>>(v);
        ref(c).insert(ref(c).end(), added.begin(), added.end());
    };
    return f;
}

// A member a kind accepts only empty, for the sake of documents that show every member:
// any other value fails with `what`.
field empty_only(std::string_view name, std::string_view what);

}  // namespace rtcrm::detail
