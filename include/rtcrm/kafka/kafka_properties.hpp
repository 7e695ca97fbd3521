/// @file kafka_properties.hpp
/// librdkafka configuration, passed through as it is: `-X key=value` on the command line
/// and a map in the options of each Kafka component. rtcrm sets only what its guarantees
/// need (e.g. `enable.auto.commit=false` for the source); anything else is yours.
///
/// Secrets (passwords, keys, tokens) never reach a log: `describe` masks them.
///
/// Example:
/// @code
///   rtcrm::kafka_properties props;
///   rtcrm::set_property(props, "security.protocol=SASL_SSL");  // from -X
///   fmt::print("{}\n", rtcrm::describe(props));                // sasl.password=***
/// @endcode
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace rtcrm {

/// librdkafka properties by name.
using kafka_properties = std::map<std::string, std::string, std::less<>>;

/// Adds one `key=value` (as given to `-X`); a later value of the same key wins.
/// @throws rtcrm::error(invalid_config) without a `=` or with an empty key.
void set_property(kafka_properties& properties, std::string_view key_equals_value);

/// True for properties whose values are secret (`sasl.password`, `ssl.key.password`,
/// `sasl.oauthbearer.client.secret`, `ssl.keystore.password`, `ssl.key.pem`, any name
/// containing "password", "secret" or "token").
[[nodiscard]] bool is_secret_property(std::string_view key) noexcept;

/// `k1=v1 k2=v2 ...` in key order, secrets as `***`: safe to log.
[[nodiscard]] std::string describe(const kafka_properties& properties);

}  // namespace rtcrm
