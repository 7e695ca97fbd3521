// Replays every input of tests/fuzz/corpus/<name>/ and tests/fuzz/regressions/<name>/
// through the fuzz target <name> (see replay.cmake), so a crash once found stays fixed.
// A target signals a failed check by aborting, as under libFuzzer: the input being
// replayed is printed first, so the failing file is named in the test's output.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#define RTCRM_FUZZ_TARGET(name) extern "C" int rtcrm_fuzz_one_##name(const std::uint8_t* data, std::size_t size);
#include "fuzz_targets.inc"
#undef RTCRM_FUZZ_TARGET

namespace {

namespace fs = std::filesystem;

struct fuzz_target {
    const char* name;
    int (*run)(const std::uint8_t*, std::size_t);
};

const fuzz_target targets[] = {
#define RTCRM_FUZZ_TARGET(name) {#name, rtcrm_fuzz_one_##name},
#include "fuzz_targets.inc"
#undef RTCRM_FUZZ_TARGET
};

std::vector<fs::path> files_in(const fs::path& dir) {
    std::vector<fs::path> files;
    if (fs::is_directory(dir)) {
        for (const auto& entry : fs::directory_iterator(dir)) {
            if (entry.is_regular_file()) {
                files.push_back(entry.path());
            }
        }
    }
    std::sort(files.begin(), files.end());
    return files;
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class fuzz_replay : public ::testing::TestWithParam<fuzz_target> {};

TEST_P(fuzz_replay, every_corpus_and_regression_input) {
    const auto& target = GetParam();
    const fs::path root{RTCRM_FUZZ_DIR};
    const auto corpus = files_in(root / "corpus" / target.name);
    // An empty corpus means a misnamed directory, and a replay that checks nothing.
    ASSERT_FALSE(corpus.empty()) << "no seed inputs in " << (root / "corpus" / target.name);
    auto inputs = corpus;
    const auto regressions = files_in(root / "regressions" / target.name);
    inputs.insert(inputs.end(), regressions.begin(), regressions.end());
    for (const auto& path : inputs) {
        std::cerr << "replaying " << path.string() << '\n';
        const auto bytes = read_file(path);
        EXPECT_EQ(target.run(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()), 0) << path;
    }
}

INSTANTIATE_TEST_SUITE_P(fuzz, fuzz_replay, ::testing::ValuesIn(targets),
                         [](const ::testing::TestParamInfo<fuzz_target>& param_info) { return std::string{param_info.param.name}; });

}  // namespace
