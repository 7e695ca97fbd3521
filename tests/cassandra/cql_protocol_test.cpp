// The CQL v4 codec against an outside implementation: Debian's DataStax Python driver
// (cql_frames_driver.hpp). Frame headers, and requests: the client's must equal the
// driver's bytes, and the test peer's decoder must read back what either encoded.
// Responses, truncated input, values and time UUIDs have test files of their own.
#include "cassandra/cql_frames_driver.hpp"
#include "cassandra/cql_samples.hpp"
#include "cql/cql_protocol.hpp"
#include "cql/cql_values.hpp"
#include "support/cql_server_codec.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using namespace rtcrm::test;

// --- Frame header ---------------------------------------------------------------------

TEST(CqlHeader, EncodesAndDecodesEveryField) {
    const cql::frame_header h{.version = 4,
                              .response = true,
                              .flags = cql::frame_flag::warning,
                              .stream = -1,
                              .opcode = cql::opcode::event,
                              .length = 0x01020304};
    char bytes[cql::header_size];
    cql::encode_header(h, bytes);
    EXPECT_EQ(hex(std::string_view(bytes, cql::header_size)), "8408ffff0c01020304");
    const auto back = cql::decode_header(std::string_view(bytes, cql::header_size));
    ASSERT_TRUE(back.ok()) << back.error().reason;
    EXPECT_EQ(back->version, 4);
    EXPECT_TRUE(back->response);
    EXPECT_EQ(back->flags, cql::frame_flag::warning);
    EXPECT_EQ(back->stream, -1);
    EXPECT_EQ(back->opcode, cql::opcode::event);
    EXPECT_EQ(back->length, 0x01020304U);
}

TEST(CqlHeader, RefusesOtherVersionsUnknownOpcodesOversizedBodiesAndShortInput) {
    const auto refused = [](std::string_view bytes, std::string_view reason_part) {
        const auto h = cql::decode_header(bytes);
        ASSERT_FALSE(h.ok());
        EXPECT_EQ(h.error().code, rtcrm::errc::io_error);
        EXPECT_NE(h.error().reason.find(reason_part), std::string::npos) << h.error().reason;
    };
    using namespace std::string_view_literals;
    refused("\x05\x00\x00\x01\x05\x00\x00\x00\x00"sv, "version 5");
    refused("\x83\x00\x00\x01\x02\x00\x00\x00\x00"sv, "version 3");
    refused("\x04\x00\x00\x01\x04\x00\x00\x00\x00"sv, "opcode 0x04");
    refused("\x04\x00\x00\x01\x11\x00\x00\x00\x00"sv, "opcode 0x11");
    refused("\x04\x00\x00\x01\x07\x10\x00\x00\x01"sv, "over the limit");
    refused("\x04\x00\x00\x01\x07\x00\x00"sv, "7 bytes");
    EXPECT_TRUE(cql::decode_header("\x04\x00\x00\x01\x07\x10\x00\x00\x00"sv).ok()) << "256 MiB itself is allowed";
}

// --- Requests -------------------------------------------------------------------------

TEST(CqlRequests, EqualTheDriversBytesForEveryMessageAndQueryFlag) {
    const auto requests = sample_requests();
    std::vector<std::string> cases;
    std::vector<std::string> ours;
    for (std::size_t i = 0; i < requests.size(); ++i) {
        const auto stream = static_cast<std::int16_t>(i * 1000);
        cases.push_back("{\"op\":\"request\",\"stream\":" + std::to_string(stream) + ",\"msg\":" + describe(requests[i]) + "}");
        ours.push_back(hex(frame_of(stream, requests[i])));
    }
    const auto theirs = run_driver(cases);
    for (std::size_t i = 0; i < requests.size(); ++i) {
        EXPECT_EQ(ours[i], theirs[i]) << "request " << i << ": " << cases[i];
    }
}

TEST(CqlRequests, DecodeBackToWhatWasEncoded) {
    for (const auto& req : sample_requests()) {
        const std::string frame = frame_of(3, req);
        const auto h = header_of(frame);
        EXPECT_FALSE(h.response);
        EXPECT_EQ(h.length, frame.size() - cql::header_size);
        const auto back = cql::decode_request(h, body_of(frame));
        ASSERT_TRUE(back.ok()) << back.error().reason << " in " << describe(req);
        EXPECT_EQ(back->index(), req.index());
        EXPECT_EQ(hex(frame_of(3, back.value())), hex(frame)) << describe(req);
    }
}

TEST(CqlRequests, DecodeTheDriversExecuteIntoItsFields) {
    // The peer's view of a frame it did not make: the driver's EXECUTE, with every flag it sets.
    const std::string driver_hex = run_driver({R"({"op":"request","msg":{"type":"execute","id":"abcd","consistency":6,)"
                                               R"("values":["00000001",null,""],"page_size":50,"paging_state":"ff00",)"
                                               R"("serial_consistency":9,"timestamp":123}})"})[0];
    std::string frame;
    for (std::size_t i = 0; i + 1 < driver_hex.size(); i += 2) {
        frame.push_back(static_cast<char>(std::stoi(driver_hex.substr(i, 2), nullptr, 16)));
    }
    ASSERT_GT(frame.size(), cql::header_size);
    const auto back = cql::decode_request(header_of(frame), body_of(frame));
    ASSERT_TRUE(back.ok()) << back.error().reason;
    const auto& e = std::get<cql::execute_request>(back.value());
    EXPECT_EQ(hex(e.id), "abcd");
    EXPECT_EQ(e.params.consistency, cql::consistency::local_quorum);
    ASSERT_EQ(e.params.values.size(), 3U);
    EXPECT_EQ(cql::as_int(e.params.values[0]), 1);
    EXPECT_FALSE(e.params.values[1].has_value());
    EXPECT_EQ(e.params.values[2], std::string());
    EXPECT_EQ(e.params.page_size, 50);
    EXPECT_EQ(e.params.paging_state, std::string("\xff\x00", 2));
    EXPECT_EQ(e.params.serial_consistency, cql::consistency::local_serial);
    EXPECT_EQ(e.params.default_timestamp, 123);
    EXPECT_FALSE(e.params.skip_metadata);
}

TEST(CqlRequests, WriteSkipMetadataAsFlag0x02AndReadItBack) {
    // The driver never writes this flag, so the bytes are spelled out here (§4.1.4).
    const cql::request req = cql::execute_request{"i", {.consistency = cql::consistency::one, .skip_metadata = true}};
    const std::string frame = frame_of(0, req);
    EXPECT_EQ(hex(body_of(frame)), "0001" "69" "0001" "02");
    const auto back = cql::decode_request(header_of(frame), body_of(frame));
    ASSERT_TRUE(back.ok()) << back.error().reason;
    EXPECT_TRUE(std::get<cql::execute_request>(back.value()).params.skip_metadata);
}

TEST(CqlRequests, DecodeRefusesNamedValuesNotSetValuesAndResponseOpcodes) {
    cql::frame_header h{.opcode = cql::opcode::query};
    using namespace std::string_literals;
    // QUERY "q", ONE, flags 0x41 (values with names).
    auto named = cql::decode_request(h, "\x00\x00\x00\x01q\x00\x01\x41\x00\x01\x00\x01n\x00\x00\x00\x00"s);
    ASSERT_FALSE(named.ok());
    EXPECT_NE(named.error().reason.find("named values"), std::string::npos) << named.error().reason;
    // QUERY "q", ONE, flags 0x01, one value of length -2 (not set).
    auto not_set = cql::decode_request(h, "\x00\x00\x00\x01q\x00\x01\x01\x00\x01\xff\xff\xff\xfe"s);
    ASSERT_FALSE(not_set.ok());
    EXPECT_NE(not_set.error().reason.find("not set"), std::string::npos) << not_set.error().reason;
    h.opcode = cql::opcode::ready;
    EXPECT_FALSE(cql::decode_request(h, "").ok());
    h.opcode = cql::opcode::options;
    h.flags = cql::frame_flag::compression;
    EXPECT_FALSE(cql::decode_request(h, "").ok());
}


}  // namespace
