/// @file cql_frames_driver.hpp
/// The outside implementation the CQL codec tests check against: Debian's DataStax Python
/// driver, through tests/cql/cql_frames.py (run with /usr/bin/python3, one JSON case a
/// line in, one answer a line out), and the helpers that describe our frames to it.
#pragma once

#include "cql/cql_protocol.hpp"
#include "support/cql_server_codec.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rtcrm::test {

namespace cql = rtcrm::detail::cql;

/// Lower-case hex of the bytes.
std::string hex(std::string_view s);
/// A JSON string (quotes and backslashes escaped; the tests' strings need no more).
std::string json_string(std::string_view s);
/// A value as JSON: its bytes in hex, or null.
std::string json_value(const cql::value& v);
/// Values as a JSON list.
std::string json_values(const std::vector<cql::value>& vs);

/// Runs the driver script once over `cases` (one JSON object each) and returns its lines,
/// one per case (a failed run is a test failure, with empty lines).
std::vector<std::string> run_driver(const std::vector<std::string>& cases);

/// A request as the driver script's JSON case (what the driver is asked to encode).
std::string describe(const cql::request& r);

/// The frame of a request, as the client encodes it.
std::string frame_of(std::int16_t stream, const cql::request& r);
/// The frame of a response, as the test peer encodes it.
std::string frame_of(std::int16_t stream, const cql::response& r, const cql::response_extras& extras = {});
/// The header of a frame (a test failure if it does not decode).
cql::frame_header header_of(const std::string& frame);
/// The body of a frame.
std::string_view body_of(const std::string& frame);
/// The driver script's case that decodes the response `frame`; `extra` adds JSON fields.
std::string driver_case(const std::string& frame, const std::string& extra = "");

}  // namespace rtcrm::test
