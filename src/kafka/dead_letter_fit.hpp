// Internal: how the Kafka sink makes every dead letter deliverable. Pure functions, so
// the rules are tested without a broker:
// - `fit_dead_letter`: cut the raw bytes a dead-letter record carries so the record fits
//   a size, and say so in the record;
// - `classify_failure`: which delivery errors are worth a smaller retry, which are
//   permanent (the dead letter goes to the fallback file) and which are transient (the
//   event is nacked and read again);
// - `fallback_line`: the NDJSON line of the fallback file.
#pragma once

#include <librdkafka/rdkafka.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rtcrm::detail::kafka {

// A dead-letter record cut to fit.
struct fitted_dead_letter {
    std::string body;                // the record to send
    std::size_t original_size = 0;   // bytes of the raw event before the cut
};

// `body` (a dead-letter record: a JSON object with "raw"; for bytes that are not UTF-8
// also "raw_base64", the exact bytes) cut to at most `max_size` bytes: the raw text is cut
// to its longest prefix that fits, at a character boundary ("raw") or at a whole
// 4-character group ("raw_base64", so it decodes to a prefix of the bytes; the lossy "raw"
// and "raw_utf8_replaced" beside it are dropped), and two members are appended:
// "truncated":true and "original_size":N, the byte count of the whole raw event. Every
// other member is kept. A record already cut ("truncated":true) keeps its
// "original_size"; the two members appear once. nullopt when no cut fits: `body` is not a
// JSON object, has no raw member, or is over `max_size` even with an empty raw. Meant for
// bodies over `max_size`; it cuts whatever it is given. Pure.
[[nodiscard]] std::optional<fitted_dead_letter> fit_dead_letter(std::string_view body, std::size_t max_size);

// What a failed delivery of a dead letter leads to.
enum class failure_kind : std::uint8_t {
    too_large,  // the record is over a size limit: retry it cut smaller
    permanent,  // retrying cannot help: write it to the fallback file and ack
    transient,  // librdkafka retried until message.timeout.ms, or the sink is closing: nack
};

// too_large: MSG_SIZE_TOO_LARGE, RECORD_LIST_TOO_LARGE.
// transient: timeouts (__MSG_TIMED_OUT, __TIMED_OUT, __TIMED_OUT_QUEUE, REQUEST_TIMED_OUT),
//   the transport and broker availability (__TRANSPORT, __ALL_BROKERS_DOWN,
//   BROKER_NOT_AVAILABLE, LEADER_NOT_AVAILABLE, NOT_LEADER_FOR_PARTITION,
//   NOT_ENOUGH_REPLICAS[_AFTER_APPEND], KAFKA_STORAGE_ERROR, NETWORK_EXCEPTION,
//   THROTTLING_QUOTA_EXCEEDED), and the sink's own close (__PURGE_QUEUE,
//   __PURGE_INFLIGHT, __DESTROY).
// permanent: every other error (unknown topic or partition after librdkafka's wait,
//   authorization, invalid record or topic, policy violation, a fatal producer error...).
[[nodiscard]] failure_kind classify_failure(rd_kafka_resp_err_t err) noexcept;

// One line of the fallback file (with its '\n'): a JSON object
//   {"time_ms":T,"topic":"dead","key":"7","error":"Broker: Topic authorization failed",
//    "record":{...the dead-letter record...}}
// "key" is "key_base64" when the key is not UTF-8 and absent when it is empty; the record
// is embedded as JSON when it parses as JSON, else as text in "record_text" (UTF-8) or
// "record_base64". Pure.
[[nodiscard]] std::string fallback_line(std::int64_t time_ms, std::string_view topic, std::string_view key,
                                        std::string_view error, std::string_view body);

}  // namespace rtcrm::detail::kafka
