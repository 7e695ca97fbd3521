// Internal: how the gateway cuts a `POST /events` body into records and what it answers,
// apart from the connection and the queue (gateway_source.cpp), so the rule is one pure
// function (tests/fuzz/gateway_body_fuzz.cpp checks it).
#pragma once

#include "server.hpp"

#include <rtcrm/core/event.hpp>

#include <cstddef>
#include <string_view>
#include <vector>

namespace rtcrm::detail::http {

struct event_body {
    std::vector<record> records;  // every line that is not blank, in order, refused ones included
    std::size_t bad = 0;          // lines `parse_event` refuses: they go on, to be dead-lettered
    response answer;              // 202 {"accepted":n}, or 400 naming each refused line and why
};

// Splits `body` into NDJSON lines (a trailing '\r' is dropped; lines of only spaces and
// tabs are skipped) and checks each as the runtime will parse it.
event_body split_event_body(std::string_view body, const parse_options& parse);

}  // namespace rtcrm::detail::http
