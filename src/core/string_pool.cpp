#include "string_pool.hpp"

#include <vector>

namespace rtcrm::detail {

namespace {
thread_local std::vector<std::string> kept_buffers;
}  // namespace

std::string string_pool::take() noexcept {
    if (kept_buffers.empty()) {
        return {};
    }
    std::string s = std::move(kept_buffers.back());
    kept_buffers.pop_back();
    return s;
}

void string_pool::give(std::string&& s) noexcept {
    if (!has_heap_buffer(s) || s.capacity() > max_capacity || kept_buffers.size() >= max_kept) {
        return;  // `s` frees its buffer as the caller's string goes
    }
    if (kept_buffers.capacity() == 0) {
        try {
            kept_buffers.reserve(max_kept);
        } catch (...) {
            return;
        }
    }
    s.clear();
    kept_buffers.push_back(std::move(s));  // within the reserved capacity: no allocation
}

std::size_t string_pool::kept() noexcept { return kept_buffers.size(); }

}  // namespace rtcrm::detail
