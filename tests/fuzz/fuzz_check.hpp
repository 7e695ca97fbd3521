// What the fuzz targets share: a failed check aborts (libFuzzer then keeps the input as a
// crash; the replay test fails naming it), after printing what was expected.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace rtcrm::fuzz {

[[noreturn]] inline void fail(std::string_view what) {
    std::fprintf(stderr, "fuzz check failed: %.*s\n", static_cast<int>(what.size()), what.data());
    std::fflush(stderr);
    std::abort();
}

inline void check(bool ok, std::string_view what) {
    if (!ok) {
        fail(what);
    }
}

// The input as text (it may hold any bytes, NUL included).
inline std::string_view text_of(const std::uint8_t* data, std::size_t size) {
    return size == 0 ? std::string_view{} : std::string_view{reinterpret_cast<const char*>(data), size};
}

}  // namespace rtcrm::fuzz
