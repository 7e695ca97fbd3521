#include "engine_state.hpp"

#include "core/logging.hpp"

#include <rtcrm/core/error.hpp>
#include <rtcrm/lua/segment.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace rtcrm {

namespace detail::lua {

shard_ledger& engine_state::attach_ledger() {
    std::lock_guard lock(mutex);
    return ledgers.emplace_back();
}

campaign_ledger engine_state::ledger_snapshot() const {
    std::lock_guard lock(mutex);
    campaign_ledger out;
    out.add(base);
    for (const auto& shard : ledgers) {
        std::lock_guard shard_lock(shard.mutex);
        out.add(shard.committed);
        out.add(shard.delta);
    }
    return out;
}

std::vector<handler_counters>* script_set::attach() {
    std::lock_guard lock(mutex);
    return &shard_counters.emplace_back(handlers.size());
}

void script_set::record_error(std::size_t handler, const std::string& message) {
    std::lock_guard lock(mutex);
    last_errors[handler] = message;
}

std::vector<lua_script> read_script_dir(const std::string& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        throw error(errc::invalid_config, fmt::format("lua_engine: script directory {} is not a readable directory", dir));
    }
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        if (entry.is_regular_file() && entry.path().extension() == ".lua") {
            files.push_back(entry.path());
        }
    }
    if (ec) {
        throw error(errc::invalid_config, fmt::format("lua_engine: cannot list {}: {}", dir, ec.message()));
    }
    // Registration order across files is file-name order, so it does not depend on the
    // file system's directory order.
    std::sort(files.begin(), files.end());
    std::vector<lua_script> scripts;
    for (const auto& path : files) {
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            throw error(errc::invalid_config, fmt::format("lua_engine: cannot read {}", path.string()));
        }
        std::ostringstream text;
        text << in.rdbuf();
        scripts.push_back(lua_script{path.filename().string(), text.str()});
    }
    return scripts;
}

reload_result engine_state::install(std::vector<lua_script> scripts) {
    auto fail = [&](std::string why) -> reload_result {
        failed_reloads.fetch_add(1, std::memory_order_relaxed);
        std::lock_guard lock(mutex);
        last_reload_error = why;
        return {errc::invalid_config, std::move(why)};
    };
    std::set<std::string_view> names;
    for (const auto& s : scripts) {
        if (!names.insert(s.name).second) {
            return fail(fmt::format("{}: two scripts have this name", s.name));
        }
    }
    // Compile and run the whole set in a fresh state first: the shards switch only to a
    // set that loads.
    std::unique_ptr<vm> check;
    try {
        check = vm::build(scripts, options);
    } catch (const script_error& e) {
        return fail(e.what());
    }
    auto set = std::make_shared<script_set>();
    set->scripts = std::move(scripts);
    for (const auto& u : check->updaters()) {
        set->handlers.push_back(handler_info{"updater", u.id, u.where});
    }
    set->updater_count = set->handlers.size();
    for (const auto& c : check->campaigns()) {
        set->handlers.push_back(handler_info{"campaign", c.id, c.where});
        set->campaigns.push_back(describe(c));
    }
    set->disabled = std::make_unique<std::atomic<bool>[]>(set->handlers.size());
    set->last_errors.resize(set->handlers.size());
    set->disabled_reasons.resize(set->handlers.size());

    std::lock_guard lock(mutex);
    set->version = version.load(std::memory_order_relaxed) + 1;
    current = std::move(set);
    version.store(current->version, std::memory_order_release);
    return current->version;
}

std::shared_ptr<script_set> engine_state::snapshot() const {
    std::lock_guard lock(mutex);
    return current;
}

std::set<std::string, std::less<>> engine_state::killed_snapshot() const {
    std::lock_guard lock(mutex);
    return killed;
}

void engine_state::disable_handler(script_set& set, std::size_t handler, const std::string& reason,
                                   const std::string& last_error) {
    if (!set.disabled[handler].exchange(true)) {
        {
            std::lock_guard lock(set.mutex);
            set.disabled_reasons[handler] = reason;
        }
        const auto& h = set.handlers[handler];
        detail::log_fmt(log_level::warning, "lua", "{} '{}' ({}) disabled until the next reload: {}; last error: {}",
                        h.kind, h.id, h.where, reason, last_error);
    }
}

}  // namespace detail::lua

void lua_options::validate() const {
    if (instruction_budget == 0) {
        throw error(errc::invalid_config, "lua_options: instruction_budget must be > 0");
    }
    if (memory_limit < 256 * 1024) {
        throw error(errc::invalid_config, "lua_options: memory_limit must be at least 256 KiB");
    }
    if (max_consecutive_errors == 0) {
        throw error(errc::invalid_config, "lua_options: max_consecutive_errors must be > 0");
    }
    if (call_deadline.count() <= 0 || load_deadline.count() <= 0) {
        throw error(errc::invalid_config, "lua_options: call_deadline and load_deadline must be > 0");
    }
    if (call_memory_budget < 64 * 1024) {
        throw error(errc::invalid_config, "lua_options: call_memory_budget must be at least 64 KiB");
    }
    if (!(max_error_share >= 0 && max_error_share <= 1) || !(max_failure_time_share >= 0 && max_failure_time_share <= 1)) {
        throw error(errc::invalid_config, "lua_options: max_error_share and max_failure_time_share must be within [0, 1]");
    }
    if (watch && script_dir.empty()) {
        throw error(errc::invalid_config, "lua_options: watch needs a script_dir");
    }
}

namespace detail::lua {
void start_watcher(engine_state& state);  // watcher.cpp
void stop_watcher(engine_state& state);
}  // namespace detail::lua

lua_engine::lua_engine(lua_options options) : state_(std::make_shared<state>()) {
    options.validate();
    state_->options = std::move(options);
    std::vector<lua_script> scripts;
    if (!state_->options.script_dir.empty()) {
        scripts = detail::lua::read_script_dir(state_->options.script_dir);
    }
    if (auto r = state_->install(std::move(scripts)); !r) {
        throw error(errc::invalid_config, fmt::format("lua_engine: {}", r.error().reason));
    }
    if (state_->options.watch) {
        detail::lua::start_watcher(*state_);
    }
}

lua_engine::~lua_engine() { detail::lua::stop_watcher(*state_); }

bolt_factory lua_engine::make_bolt_factory() { return detail::lua::make_crm_bolt_factory(state_); }

reload_result lua_engine::reload() {
    if (state_->options.script_dir.empty()) {
        return {errc::invalid_config, "lua_engine: no script_dir to reload from"};
    }
    try {
        return state_->install(detail::lua::read_script_dir(state_->options.script_dir));
    } catch (const error& e) {
        state_->failed_reloads.fetch_add(1, std::memory_order_relaxed);
        std::lock_guard lock(state_->mutex);
        state_->last_reload_error = e.what();
        return {errc::invalid_config, e.what()};
    }
}

reload_result lua_engine::load(std::vector<lua_script> scripts) { return state_->install(std::move(scripts)); }

reload_result lua_engine::put_script(std::string name, std::string source) {
    return put_script(lua_script{std::move(name), std::move(source)});
}

reload_result lua_engine::put_script(lua_script script) {
    auto scripts = scripts_();
    auto it = std::find_if(scripts.begin(), scripts.end(), [&](const lua_script& s) { return s.name == script.name; });
    if (it == scripts.end()) {
        scripts.push_back(std::move(script));
    } else {
        *it = std::move(script);
    }
    return state_->install(std::move(scripts));
}

reload_result lua_engine::remove_script(std::string_view name) {
    auto scripts = scripts_();
    auto it = std::find_if(scripts.begin(), scripts.end(), [&](const lua_script& s) { return s.name == name; });
    if (it == scripts.end()) {
        return {errc::invalid_config, fmt::format("{}: no such script", name)};
    }
    scripts.erase(it);
    return state_->install(std::move(scripts));
}

std::vector<lua_script> lua_engine::scripts() const { return scripts_(); }

std::vector<std::string> lua_engine::script_names() const {
    const auto set = state_->snapshot();
    std::vector<std::string> names;
    if (set) {
        names.reserve(set->scripts.size());
        for (const auto& s : set->scripts) {
            names.push_back(s.name);
        }
    }
    return names;
}

std::vector<lua_script> lua_engine::scripts_() const {
    const auto set = state_->snapshot();
    return set ? set->scripts : std::vector<lua_script>{};
}

const lua_options& lua_engine::options() const noexcept { return state_->options; }

std::uint64_t lua_engine::version() const noexcept { return state_->version.load(std::memory_order_acquire); }

void lua_engine::disable(std::string_view campaign_id) {
    std::lock_guard lock(state_->mutex);
    state_->killed.emplace(campaign_id);
    state_->kill_version.fetch_add(1, std::memory_order_release);
}

void lua_engine::enable(std::string_view campaign_id) {
    std::lock_guard lock(state_->mutex);
    if (auto it = state_->killed.find(campaign_id); it != state_->killed.end()) {
        state_->killed.erase(it);
    }
    state_->kill_version.fetch_add(1, std::memory_order_release);
}

bool lua_engine::disabled(std::string_view campaign_id) const {
    std::lock_guard lock(state_->mutex);
    return state_->killed.find(campaign_id) != state_->killed.end();
}

std::vector<handler_stats> lua_engine::stats() const {
    const auto set = state_->snapshot();
    std::vector<handler_stats> out;
    if (!set) {
        return out;
    }
    std::lock_guard lock(set->mutex);
    for (std::size_t i = 0; i < set->handlers.size(); ++i) {
        handler_stats s;
        s.kind = set->handlers[i].kind;
        s.id = set->handlers[i].id;
        s.where = set->handlers[i].where;
        s.disabled = set->disabled[i].load();
        s.last_error = set->last_errors[i];
        s.disabled_reason = set->disabled_reasons[i];
        for (const auto& shard : set->shard_counters) {
            const auto& c = shard[i];
            s.calls += c.calls.load(std::memory_order_relaxed);
            s.errors += c.errors.load(std::memory_order_relaxed);
            s.nanoseconds += c.nanoseconds.load(std::memory_order_relaxed);
            s.triggers += c.triggers.load(std::memory_order_relaxed);
            s.shadow_triggers += c.shadow_triggers.load(std::memory_order_relaxed);
            s.suppressed_cap += c.suppressed_cap.load(std::memory_order_relaxed);
            s.suppressed_rate += c.suppressed_rate.load(std::memory_order_relaxed);
            s.suppressed_kill += c.suppressed_kill.load(std::memory_order_relaxed);
            s.timers_armed += c.timers_armed.load(std::memory_order_relaxed);
            s.timers_cancelled += c.timers_cancelled.load(std::memory_order_relaxed);
            s.timers_fired += c.timers_fired.load(std::memory_order_relaxed);
            s.dropped_inactive += c.dropped_inactive.load(std::memory_order_relaxed);
            s.deferred_quiet += c.deferred_quiet.load(std::memory_order_relaxed);
            s.dropped_quiet += c.dropped_quiet.load(std::memory_order_relaxed);
        }
        out.push_back(std::move(s));
    }
    return out;
}

std::string lua_engine::campaign_report(campaign_report_scope scope) const {
    const auto set = state_->snapshot();
    const auto ledger = state_->ledger_snapshot();
    static const std::vector<detail::lua::campaign_description> none;
    return detail::lua::render_campaign_report(ledger, set ? set->campaigns : none, scope);
}

std::uint64_t lua_engine::failed_reloads() const noexcept {
    return state_->failed_reloads.load(std::memory_order_relaxed);
}

std::uint64_t lua_engine::orphaned_timers() const noexcept {
    return state_->orphaned_timers.load(std::memory_order_relaxed);
}

std::string lua_engine::last_reload_error() const {
    std::lock_guard lock(state_->mutex);
    return state_->last_reload_error;
}

std::unique_ptr<profile_predicate> lua_engine::compile_segment(std::string_view text) const {
    const auto& o = state_->options;
    return std::make_unique<segment>(text, segment_options{.instruction_budget = o.instruction_budget,
                                                           .call_deadline = o.call_deadline,
                                                           .call_memory_budget = o.call_memory_budget,
                                                           .memory_limit = o.memory_limit});
}

}  // namespace rtcrm
