// The routing key scan against the parser. The input is one event's bytes. When
// detail::scan_key finds a definite key (an integer or a string without escapes) and
// parse_event accepts the event, both must name the same player: the source thread routes
// by the scan and the shard owns the player by the parse, so a difference sends a
// player's events to a shard that does not own the player.
#include "core/key_scan.hpp"
#include "fuzz_check.hpp"

#include <rtcrm/core/event.hpp>

#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto json = rtcrm::fuzz::text_of(data, size);
    static const rtcrm::parse_options options{};  // key_field "player_id", as deployed by default
    const auto scanned = rtcrm::detail::scan_key(json, options.key_field);
    if (scanned.what == rtcrm::detail::scanned_key::kind::unknown) {
        return 0;  // the router asks the parser then
    }
    const auto parsed = rtcrm::parse_event(json, options);
    if (!parsed) {
        return 0;  // dead-lettered wherever it goes
    }
    if (parsed->player().text() != scanned.text) {
        rtcrm::fuzz::fail("scan_key found the key \"" + std::string{scanned.text} + "\", parse_event \"" +
                          std::string{parsed->player().text()} + "\"");
    }
    return 0;
}
