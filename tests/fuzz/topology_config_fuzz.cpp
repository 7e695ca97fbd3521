// The topology config loader. The input is a configuration file's text:
// parse_topology_config either returns a configuration or throws rtcrm::error
// (invalid_config) whose message names the file; nothing else may escape. A
// configuration it returns must pass or fail validate() the same way, and parsing the
// same text over it must change nothing (every member the text names is set from it).
#include "fuzz_check.hpp"

#include <rtcrm/config/topology_config.hpp>
#include <rtcrm/core/error.hpp>

#include <optional>
#include <string>

namespace {

using rtcrm::fuzz::check;

void check_refusal(const rtcrm::error& e) {
    check(e.code() == rtcrm::errc::invalid_config, "a refused configuration threw another code than invalid_config");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto text = rtcrm::fuzz::text_of(data, size);
    std::optional<rtcrm::topology_config> config;
    try {
        config = rtcrm::parse_topology_config(text, "fuzz.json");
    } catch (const rtcrm::error& e) {
        check_refusal(e);
        check(std::string_view{e.what()}.starts_with("fuzz.json"), "a refused configuration's error does not name the file");
        return 0;
    }
    try {
        config->validate();
    } catch (const rtcrm::error& e) {
        check_refusal(e);
    }
    const auto again = rtcrm::parse_topology_config(text, "fuzz.json", *config);
    check(again == *config, "parsing a configuration's text over it changed it");
    return 0;
}
