// The registries of sink kinds, one per stream ($.sinks.triggers, .dead_letters,
// .shadow): each kind's name, its members and how it is built. A new kind is one more
// registration here.
#include "config/schema.hpp"

#include <rtcrm/core/ndjson_sink.hpp>
#include <rtcrm/http/webhook_sink.hpp>
#include <rtcrm/kafka/kafka_sink.hpp>

namespace rtcrm::detail {

namespace {

std::shared_ptr<sink> ndjson_output(const std::string& path) {
    return std::make_shared<ndjson_sink>(ndjson_sink_options{.path = path});
}

std::shared_ptr<kafka_sink> kafka_output(const topology_config& c, kafka_sink_options options,
                                         const assembled_topology& parts) {
    options.brokers = c.kafka.brokers;
    options.properties = parts.properties;
    return std::make_shared<kafka_sink>(std::move(options));
}

sink_registration<trigger_sink_kind> ndjson_triggers() {
    return {
        .kind = trigger_sink_kind::ndjson,
        .name = "ndjson",
        .fields =
            {
                text("path", [](auto& c) -> auto& { return c.sinks.triggers.ndjson.path; }, non_empty,
                     {.flag = "output",
                      .help = "trigger output (NDJSON): a file, or - for stdout",
                      .doc = "a file, `-` = stdout"}),
            },
        .build = [](const topology_config& c, assembled_topology&,
                    const std::shared_ptr<sink>&) { return ndjson_output(c.sinks.triggers.ndjson.path); },
    };
}

sink_registration<trigger_sink_kind> kafka_triggers() {
    return {
        .kind = trigger_sink_kind::kafka,
        .name = "kafka",
        .fields =
            {
                text("topic", [](auto& c) -> auto& { return c.sinks.triggers.kafka.topic; }, kafka_topic,
                     {.flag = "trigger-topic",
                      .help = "Kafka topic of the triggers (--sink kafka)",
                      .doc = "the trigger topic"}),
            },
        .check = [](const topology_config& c) { require_brokers(c, R"(trigger sink kind "kafka")"); },
        .build = [](const topology_config& c, assembled_topology& parts,
                    const std::shared_ptr<sink>&) -> std::shared_ptr<sink> {
            parts.kafka_triggers = kafka_output(c, {.topic = c.sinks.triggers.kafka.topic}, parts);
            return parts.kafka_triggers;
        },
    };
}

sink_registration<trigger_sink_kind> webhook() {
    return {
        .kind = trigger_sink_kind::webhook,
        .name = "webhook",
        .fields =
            {
                text("url", [](auto& c) -> auto& { return c.sinks.triggers.webhook.url; }, http_url,
                     {.flag = "webhook-url",
                      .help =
                          "http://HOST:PORT/PATH that triggers are POSTed to (--sink webhook), NDJSON batches; after "
                          "retries, to the dead-letter output",
                      .doc = "where triggers are POSTed (required)",
                      .required = true}),
                boolean("one_by_one", [](auto& c) -> auto& { return c.sinks.triggers.webhook.one_by_one; },
                        {.flag = "webhook-one-by-one",
                         .help = "one request per trigger instead of NDJSON batches",
                         .doc = "one request per trigger instead of NDJSON batches"}),
            },
        // Deliveries given up after the retries go to the dead-letter output.
        .build = [](const topology_config& c, assembled_topology& parts,
                    const std::shared_ptr<sink>& dead_letters) -> std::shared_ptr<sink> {
            const auto& w = c.sinks.triggers.webhook;
            parts.webhook = std::make_shared<webhook_sink>(
                webhook_options{.url = w.url, .batch = !w.one_by_one, .dead_letter = dead_letters});
            return parts.webhook;
        },
    };
}

sink_registration<dead_letter_sink_kind> ndjson_dead_letters() {
    return {
        .kind = dead_letter_sink_kind::ndjson,
        .name = "ndjson",
        .fields =
            {
                text("path", [](auto& c) -> auto& { return c.sinks.dead_letters.ndjson.path; }, non_empty,
                     {.flag = "dead-letter",
                      .help = "dead-letter output (NDJSON): a file, - or stderr",
                      .doc = "a file, `-` or `stderr`"}),
            },
        .build = [](const topology_config& c, assembled_topology&,
                    const std::shared_ptr<sink>&) { return ndjson_output(c.sinks.dead_letters.ndjson.path); },
    };
}

// The dead-letter topic's flag also chooses the kind: a topic means Kafka, '' NDJSON.
field dead_letter_topic() {
    auto f = text("topic", [](auto& c) -> auto& { return c.sinks.dead_letters.kafka.topic; }, kafka_topic,
                  {.flag = "dead-letter-topic",
                   .help = "Kafka topic of the dead letters (reason in header rtcrm-reason); default: --dead-letter",
                   .doc = "the dead-letter topic (required)",
                   .required = true,
                   .required_in_file = true});
    f.get = [](const topology_config& c) -> topology_flag_value {
        const auto& d = c.sinks.dead_letters;
        return d.kind == dead_letter_sink_kind::kafka ? d.kafka.topic : std::string{};
    };
    f.set = [](topology_config& c, const topology_flag_value& v, const std::string&) {
        auto& d = c.sinks.dead_letters;
        d.kafka.topic = std::get<std::string>(v);
        d.kind = d.kafka.topic.empty() ? dead_letter_sink_kind::ndjson : dead_letter_sink_kind::kafka;
    };
    return f;
}

sink_registration<dead_letter_sink_kind> kafka_dead_letters() {
    return {
        .kind = dead_letter_sink_kind::kafka,
        .name = "kafka",
        .fields =
            {
                dead_letter_topic(),
                text("fallback_path", [](auto& c) -> auto& { return c.sinks.dead_letters.kafka.fallback_path; },
                     any_string,
                     {.flag = "dead-letter-fallback",
                      .help = "file where dead letters that cannot be delivered to --dead-letter-topic are appended "
                              "(NDJSON, fsync'd) so their events are committed; '' to nack them instead",
                      .doc = "undeliverable dead letters are appended here (NDJSON, fsync'd) and their events "
                             "committed; `\"\"` = nack them instead"}),
            },
        .check =
            [](const topology_config& c) {
                require_brokers(c, R"(dead-letter sink kind "kafka" ($.sinks.dead_letters.topic))");
            },
        .build = [](const topology_config& c, assembled_topology& parts,
                    const std::shared_ptr<sink>&) -> std::shared_ptr<sink> {
            const auto& k = c.sinks.dead_letters.kafka;
            parts.kafka_dead_letters = kafka_output(c, {.topic = k.topic, .fallback_path = k.fallback_path}, parts);
            return parts.kafka_dead_letters;
        },
    };
}

// Without a path, dry-run triggers are discarded: the factory builds nothing.
sink_registration<shadow_sink_kind> ndjson_shadow() {
    return {
        .kind = shadow_sink_kind::ndjson,
        .name = "ndjson",
        .fields =
            {
                text("path", [](auto& c) -> auto& { return c.sinks.shadow.ndjson.path; }, non_empty,
                     {.flag = "shadow",
                      .help = "dry-run trigger output (NDJSON): a file, - or stderr; default: discarded",
                      .doc = "a file, `-` or `stderr` (required)",
                      .in_use = [](const topology_config& c) { return !c.sinks.shadow.ndjson.path.empty(); },
                      .required_in_file = true}),
            },
        .build = [](const topology_config& c, assembled_topology&,
                    const std::shared_ptr<sink>&) -> std::shared_ptr<sink> {
            const auto& path = c.sinks.shadow.ndjson.path;
            return path.empty() ? nullptr : ndjson_output(path);
        },
    };
}

}  // namespace

const std::vector<sink_registration<trigger_sink_kind>>& trigger_sink_kinds() {
    static const std::vector<sink_registration<trigger_sink_kind>> all{ndjson_triggers(), kafka_triggers(), webhook()};
    return all;
}

const std::vector<sink_registration<dead_letter_sink_kind>>& dead_letter_sink_kinds() {
    static const std::vector<sink_registration<dead_letter_sink_kind>> all{ndjson_dead_letters(), kafka_dead_letters()};
    return all;
}

const std::vector<sink_registration<shadow_sink_kind>>& shadow_sink_kinds() {
    static const std::vector<sink_registration<shadow_sink_kind>> all{ndjson_shadow()};
    return all;
}

}  // namespace rtcrm::detail
