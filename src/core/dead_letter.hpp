// Internal: dead-letter records (their JSON format is documented in output.hpp), for
// records that never became events and for events a bolt or the runtime rejected.
#pragma once

#include "output_buffer.hpp"
#include "stage_counters.hpp"

#include <rtcrm/core/ack.hpp>
#include <rtcrm/core/error.hpp>
#include <rtcrm/core/event.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace rtcrm::detail {

// Builds the dead-letter record: the reason, where the bytes came from, and the bytes
// themselves: always valid JSON, ill-formed UTF-8 replaced by U+FFFD in "raw" and kept
// exactly in "raw_base64".
std::string dead_letter_body(errc code, std::string_view reason, std::string_view source_name, const origin& where,
                             std::string_view raw);

// Dead-letters a record that never became an event.
void dead_letter_record(record& rec, const failure& why, ack_token ack, const std::vector<std::string>& source_names,
                        output_buffer& outputs, stage_counters& counters);

}  // namespace rtcrm::detail
