// RAII over librdkafka's C handles, and building a configuration from properties.
// Private to rtcrm::kafka: librdkafka never appears in public headers.
#pragma once

#include <rtcrm/core/error.hpp>
#include <rtcrm/kafka/kafka_properties.hpp>

#include <librdkafka/rdkafka.h>

#include <memory>
#include <string>
#include <string_view>

namespace rtcrm::detail::kafka {

struct conf_deleter {
    void operator()(rd_kafka_conf_t* c) const noexcept { rd_kafka_conf_destroy(c); }
};
struct handle_deleter {
    void operator()(rd_kafka_t* k) const noexcept { rd_kafka_destroy(k); }
};
struct list_deleter {
    void operator()(rd_kafka_topic_partition_list_t* l) const noexcept { rd_kafka_topic_partition_list_destroy(l); }
};
struct message_deleter {
    void operator()(rd_kafka_message_t* m) const noexcept { rd_kafka_message_destroy(m); }
};
struct headers_deleter {
    void operator()(rd_kafka_headers_t* h) const noexcept { rd_kafka_headers_destroy(h); }
};

using conf_ptr = std::unique_ptr<rd_kafka_conf_t, conf_deleter>;
using handle_ptr = std::unique_ptr<rd_kafka_t, handle_deleter>;
using list_ptr = std::unique_ptr<rd_kafka_topic_partition_list_t, list_deleter>;
using message_ptr = std::unique_ptr<rd_kafka_message_t, message_deleter>;
using headers_ptr = std::unique_ptr<rd_kafka_headers_t, headers_deleter>;

// A configuration with `defaults` first, then the user's `properties` (which win), then
// `forced` (which rtcrm's guarantees depend on). `who` names the component in errors.
// @throws rtcrm::error(invalid_config) naming the property (its value masked if secret).
conf_ptr make_conf(std::string_view who, const kafka_properties& defaults, const kafka_properties& properties,
                   const kafka_properties& forced);

// Creates a consumer or producer handle from `conf` (taken over on success).
// @throws rtcrm::error(invalid_config) with librdkafka's reason.
handle_ptr make_handle(std::string_view who, rd_kafka_type_t type, conf_ptr conf);

// "Broker: Unknown topic or partition" etc.
inline std::string describe(rd_kafka_resp_err_t err) { return rd_kafka_err2str(err); }

}  // namespace rtcrm::detail::kafka
