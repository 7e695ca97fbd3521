// Hot reload on directory changes: a thread running a libuv loop with an fs event watch on
// the script directory. Changes are debounced (editors write files in several steps),
// then the engine reloads; a set that does not load is reported and the old one stays.
#include "engine_state.hpp"

#include "core/logging.hpp"

#include <rtcrm/core/error.hpp>

#include <fmt/format.h>
#include <uv.h>

#include <thread>

namespace rtcrm::detail::lua {

struct engine_state::watcher {
    engine_state* state = nullptr;
    uv_loop_t loop{};
    uv_fs_event_t fs_event{};
    uv_timer_t debounce{};
    uv_async_t stop{};
    std::jthread thread;  // runs the loop until `stop` is sent (see stop_watcher)
};

namespace {

void on_debounced(uv_timer_t* timer) {
    auto* w = static_cast<engine_state::watcher*>(timer->data);
    auto scripts = std::vector<lua_script>{};
    try {
        scripts = read_script_dir(w->state->options.script_dir);
    } catch (const std::exception& e) {
        w->state->failed_reloads.fetch_add(1, std::memory_order_relaxed);
        std::lock_guard lock(w->state->mutex);
        w->state->last_reload_error = e.what();
        detail::log_fmt(log_level::error, "lua", "reload failed, keeping the running scripts: {}", e.what());
        return;
    }
    if (auto r = w->state->install(std::move(scripts)); r) {
        detail::log_fmt(log_level::info, "lua", "script set {} loaded from {}", r.value(),
                        w->state->options.script_dir);
    } else {
        detail::log_fmt(log_level::error, "lua", "reload failed, keeping the running scripts: {}", r.error().reason);
    }
}

void on_change(uv_fs_event_t* handle, const char* filename, int, int status) {
    auto* w = static_cast<engine_state::watcher*>(handle->data);
    if (status < 0) {
        detail::log_fmt(log_level::error, "lua", "watching {} failed: {}", w->state->options.script_dir,
                        uv_strerror(status));
        return;
    }
    (void)filename;
    const auto delay = static_cast<std::uint64_t>(w->state->options.watch_debounce.count());
    uv_timer_start(&w->debounce, on_debounced, delay, 0);
}

void on_stop(uv_async_t* async) {
    auto* w = static_cast<engine_state::watcher*>(async->data);
    uv_fs_event_stop(&w->fs_event);
    uv_timer_stop(&w->debounce);
    uv_close(reinterpret_cast<uv_handle_t*>(&w->fs_event), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&w->debounce), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&w->stop), nullptr);
}

}  // namespace

engine_state::engine_state() = default;
engine_state::~engine_state() = default;

void start_watcher(engine_state& state) {
    auto w = std::make_unique<engine_state::watcher>();
    w->state = &state;
    uv_loop_init(&w->loop);
    uv_fs_event_init(&w->loop, &w->fs_event);
    uv_timer_init(&w->loop, &w->debounce);
    uv_async_init(&w->loop, &w->stop, on_stop);
    w->fs_event.data = w->debounce.data = w->stop.data = w.get();
    if (const int rc = uv_fs_event_start(&w->fs_event, on_change, state.options.script_dir.c_str(), 0); rc < 0) {
        on_stop(&w->stop);
        uv_run(&w->loop, UV_RUN_DEFAULT);
        uv_loop_close(&w->loop);
        throw error(errc::invalid_config,
                    fmt::format("lua_engine: cannot watch {}: {}", state.options.script_dir, uv_strerror(rc)));
    }
    w->thread = std::jthread([loop = &w->loop] { uv_run(loop, UV_RUN_DEFAULT); });
    state.watch = std::move(w);
}

void stop_watcher(engine_state& state) {
    if (!state.watch) {
        return;
    }
    // uv_async_send is the one libuv call that is safe from another thread.
    uv_async_send(&state.watch->stop);
    state.watch->thread.join();
    uv_loop_close(&state.watch->loop);
    state.watch.reset();
}

}  // namespace rtcrm::detail::lua
