#include <rtcrm/core/error.hpp>
#include <rtcrm/lua/segment.hpp>

#include "vm.hpp"

#include <fmt/format.h>

namespace rtcrm {

using detail::lua::script_error;
using detail::lua::vm;

namespace {

// The text as a script that registers its predicate as a campaign's segment, so it loads
// through the handlers' sandbox. Everything stays on the text's first line, so line
// numbers in errors are the text's own (so a trailing `--` comment is not supported).
std::string as_script(std::string_view text, bool expression) {
    if (expression) {
        return fmt::format("crm.campaign{{ id = '__segment', on = '__segment', content = {{}}, "
                           "segment = function(p) return ({}) end }}",
                           text);
    }
    return fmt::format("crm.campaign{{ id = '__segment', on = '__segment', content = {{}}, "
                       "segment = (function() {} end)() }}",
                       text);
}

// True if the text compiles as a chunk (e.g. "return function(p) ... end").
bool is_chunk(std::string_view text) {
    lua_State* L = luaL_newstate();
    const bool ok = luaL_loadbufferx(L, text.data(), text.size(), "where", "t") == LUA_OK;
    lua_close(L);
    return ok;
}

}  // namespace

struct segment::impl {
    segment_options options;
    std::unique_ptr<vm> state;
    int predicate = LUA_NOREF;
    profile_limits limits;
};

segment::segment(std::string_view text, segment_options options) : impl_(std::make_unique<impl>()) {
    impl_->options = std::move(options);
    lua_options lua{.instruction_budget = impl_->options.instruction_budget,
                    .call_deadline = impl_->options.call_deadline,
                    .call_memory_budget = impl_->options.call_memory_budget,
                    .memory_limit = impl_->options.memory_limit};
    const bool chunk = is_chunk(text);
    try {
        impl_->state = vm::build({lua_script{impl_->options.name, as_script(text, !chunk)}}, lua);
    } catch (const script_error& e) {
        throw error(errc::invalid_config, e.what());
    }
    const auto& campaigns = impl_->state->campaigns();
    if (campaigns.size() != 1 || campaigns[0].segment == LUA_NOREF) {
        throw error(errc::invalid_config,
                    fmt::format("{}:1: the segment must be an expression over p or return a function(profile)", impl_->options.name));
    }
    impl_->predicate = campaigns[0].segment;
}

segment::~segment() = default;
segment::segment(segment&&) noexcept = default;
segment& segment::operator=(segment&&) noexcept = default;

result<bool> segment::matches(const profile& p) {
    auto& s = *impl_;
    profile copy = p;  // the predicate may call set/incr: never on the caller's profile
    s.state->bind_profile(copy, s.limits, s.options.now_ms != 0 ? s.options.now_ms : copy.last_event_ts());
    bool truthy = false;
    std::string why;
    if (!s.state->call(s.predicate, false, s.options.name, truthy, why)) {
        return failure{make_error_code(errc::handler_failed), std::move(why)};
    }
    return truthy;
}

lua_segment_compiler::lua_segment_compiler(segment_options options) : options_(std::move(options)) {}

std::unique_ptr<profile_predicate> lua_segment_compiler::compile_segment(std::string_view text) const {
    return std::make_unique<segment>(text, options_);
}

}  // namespace rtcrm
