// The configuration schema: the settings table as a tree of groups (the objects of the
// JSON document), and a registry of kinds per kinded group (source, store, the sinks of
// the three streams). The loader, validate(), the flags, README's table and assemble()
// all walk this one description.
#pragma once

#include "config/fields.hpp"

#include <rtcrm/config/topology_config.hpp>
#include <rtcrm/core/profile_store.hpp>
#include <rtcrm/core/sink.hpp>

#include <algorithm>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace rtcrm::detail {

// Adds the source of its kind to `parts.topology` (and sets `parts.kafka`, `parts.gateway`).
using source_factory = void (*)(const topology_config& config, assembled_topology& parts);
// The store of its kind.
using store_factory = std::shared_ptr<profile_store> (*)(const topology_config& config);
// The sink of its kind, for its stream; a sink that gives up on a delivery hands it to
// `dead_letters` (nullptr while the dead-letter sink itself is built).
using sink_factory = std::shared_ptr<sink> (*)(const topology_config& config, assembled_topology& parts,
                                               const std::shared_ptr<sink>& dead_letters);

// One kind of a source, store or sink: its name in JSON, its own members (besides "kind"
// and those every kind of its group takes), the rules between them and other settings
// that validate() runs while it is chosen, and its factory. Adding a kind is adding one
// of these (and its value to the enumeration, its members to the configuration).
template <typename Kind, typename Factory>
struct registration {
    Kind kind;
    std::string_view name;
    std::vector<field> fields;
    void (*check)(const topology_config& config) = nullptr;
    Factory build = nullptr;
};

using source_registration = registration<source_kind, source_factory>;
using store_registration = registration<store_kind, store_factory>;
template <typename Kind>
using sink_registration = registration<Kind, sink_factory>;

// The registries, in the order their kinds are listed in messages and documentation.
const std::vector<source_registration>& source_kinds();                                 // source_kinds.cpp
const std::vector<store_registration>& store_kinds();                                   // store_kinds.cpp
const std::vector<sink_registration<trigger_sink_kind>>& trigger_sink_kinds();          // sink_kinds.cpp
const std::vector<sink_registration<dead_letter_sink_kind>>& dead_letter_sink_kinds();  // sink_kinds.cpp
const std::vector<sink_registration<shadow_sink_kind>>& shadow_sink_kinds();            // sink_kinds.cpp

// The registration of kind `k`.
template <typename Kind, typename Factory>
const registration<Kind, Factory>& registered(const std::vector<registration<Kind, Factory>>& all, Kind k) {
    for (const auto& r : all) {
        if (r.kind == k) {
            return r;
        }
    }
    throw std::logic_error("topology_config: a kind without a registration");
}

// A kind as the schema sees it, whatever its group.
struct kind_entry {
    std::string_view name;
    const std::vector<field>* fields;
    void (*check)(const topology_config&);
};

// An object of the JSON document. A kinded one has a "kind" member choosing one of
// `kinds`, whose members it then allows besides its own `fields`.
struct group {
    std::string_view name;   // its member in the parent; "" for the document
    std::string_view title;  // --help's caption (top-level groups)
    std::vector<field> fields;
    std::vector<group> children;
    std::string_view what;      // kinded: how messages name its kinds ("trigger sink")
    std::optional<field> kind;  // kinded: its "kind" member
    std::vector<kind_entry> kinds;
    std::function<std::size_t(const topology_config&)> chosen;  // kinded: the index in `kinds` in use
};

// A kinded group over a registry. `ref` is its kind member; `kind` says what the "kind"
// member's row says besides its value (its help may name {kinds} or {kinds_with_flags});
// `common` are the members every kind takes.
template <typename Kind, typename Factory, typename Ref>
group kinded(std::string_view name, std::string_view what, const std::vector<registration<Kind, Factory>>& all, Ref ref,
             const about& kind, std::vector<field> common = {}) {
    std::vector<std::pair<Kind, std::string_view>> names;
    std::vector<kind_entry> kinds;
    std::string listed;
    std::string with_flags;
    for (const auto& r : all) {
        names.emplace_back(r.kind, r.name);
        kinds.push_back({r.name, &r.fields, r.check});
        listed += fmt::format("{}{}", listed.empty() ? "" : " | ", r.name);
        const auto flagged =
            std::find_if(r.fields.begin(), r.fields.end(), [](const field& f) { return !f.info.flag.empty(); });
        with_flags += fmt::format("{}{}", with_flags.empty() ? "" : " | ", r.name);
        if (flagged != r.fields.end()) {
            with_flags += fmt::format(" (--{})", flagged->info.flag);
        }
    }
    group g{.name = name, .fields = std::move(common), .what = what, .kinds = std::move(kinds)};
    g.kind = enumeration("kind", ref, what, std::move(names), kind);
    g.kind->help =
        fmt::format(fmt::runtime(kind.help), fmt::arg("kinds", listed), fmt::arg("kinds_with_flags", with_flags));
    g.chosen = [ref, &all](const topology_config& c) {
        return static_cast<std::size_t>(&registered(all, ref(c)) - all.data());
    };
    return g;
}

// The whole document: settings.cpp.
const group& schema();

// Whether the Lua engine is built: with scripts or a handlers topic.
bool uses_engine(const topology_config& c);

// validate(): $.kafka.brokers is required by `by` (a Kafka part).
void require_brokers(const topology_config& c, std::string_view by);

}  // namespace rtcrm::detail
