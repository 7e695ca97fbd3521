#include <rtcrm/core/error.hpp>
#include <rtcrm/kafka/kafka_topic.hpp>

#include <fmt/format.h>

namespace rtcrm {

namespace {

constexpr std::string_view rule = R"((a topic name is 1 to 249 characters of a-z A-Z 0-9 . _ -, and not "." or ".."))";

bool legal(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
}

// The name as a message shows it: printable ASCII as is, other bytes as \xNN, at most
// 64 characters of it, then the length.
std::string shown(std::string_view name) {
    constexpr std::size_t shown_max = 64;
    std::string out = "\"";
    for (std::size_t i = 0; i < name.size() && i < shown_max; ++i) {
        const auto c = static_cast<unsigned char>(name[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c >= 0x20 && c < 0x7f) {
            out += static_cast<char>(c);
        } else {
            fmt::format_to(std::back_inserter(out), "\\x{:02x}", c);
        }
    }
    out += '"';
    if (name.size() > shown_max) {
        fmt::format_to(std::back_inserter(out), "... ({} characters)", name.size());
    }
    return out;
}

std::string shown_char(char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c >= 0x20 && c < 0x7f ? fmt::format("'{}'", ch) : fmt::format("byte 0x{:02x}", c);
}

}  // namespace

std::string kafka_topic_problem(std::string_view name) {
    if (name.empty()) {
        return fmt::format("topic \"\": empty {}", rule);
    }
    if (name.size() > kafka_topic_max_length) {
        return fmt::format("topic {}: {} characters, over Kafka's limit of {} {}", shown(name), name.size(),
                           kafka_topic_max_length, rule);
    }
    if (name == "." || name == "..") {
        return fmt::format("topic {}: not allowed {}", shown(name), rule);
    }
    for (std::size_t i = 0; i < name.size(); ++i) {
        if (!legal(name[i])) {
            return fmt::format("topic {}: {} at position {} is not allowed {}", shown(name), shown_char(name[i]), i + 1,
                               rule);
        }
    }
    return {};
}

void validate_kafka_topic(std::string_view name, std::string_view who) {
    if (auto problem = kafka_topic_problem(name); !problem.empty()) {
        throw error(errc::invalid_config, fmt::format("{}: {}", who, problem));
    }
}

}  // namespace rtcrm
