// Internal: string buffers kept by a thread for its next strings (output bodies).
//
// A shard writes a trigger body per event and the host's loop consumes it; the loop bridge
// hands each spent body back to the shard that wrote it (loop_bridge.cpp), which keeps its
// buffer here for the next body instead of freeing it. So a body costs no malloc and no
// free in the steady state, and no free on another thread: freed there, glibc takes the
// writing thread's arena lock for each, and freed by the batch, its coalesced top is
// trimmed and faulted in again.
//
// Per thread, bounded: at most `max_kept` buffers of at most `max_capacity` bytes each;
// past that, `give` frees the buffer.
#pragma once

#include <cstddef>
#include <string>

namespace rtcrm::detail {

class string_pool {
public:
    static constexpr std::size_t max_kept = 1024;
    static constexpr std::size_t max_capacity = 4096;

    // An empty string, with a kept buffer of this thread's when it has one.
    static std::string take() noexcept;
    // Keeps `s`'s buffer for a later `take` on this thread, or frees it.
    static void give(std::string&& s) noexcept;
    // True if `s` has a buffer of its own on the heap (a short string lives in itself):
    // only those are worth handing back and keeping.
    static bool has_heap_buffer(const std::string& s) noexcept { return s.capacity() > std::string{}.capacity(); }
    // Buffers this thread keeps now (for tests).
    static std::size_t kept() noexcept;
};

}  // namespace rtcrm::detail
