// Helpers of the archive tests: a scratch directory, whole files, and the zstd tool.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

namespace rtcrm::test {

// A fresh directory under the system's temporary directory, removed afterwards.
struct scratch_dir {
    std::filesystem::path path;
    explicit scratch_dir(const std::string& name) {
        path = std::filesystem::temp_directory_path() / ("rtcrm-archive-" + name + "-" + std::to_string(::getpid()));
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    ~scratch_dir() { std::filesystem::remove_all(path); }
};

inline std::string read_all(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

inline void write_all(const std::filesystem::path& p, const std::string& bytes, bool append = false) {
    std::ofstream out(p, std::ios::binary | (append ? std::ios::app : std::ios::trunc));
    out << bytes;
}

inline bool have_zstd_tool() { return std::system("zstd --version >/dev/null 2>&1") == 0; }

// What `zstd -dc` writes for `file` (its exit status in `status`).
inline std::string zstd_tool_decompress(const std::filesystem::path& file, int* status = nullptr) {
    const std::string command = "zstd -dcq '" + file.string() + "' 2>/dev/null";
    std::FILE* pipe = ::popen(command.c_str(), "r");
    std::string out;
    char buf[65536];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) {
        out.append(buf, n);
    }
    const int rc = ::pclose(pipe);
    if (status != nullptr) {
        *status = rc;
    }
    return out;
}

#define RTCRM_REQUIRE_ZSTD_TOOL()                                                                      \
    do {                                                                                               \
        if (!::rtcrm::test::have_zstd_tool()) {                                                        \
            GTEST_SKIP() << "the zstd command-line tool is not installed (scripts/setup-debian.sh)"; \
        }                                                                                              \
    } while (false)

}  // namespace rtcrm::test
