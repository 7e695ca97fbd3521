// Test support: Lua engines loaded from scripts held in memory.
#pragma once

#include <rtcrm/lua/lua_engine.hpp>

#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

namespace rtcrm::test {

// An engine running `scripts`; throws (failing the test) if they do not load.
inline std::shared_ptr<lua_engine> engine_with(std::vector<lua_script> scripts, lua_options options = {}) {
    auto engine = std::make_shared<lua_engine>(std::move(options));
    if (auto r = engine->load(std::move(scripts)); !r) {
        throw std::runtime_error(r.error().reason);
    }
    return engine;
}

}  // namespace rtcrm::test
