#include <rtcrm/core/error.hpp>
#include <rtcrm/kafka/kafka_properties.hpp>

#include <fmt/format.h>

namespace rtcrm {

void set_property(kafka_properties& properties, std::string_view key_equals_value) {
    const auto eq = key_equals_value.find('=');
    if (eq == std::string_view::npos || eq == 0) {
        throw error(errc::invalid_config,
                    fmt::format("kafka property '{}' is not key=value", key_equals_value.substr(0, eq)));
    }
    properties.insert_or_assign(std::string{key_equals_value.substr(0, eq)}, std::string{key_equals_value.substr(eq + 1)});
}

bool is_secret_property(std::string_view key) noexcept {
    for (std::string_view word : {"password", "secret", "token", "ssl.key.pem", "sasl.jaas.config"}) {
        if (key.find(word) != std::string_view::npos) {
            return true;
        }
    }
    return false;
}

std::string describe(const kafka_properties& properties) {
    std::string out;
    for (const auto& [key, value] : properties) {
        if (!out.empty()) {
            out += ' ';
        }
        fmt::format_to(std::back_inserter(out), "{}={}", key, is_secret_property(key) ? "***" : value);
    }
    return out;
}

}  // namespace rtcrm
