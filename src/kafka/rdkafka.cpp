#include "rdkafka.hpp"

#include <fmt/format.h>

#include <array>

namespace rtcrm::detail::kafka {

conf_ptr make_conf(std::string_view who, const kafka_properties& defaults, const kafka_properties& properties,
                   const kafka_properties& forced) {
    conf_ptr conf{rd_kafka_conf_new()};
    std::array<char, 512> reason{};
    for (const kafka_properties* layer : {&defaults, &properties, &forced}) {
        for (const auto& [key, value] : *layer) {
            if (rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), reason.data(), reason.size()) != RD_KAFKA_CONF_OK) {
                throw error(errc::invalid_config, fmt::format("{}: kafka property {}={}: {}", who, key,
                                                              is_secret_property(key) ? "***" : value, reason.data()));
            }
        }
    }
    return conf;
}

handle_ptr make_handle(std::string_view who, rd_kafka_type_t type, conf_ptr conf) {
    std::array<char, 512> reason{};
    rd_kafka_t* rk = rd_kafka_new(type, conf.get(), reason.data(), reason.size());
    if (rk == nullptr) {
        throw error(errc::invalid_config, fmt::format("{}: cannot create the Kafka client: {}", who, reason.data()));
    }
    (void)conf.release();  // rd_kafka_new took it
    return handle_ptr{rk};
}

}  // namespace rtcrm::detail::kafka
