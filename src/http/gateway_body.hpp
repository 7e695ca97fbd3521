// Internal: how the gateway turns a `POST /events` body into records and its answer, apart
// from the connection and the queue (gateway_source.cpp), so the rule is one piece of pure
// code that the gateway runs in slices and tests/fuzz/gateway_body_fuzz.cpp checks whole.
#pragma once

#include "server.hpp"

#include <rtcrm/core/event.hpp>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace rtcrm::detail::http {

struct event_body {
    std::vector<record> records;  // every line that is not blank, in order, refused ones included
    std::size_t bad = 0;          // lines `parse_event` refuses: they go on, to be dead-lettered
    response answer;              // 202 {"accepted":n}, or 400 naming the refused lines and why
};

// A body's intake in bounded steps, so a big body never holds an I/O thread for long
// (a 16 MB body holds about 5 million short lines). Lines end at '\n'; one trailing '\r'
// is dropped; lines of only spaces and tabs are skipped (not events) but still numbered,
// so the answer names lines as sent. First a counting pass (no allocation: a body of more
// than `line_limit` events is refused before anything is copied), then each line is
// checked as the runtime will parse it and copied into a record. A 400 answer lists at
// most `max_listed` refused lines and counts the rest in "rejected_not_listed"; every
// refused line is still a record, to be dead-lettered.
class body_intake {
public:
    enum class step {
        more,            // call advance() again
        too_many_lines,  // more than line_limit events: nothing was copied
        done,            // take() the result
    };

    body_intake(std::string body, const parse_options& parse, std::size_t line_limit, std::size_t max_listed);
    body_intake(const body_intake&) = delete;  // writer_ points into rejected_
    body_intake& operator=(const body_intake&) = delete;

    // One slice: at most `count_lines` lines of the counting pass, or `check_lines` lines
    // (or `check_bytes` bytes) of the checking pass.
    step advance(std::size_t count_lines, std::size_t check_lines, std::size_t check_bytes);
    // The records and the answer, once advance() said done; frees the body.
    event_body take();

private:
    bool next_line(std::string_view& text);

    std::string body_;
    const parse_options* parse_;
    std::size_t line_limit_;
    std::size_t max_listed_;
    std::size_t pos_ = 0;     // where the next line starts
    std::size_t line_ = 0;    // lines seen so far, blank ones included
    std::size_t events_ = 0;  // non-blank lines counted
    bool counted_ = false;    // past the counting pass
    event_body out_;
    rapidjson::StringBuffer rejected_;
    rapidjson::Writer<rapidjson::StringBuffer> writer_{rejected_};
};

// The whole intake at once, without a line limit (tests and the fuzz target).
event_body split_event_body(std::string_view body, const parse_options& parse, std::size_t max_listed);

}  // namespace rtcrm::detail::http
