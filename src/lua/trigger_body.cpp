#include "trigger_body.hpp"

#include "core/string_pool.hpp"

#include <rtcrm/core/json_text.hpp>
#include <rtcrm/core/trigger_id.hpp>

#include <fmt/format.h>

#include <iterator>

namespace rtcrm::detail::lua {

std::string trigger_body(const campaign_spec& spec, const event& ev, std::string_view type,
                         std::string_view content, std::string_view variant, bool holdout) {
    // In a spent body's buffer when the loop bridge gave one back (core/string_pool.hpp),
    // written in place: no temporary strings.
    std::string out = detail::string_pool::take();
    // The ids are written twice: as members, and in trigger_id.
    out.reserve(220 + content.size() + variant.size() + 2 * (spec.id.size() + ev.player().text().size() + ev.id().size()));
    out += R"({"campaign_id":)";
    if (spec.numeric_id) {
        out += spec.id;
    } else {
        append_json_string(out, spec.id);
    }
    out += R"(,"player_id":)";
    if (ev.player().integer()) {
        out += ev.player().text();
    } else {
        append_json_string(out, ev.player().text());
    }
    out += R"(,"content":)";
    out += content;
    out += R"(,"event_id":)";
    if (ev.id().empty()) {
        out += "null";
    } else {
        append_json_string(out, ev.id());
    }
    out += R"(,"event_type":)";
    append_json_string(out, type);
    fmt::format_to(std::back_inserter(out), R"(,"ts":{},"dry_run":{})", ev.ts(), spec.dry_run);
    if (!variant.empty()) {
        out += R"(,"variant":)";
        append_json_string(out, variant);
    }
    if (holdout) {
        out += R"(,"holdout":true)";
    }
    // Last, where sinks find it without parsing (trigger_id_of); its bytes need no
    // JSON escaping.
    out += R"(,"trigger_id":")";
    append_trigger_id(out, spec.id, ev, spec.dry_run);
    out += R"("})";
    return out;
}

}  // namespace rtcrm::detail::lua
