/// @file topology_flags.hpp
/// The command-line face of `topology_config`: the flags of the settings that have one,
/// and the reference table of every setting (README.md's), both made from the table the
/// JSON loader and `topology_config::validate()` use, so that a flag, a JSON member and
/// the documentation cannot drift apart. No command-line library is needed here: a
/// program turns the flags into its parser's options (rtcrm-topology uses
/// Boost.program_options; see apps/topology/main.cpp).
///
/// Caveats:
/// - A flag sets one setting. Flags of strings are checked by `validate()`, as values set
///   in code are; flags whose setting is not a string (a duration, a kind) are parsed when
///   set, with the messages `validate()` gives.
/// - A switch (a `bool` flag) can only turn its setting on; `--store-no-sync` turns
///   `store.sync` off. The list flag `-X key=value` adds to `kafka.properties`.
///
/// Example:
/// @code
///   rtcrm::topology_config config;
///   for (const auto& flag : rtcrm::topology_flags()) {
///       if (flag.name == "events") {
///           flag.set(config, std::uint64_t{1000});  // as --events 1000
///       }
///   }
/// @endcode
#pragma once

#include <rtcrm/config/topology_config.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace rtcrm {

/// A flag's value. The alternative a flag's `get` returns is the flag's type: a string,
/// an unsigned integer of 32 or 64 bits, a number, a switch (bool) or a repeatable list.
using topology_flag_value =
    std::variant<std::string, std::uint32_t, std::uint64_t, double, bool, std::vector<std::string>>;

/// One command-line flag of a setting. Immutable; its functions are thread-safe on
/// distinct configurations.
struct topology_flag {
    std::string name;       ///< as Boost.program_options spells it: "events", or ",X" for a short flag
    std::string help;       ///< the help text
    std::string section;    ///< its group, as --help captions it: "source ($.source)"
    std::string json_path;  ///< the setting: "$.source.events" ("$.kafka.properties" for -X)
    /// The value in `config`, which --help shows as the flag's default; its alternative is
    /// the flag's type (a list flag returns an empty list: it adds, it shows no default).
    std::function<topology_flag_value(const topology_config&)> get;
    /// Sets the value given on the command line (the alternative `get` returns).
    /// @throws rtcrm::error(invalid_config) for a value the setting cannot hold (a bad
    ///         duration or kind): `topology_config: $.path: what was expected, got <value>`.
    std::function<void(topology_config&, const topology_flag_value&)> set;
    /// True for a string empty by default: --help shows no default while it is empty.
    bool hides_empty = false;
};

/// Every flag, grouped by section in the order of the JSON document. Thread-safe; built
/// once.
[[nodiscard]] const std::vector<topology_flag>& topology_flags();

/// The reference table of every setting, as Markdown: a header row, then one row per
/// setting (JSON path, flag, type, default, meaning), in the order of the JSON document.
/// README.md's configuration table is this text (a test compares them). Thread-safe.
[[nodiscard]] std::string topology_config_reference();

}  // namespace rtcrm
