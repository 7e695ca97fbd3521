#include "config/fields.hpp"

namespace rtcrm::detail {

field make_field(std::string_view name, const about& a, std::string type) {
    field f{.name = name, .info = a, .help = std::string{a.help}, .type = std::move(type)};
    f.flag_cell = a.flag.empty() ? "—" : fmt::format("`--{}`", a.flag);
    f.empty = [](const topology_config&) { return false; };
    return f;
}

std::string code(std::string_view s) { return fmt::format("`{}`", s); }

namespace {

std::vector<std::string> read_campaign_ids(const json_value& v, const std::string& path, const json_reader& r) {
    if (!v.IsArray()) {
        r.fail_got(path, "expected an array of campaign ids", v);
    }
    std::vector<std::string> ids;
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
        const auto& id = v[i];
        if (id.IsUint64()) {
            ids.push_back(std::to_string(id.GetUint64()));
        } else if (id.IsString() && id.GetStringLength() > 0) {
            ids.emplace_back(id.GetString(), id.GetStringLength());
        } else {
            r.fail_got(fmt::format("{}[{}]", path, i),
                       "expected a campaign id (a non-empty string or a non-negative integer)", id);
        }
    }
    return ids;
}

void check_campaign_ids(const std::vector<std::string>& ids, const std::string& path) {
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (ids[i].empty()) {
            config_error(fmt::format("{}[{}]", path, i), fmt::format("expected a campaign id, got {}", render(ids[i])));
        }
    }
}

std::vector<std::string> read_properties(const json_value& v, const std::string& path, const json_reader& r) {
    r.check_object(v, path);
    std::vector<std::string> out;
    for (const auto& member : v.GetObject()) {
        const std::string_view key{member.name.GetString(), member.name.GetStringLength()};
        const auto& value = member.value;
        const auto p = member_path(path, key);
        if (key.empty() || key.find('=') != std::string_view::npos) {
            r.fail(p, "a property name must be non-empty and without '='");
        }
        std::string text;
        if (value.IsString()) {
            text.assign(value.GetString(), value.GetStringLength());
        } else if (value.IsBool()) {
            text = value.GetBool() ? "true" : "false";
        } else if (value.IsInt64() || value.IsUint64()) {
            text = render(value);
        } else {
            r.fail_got(p, "expected a string (or an integer or true/false)", value);
        }
        out.push_back(fmt::format("{}={}", key, text));
    }
    return out;
}

void check_properties(const std::vector<std::string>& all, const std::string& path) {
    for (std::size_t i = 0; i < all.size(); ++i) {
        if (const auto eq = all[i].find('='); eq == std::string::npos || eq == 0) {
            config_error(fmt::format("{}[{}]", path, i), fmt::format("expected key=value, got {}", render(all[i])));
        }
    }
}

}  // namespace

const list_rule campaign_id_list{"array of ids (strings or integers)", "[]", &read_campaign_ids, &check_campaign_ids};
const list_rule property_list{"object of strings (integers, booleans)", "{}", &read_properties, &check_properties};

field empty_only(std::string_view name, std::string_view what) {
    auto f = make_field(name, {}, "string");
    f.read = [what](const json_value& v, const std::string& path, topology_config&, const json_reader& r) {
        if (!r.string(v, path).empty()) {
            r.fail(path, what);
        }
    };
    return f;
}

}  // namespace rtcrm::detail
