// The JSON loader and validate(): both walk the schema (schema.hpp), so every setting is
// read and checked by the rule of its row; only the rules between groups are here.
#include "config/schema.hpp"
#include "core/bounded_json.hpp"

#include <rtcrm/config/topology_config.hpp>
#include <rtcrm/core/error.hpp>

#include <fmt/format.h>
#include <rapidjson/error/en.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace rtcrm {

namespace detail {

namespace {

const field* find(const std::vector<field>& fields, std::string_view name) {
    const auto f = std::find_if(fields.begin(), fields.end(), [&](const field& x) { return x.name == name; });
    return f == fields.end() ? nullptr : &*f;
}

// "a | b | c": the members an object allows, for messages.
template <typename... Lists>
std::string member_names(std::vector<std::string_view> names, const Lists&... lists) {
    (
        [&] {
            for (const auto& x : lists) {
                names.push_back(x.name);
            }
        }(),
        ...);
    return alternatives(names);
}

// Reads a document into a configuration that holds the defaults.
class loader {
public:
    loader(std::string_view file, topology_config& config) : reader_(file), c_(config) {}

    void read(const group& g, const json_value& v, const std::string& path) const {
        reader_.check_object(v, path);
        if (g.kind) {
            read_kinded(g, v, path);
            return;
        }
        for (const auto& member : v.GetObject()) {
            const std::string_view name{member.name.GetString(), member.name.GetStringLength()};
            const auto p = member_path(path, name);
            if (const auto* f = find(g.fields, name)) {
                f->read(member.value, p, c_, reader_);
                continue;
            }
            const auto child =
                std::find_if(g.children.begin(), g.children.end(), [&](const group& x) { return x.name == name; });
            if (child == g.children.end()) {
                reader_.fail(p, fmt::format("unknown field ({})", member_names({}, g.fields, g.children)));
            }
            read(*child, member.value, p);
        }
    }

private:
    // An object with a "kind" (given, or the default's) whose other members must belong to
    // that kind, or to every kind of the group.
    void read_kinded(const group& g, const json_value& v, const std::string& path) const {
        if (const auto given = v.FindMember("kind"); given != v.MemberEnd()) {
            g.kind->read(given->value, member_path(path, "kind"), c_, reader_);
        }
        const auto& k = g.kinds[g.chosen(c_)];
        const auto allowed = [&] { return member_names({"kind"}, g.fields, *k.fields); };
        for (const auto& member : v.GetObject()) {
            const std::string_view name{member.name.GetString(), member.name.GetStringLength()};
            if (name == "kind") {
                continue;
            }
            const auto p = member_path(path, name);
            const auto* f = find(g.fields, name);
            f = f != nullptr ? f : find(*k.fields, name);
            if (f != nullptr) {
                f->read(member.value, p, c_, reader_);
                continue;
            }
            const bool elsewhere = std::any_of(g.kinds.begin(), g.kinds.end(),
                                               [&](const kind_entry& other) { return find(*other.fields, name); });
            if (elsewhere) {
                reader_.fail(p, fmt::format("not a field of {} kind {} ({})", g.what, render(k.name), allowed()));
            }
            reader_.fail(p, fmt::format("unknown field ({})", allowed()));
        }
        for (const auto* fields : {&g.fields, k.fields}) {
            for (const auto& f : *fields) {
                if (f.info.required_in_file && f.empty(c_)) {
                    reader_.fail(member_path(path, f.name),
                                 fmt::format("required for {} kind {}", g.what, render(k.name)));
                }
            }
        }
    }

    json_reader reader_;
    topology_config& c_;
};

// validate(): every setting in use, by the rule of its row.
void check(const group& g, const std::string& path, const topology_config& c) {
    const auto check_fields = [&](const std::vector<field>& fields, std::string_view kind) {
        for (const auto& f : fields) {
            if (f.info.in_use != nullptr && !f.info.in_use(c)) {
                continue;
            }
            const auto p = member_path(path, f.name);
            if (f.info.required && f.empty(c)) {
                config_error(p, fmt::format("required for {} kind {}", g.what, render(kind)));
            }
            if (f.check) {
                f.check(c, p);
            }
        }
    };
    if (g.kind) {
        g.kind->check(c, member_path(path, "kind"));
        const auto& k = g.kinds[g.chosen(c)];
        check_fields(*k.fields, k.name);
        if (k.check != nullptr) {
            k.check(c);
        }
        check_fields(g.fields, k.name);
    } else {
        check_fields(g.fields, "");
    }
    for (const auto& child : g.children) {
        check(child, member_path(path, child.name), c);
    }
}

// 1-based line and column of a byte offset.
std::pair<std::size_t, std::size_t> line_column(std::string_view text, std::size_t offset) {
    offset = std::min(offset, text.size());
    const auto before = text.substr(0, offset);
    const auto line = static_cast<std::size_t>(std::count(before.begin(), before.end(), '\n')) + 1;
    const auto last_newline = before.rfind('\n');
    const auto column = last_newline == std::string_view::npos ? offset + 1 : offset - last_newline;
    return {line, column};
}

}  // namespace

void require_brokers(const topology_config& c, std::string_view by) {
    if (c.kafka.brokers.empty()) {
        config_error("$.kafka.brokers", fmt::format("required (HOST:PORT[,...]) by {}", by));
    }
}

}  // namespace detail

void topology_config::validate() const {
    detail::check(detail::schema(), "$", *this);
    // The rules between groups.
    if (scripts.watch && scripts.dir.empty()) {
        detail::config_error("$.scripts.watch", "needs $.scripts.dir");
    }
    if (!scripts.guards.disabled_campaigns.empty() && !detail::uses_engine(*this)) {
        detail::config_error("$.scripts.guards.disabled_campaigns", "needs $.scripts.dir or $.kafka.handlers_topic");
    }
    if (!archive.dir.empty() && source.kind == source_kind::ndjson) {
        std::error_code ec;
        if (std::filesystem::equivalent(archive.dir, source.ndjson.input, ec)) {
            detail::config_error("$.archive.dir", fmt::format("{} is also $.source.input: a topology cannot archive "
                                                              "into the archive it reads",
                                                              archive.dir));
        }
    }
    if (!kafka.handlers_topic.empty()) {
        detail::require_brokers(*this, "a handlers topic ($.kafka.handlers_topic)");
    }
}

topology_config parse_topology_config(std::string_view json, std::string_view file_name, topology_config defaults) {
    rapidjson::Document doc;
    if (const auto problem = detail::parse_bounded_json(doc, json, detail::max_nested_json_depth)) {
        const auto [line, column] = detail::line_column(json, problem.offset);
        throw error(errc::invalid_config, fmt::format("{}: line {}, column {} (offset {}): invalid JSON: {}", file_name,
                                                      line, column, problem.offset, problem.message));
    }
    detail::loader(file_name, defaults).read(detail::schema(), doc, "$");
    return defaults;
}

topology_config load_topology_config(const std::filesystem::path& file, topology_config defaults) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream text;
    if (in) {
        text << in.rdbuf();
    }
    if (!in || in.bad()) {
        const int e = errno;
        throw error(errc::io_error, fmt::format("{}: cannot read the configuration file: {}", file.string(),
                                                e != 0 ? std::strerror(e) : "read failed"));
    }
    return parse_topology_config(text.str(), file.string(), std::move(defaults));
}

}  // namespace rtcrm
