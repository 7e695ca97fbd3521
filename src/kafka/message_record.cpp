#include "message_record.hpp"

#include "text.hpp"

#include <algorithm>

namespace rtcrm::detail::kafka {

std::string_view key_use_name(key_use use) noexcept {
    switch (use) {
    case key_use::player: return "player";
    case key_use::absent: return "absent";
    case key_use::not_utf8: return "not_utf8";
    case key_use::control_character: return "control_character";
    case key_use::too_long: return "too_long";
    }
    return "unknown";
}

namespace {

key_use judge_key(std::string_view key) noexcept {
    if (key.size() > max_player_key_size) {
        return key_use::too_long;
    }
    if (!valid_utf8(key)) {
        return key_use::not_utf8;
    }
    // Bytes below 0x80 are whole characters in UTF-8: a byte test finds every C0 control.
    const bool control = std::any_of(key.begin(), key.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u < 0x20 || u == 0x7f;
    });
    return control ? key_use::control_character : key_use::player;
}

}  // namespace

message_record record_from_message(std::optional<std::string_view> key, std::optional<std::string_view> value,
                                   bool use_key) {
    message_record m;
    if (value && !value->empty()) {
        m.rec.bytes.assign(value->data(), value->size());
    }
    if (use_key && key && !key->empty()) {
        m.key = judge_key(*key);
        if (m.key == key_use::player) {
            m.rec.key.emplace(key->data(), key->size());
        }
    }
    return m;
}

}  // namespace rtcrm::detail::kafka
