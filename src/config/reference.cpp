// The flags and the reference table, both walked from the schema in one order: in each
// group its kind, the members of each kind, then the members every kind takes; then the
// groups inside it.
#include "config/schema.hpp"

#include <rtcrm/config/topology_flags.hpp>

#include <fmt/format.h>

namespace rtcrm {

namespace {

using detail::field;
using detail::group;

// Calls visit(field, JSON path, kind name or "", section) for every row under `g`.
template <typename Visit>
void each_row(const group& g, const std::string& path, std::string_view section, const Visit& visit) {
    if (!g.title.empty()) {
        section = g.title;
    }
    if (g.kind) {
        visit(*g.kind, detail::member_path(path, "kind"), std::string_view{}, section);
        for (const auto& k : g.kinds) {
            for (const auto& f : *k.fields) {
                visit(f, detail::member_path(path, f.name), k.name, section);
            }
        }
    }
    for (const auto& f : g.fields) {
        visit(f, detail::member_path(path, f.name), std::string_view{}, section);
    }
    for (const auto& child : g.children) {
        each_row(child, detail::member_path(path, child.name), section, visit);
    }
}

// A Markdown table cell: a '|' would end it.
std::string cell(std::string_view s) {
    std::string out;
    for (const char ch : s) {
        if (ch == '|') {
            out += '\\';
        }
        out += ch;
    }
    return out;
}

}  // namespace

const std::vector<topology_flag>& topology_flags() {
    static const std::vector<topology_flag> all = [] {
        std::vector<topology_flag> flags;
        const topology_config defaults;
        each_row(
            detail::schema(), "$", "",
            [&](const field& f, const std::string& path, std::string_view, std::string_view section) {
                if (f.info.flag.empty()) {
                    return;
                }
                const auto by_default = f.get(defaults);
                flags.push_back({
                    .name = std::string{f.info.flag},
                    .help = f.help,
                    .section = std::string{section},
                    .json_path = path,
                    .get = f.get,
                    .set = [set = f.set, path](topology_config& c, const topology_flag_value& v) { set(c, v, path); },
                    .hides_empty =
                        std::holds_alternative<std::string>(by_default) && std::get<std::string>(by_default).empty(),
                });
            });
        return flags;
    }();
    return all;
}

std::string topology_config_reference() {
    std::string out = "| path | flag | type | default | meaning |\n|---|---|---|---|---|\n";
    const topology_config defaults;
    each_row(detail::schema(), "$", "",
             [&](const field& f, const std::string& path, std::string_view kind, std::string_view) {
                 if (f.info.doc.empty()) {
                     return;
                 }
                 const auto meaning = kind.empty() ? std::string{f.info.doc} : fmt::format("{}: {}", kind, f.info.doc);
                 // A required member has no default worth showing.
                 const bool required = (f.info.required || f.info.required_in_file) && f.empty(defaults);
                 out += fmt::format("| `{}` | {} | {} | {} | {} |\n", path, cell(f.flag_cell), cell(f.type),
                                    required ? "—" : cell(f.shown(defaults)), cell(meaning));
             });
    return out;
}

}  // namespace rtcrm
