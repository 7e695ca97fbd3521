// The CQL v4 codec, both halves (the client's and the test peer's), against an outside
// implementation: Debian's DataStax Python driver (cql_frames_driver.hpp). Requests the
// client encodes must equal the driver's bytes, and the peer's decoder must read back what
// either encoded; responses the peer encodes must decode in the driver to the fields
// written out here (the driver has no response encoders), and in the client to what was
// encoded. Truncated and garbage input gets a failure naming the field, never a read past
// the body, never an allocation the body cannot back.
#include "cql/cql_frames_driver.hpp"
#include "cql/cql_samples.hpp"
#include "cql/cql_protocol.hpp"
#include "cql/cql_values.hpp"
#include "support/cql_server_codec.hpp"

#include <gtest/gtest.h>

#include <random>
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

// --- Responses ------------------------------------------------------------------------

TEST(CqlResponses, DecodeInTheDriverToTheSameFields) {
    const auto responses = sample_responses();
    const auto& expected = driver_view_of_sample_responses();
    ASSERT_EQ(responses.size(), expected.size());
    std::vector<std::string> cases;
    for (const auto& r : responses) {
        cases.push_back(driver_case(frame_of(-1, r)));
    }
    const auto theirs = run_driver(cases);
    for (std::size_t i = 0; i < responses.size(); ++i) {
        EXPECT_EQ(theirs[i], expected[i]) << "response " << i;
    }
}

TEST(CqlResponses, DecodeBackToWhatWasEncoded) {
    for (const auto& resp : sample_responses()) {
        const std::string frame = frame_of(12, resp);
        const auto h = header_of(frame);
        EXPECT_TRUE(h.response);
        EXPECT_EQ(h.stream, 12);
        const auto back = cql::decode_response(h, body_of(frame));
        ASSERT_TRUE(back.ok()) << back.error().reason << " in response " << hex(frame);
        EXPECT_EQ(back->index(), resp.index());
        EXPECT_EQ(hex(frame_of(12, back.value())), hex(frame));
    }
}

TEST(CqlResponses, RowsMetadataUsesGlobalTablesSpecOnlyWhenAllColumnsShareATable) {
    const auto responses = sample_responses();
    std::vector<const cql::rows_result*> rows;
    for (const auto& r : responses) {
        if (const auto* res = std::get_if<cql::result_response>(&r)) {
            if (const auto* rr = std::get_if<cql::rows_result>(&res->body)) {
                rows.push_back(rr);
            }
        }
    }
    ASSERT_GE(rows.size(), 2U);
    const auto flags_of = [](const cql::rows_result& rr) {
        const std::string frame = frame_of(0, cql::result_response{rr});
        // kind [int], then the metadata flags [int].
        return hex(body_of(frame).substr(4, 4));
    };
    EXPECT_EQ(flags_of(*rows[0]), "00000001");
    EXPECT_EQ(flags_of(*rows[1]), "00000002");  // two tables; has_more_pages

    const auto decoded = cql::decode_response(header_of(frame_of(0, cql::result_response{*rows[1]})),
                                              body_of(frame_of(0, cql::result_response{*rows[1]})));
    ASSERT_TRUE(decoded.ok()) << decoded.error().reason;
    const auto& back = std::get<cql::rows_result>(std::get<cql::result_response>(decoded.value()).body);
    EXPECT_EQ(back.metadata.columns, rows[1]->metadata.columns);
    EXPECT_EQ(back.metadata.paging_state, rows[1]->metadata.paging_state);
    EXPECT_EQ(back.rows, rows[1]->rows);
}

TEST(CqlResponses, NoMetadataRowsCarryOnlyTheColumnCountAndDecodeInTheDriverWithKnownMetadata) {
    cql::rows_result rows;
    rows.metadata.no_metadata_flag = true;
    rows.metadata.column_count = 2;
    rows.rows = {{cql::int_value(5), s("five")}};
    const std::string frame = frame_of(0, cql::result_response{rows});
    // kind 2, flags 0x0004, 2 columns, 1 row: int 5, text "five".
    EXPECT_EQ(hex(body_of(frame)), "00000002" "00000004" "00000002" "00000001" "0000000400000005" "0000000466697665");
    const auto theirs = run_driver({driver_case(frame, R"(,"result_metadata":[["k","t","n","int"],["k","t","s","text"]])")});
    EXPECT_EQ(theirs[0], R"({"columns":null,"kind":2,"message_type":"FastResultMessage","paging_state":null,"rows":[[5,"five"]]})");
    const auto back = cql::decode_response(header_of(frame), body_of(frame));
    ASSERT_TRUE(back.ok()) << back.error().reason;
    const auto& rr = std::get<cql::rows_result>(std::get<cql::result_response>(back.value()).body);
    EXPECT_TRUE(rr.metadata.no_metadata_flag);
    EXPECT_EQ(rr.metadata.column_count, 2);
    EXPECT_TRUE(rr.metadata.columns.empty());
    EXPECT_EQ(rr.rows, rows.rows);
}

TEST(CqlResponses, PreparedResultsKeepThePartitionKeyIndexes) {
    cql::prepared_result p;
    p.id = "q1";
    p.metadata.pk_indexes = {2, 0};
    p.metadata.columns = {col("k", "t", "a", cql::type_id::int_), col("k", "t", "b", cql::type_id::varchar),
                          col("k", "t", "c", cql::type_id::int_)};
    const std::string frame = frame_of(0, cql::result_response{p});
    const auto back = cql::decode_response(header_of(frame), body_of(frame));
    ASSERT_TRUE(back.ok()) << back.error().reason;
    const auto& pr = std::get<cql::prepared_result>(std::get<cql::result_response>(back.value()).body);
    EXPECT_EQ(pr.id, "q1");
    EXPECT_EQ(pr.metadata.pk_indexes, (std::vector<std::uint16_t>{2, 0}));
    EXPECT_EQ(pr.metadata.columns, p.metadata.columns);
    EXPECT_TRUE(pr.result_metadata.columns.empty());
}

TEST(CqlResponses, SkipTracingIdWarningsAndCustomPayloadAnnouncedByTheFlags) {
    cql::response_extras extras;
    extras.tracing_id = std::array<std::uint8_t, 16>{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0x11, 0xde,
                                                     0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01};
    extras.warnings = std::vector<std::string>{"Batch too large", "Aggregation query"};
    extras.custom_payload = std::map<std::string, cql::value>{{"k", s("v")}};
    const cql::response resp = cql::result_response{cql::set_keyspace_result{"crm"}};
    const std::string frame = frame_of(5, resp, extras);
    const auto h = header_of(frame);
    EXPECT_EQ(h.flags, cql::frame_flag::tracing | cql::frame_flag::warning | cql::frame_flag::custom_payload);

    std::vector<std::string> warnings;
    const auto back = cql::decode_response(h, body_of(frame), &warnings);
    ASSERT_TRUE(back.ok()) << back.error().reason;
    EXPECT_EQ(std::get<cql::set_keyspace_result>(std::get<cql::result_response>(back.value()).body).keyspace, "crm");
    EXPECT_EQ(warnings, *extras.warnings);

    const auto theirs = run_driver({driver_case(frame)});
    EXPECT_EQ(theirs[0], R"({"custom_payload":{"k":"76"},"keyspace":"crm","kind":3,"message_type":"FastResultMessage",)"
                         R"("trace_id":"12345678-9abc-11de-8000-000000000001","warnings":["Batch too large","Aggregation query"]})");

    // The flags-only overload writes empty contents, which still decode.
    std::string empty;
    cql::encode_response(5, resp, empty, cql::frame_flag::tracing | cql::frame_flag::warning);
    const auto empty_back = cql::decode_response(header_of(empty), body_of(empty), &warnings);
    ASSERT_TRUE(empty_back.ok()) << empty_back.error().reason;
    EXPECT_TRUE(warnings.empty());
}

TEST(CqlResponses, AnUnknownErrorCodeKeepsItsCodeAndMessage) {
    using namespace std::string_literals;
    const cql::frame_header h{.response = true, .opcode = cql::opcode::error};
    const auto back = cql::decode_response(h, "\x00\x00\x16\x00\x00\x03" "cdc\x01\x02"s);
    ASSERT_TRUE(back.ok()) << back.error().reason;
    const auto& e = std::get<cql::error_response>(back.value());
    EXPECT_EQ(static_cast<int>(e.code), 0x1600);
    EXPECT_EQ(e.message, "cdc");
}

// --- Truncated and garbage input --------------------------------------------------------

TEST(CqlDecoders, RefuseEveryTruncationAndTrailingBytesNamingTheField) {
    const auto check = [](const std::string& frame, auto decode) {
        const auto h = header_of(frame);
        const std::string_view body = body_of(frame);
        for (std::size_t n = 0; n < body.size(); ++n) {
            // A copy of exactly n bytes, so a read past it is caught by sanitizers too.
            const std::string prefix(body.substr(0, n));
            const auto r = decode(h, prefix);
            if (r.ok()) {
                ADD_FAILURE() << "a body cut to " << n << " of " << body.size() << " bytes decoded: " << hex(frame);
                continue;
            }
            EXPECT_EQ(r.error().code, rtcrm::errc::io_error);
            EXPECT_NE(r.error().reason.find("field '"), std::string::npos) << r.error().reason;
        }
        const auto longer = decode(h, std::string(body) + "x");
        ASSERT_FALSE(longer.ok()) << hex(frame);
        EXPECT_NE(longer.error().reason.find("1 trailing bytes"), std::string::npos) << longer.error().reason;
    };
    for (const auto& req : sample_requests()) {
        check(frame_of(1, req), [](const cql::frame_header& h, std::string_view b) { return cql::decode_request(h, b); });
    }
    for (const auto& resp : sample_responses()) {
        check(frame_of(1, resp), [](const cql::frame_header& h, std::string_view b) { return cql::decode_response(h, b); });
    }
}

TEST(CqlDecoders, RefuseCountsTheBodyCannotHoldBeforeAllocating) {
    using namespace std::string_literals;
    const cql::frame_header h{.response = true, .opcode = cql::opcode::result};
    const auto reason = [&](const std::string& body) {
        const auto r = cql::decode_response(h, body);
        return r.ok() ? std::string("decoded") : r.error().reason;
    };
    // Rows, flags 4 (no metadata), 1 column, 2^31-1 rows, nothing after.
    EXPECT_NE(reason("\x00\x00\x00\x02\x00\x00\x00\x04\x00\x00\x00\x01\x7f\xff\xff\xff"s).find("rows_count"), std::string::npos);
    // Rows with a negative rows_count.
    EXPECT_NE(reason("\x00\x00\x00\x02\x00\x00\x00\x04\x00\x00\x00\x01\xff\xff\xff\xff"s).find("rows_count"), std::string::npos);
    // A negative column count.
    EXPECT_NE(reason("\x00\x00\x00\x02\x00\x00\x00\x04\xff\xff\xff\xff\x00\x00\x00\x00"s).find("negative"), std::string::npos);
    // Zero columns but rows claimed.
    EXPECT_NE(reason("\x00\x00\x00\x02\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x05"s).find("rows_count"), std::string::npos);
    // An unknown result kind.
    EXPECT_NE(reason("\x00\x00\x00\x09"s).find("result kind"), std::string::npos);
    // A column of unknown type 0x00ff (global spec "k"."t", column "c").
    EXPECT_NE(reason("\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\x01\x00\x01k\x00\x01t\x00\x01" "c\x00\xff"s).find("type id"),
              std::string::npos);
    // list<list<list<...>>> nested far deeper than any schema.
    std::string deep = "\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\x01\x00\x01k\x00\x01t\x00\x01" "c"s;
    for (int i = 0; i < 100000; ++i) {
        deep += "\x00\x20"s;
    }
    EXPECT_NE(reason(deep).find("nested too deep"), std::string::npos);
}

TEST(CqlDecoders, SurviveRandomGarbageWithAnErrorOrAValue) {
    std::mt19937 rng(20240607);
    const auto requests = sample_requests();
    const auto responses = sample_responses();
    int failures = 0;
    int runs = 0;
    for (int round = 0; round < 20; ++round) {
        for (const auto& resp : responses) {
            std::string frame = frame_of(0, resp);
            if (frame.size() == cql::header_size) {
                continue;
            }
            // Flip a few bytes of a valid body: the decoder must either decode or say why not.
            for (int k = 0; k < 3; ++k) {
                frame[cql::header_size + rng() % (frame.size() - cql::header_size)] = static_cast<char>(rng());
            }
            const auto r = cql::decode_response(header_of(frame), body_of(frame));
            ++runs;
            if (!r.ok()) {
                ++failures;
                EXPECT_EQ(r.error().code, rtcrm::errc::io_error);
            }
        }
        for (const auto& req : requests) {
            std::string frame = frame_of(0, req);
            if (frame.size() == cql::header_size) {
                continue;
            }
            frame[cql::header_size + rng() % (frame.size() - cql::header_size)] = static_cast<char>(rng());
            const auto r = cql::decode_request(header_of(frame), body_of(frame));
            ++runs;
            if (!r.ok()) {
                ++failures;
                EXPECT_EQ(r.error().code, rtcrm::errc::io_error);
            }
        }
    }
    // Most corrupted bodies are caught (lengths and counts go wrong); that they all ran
    // without a crash or a read out of bounds is the point (run under ASan to see it).
    EXPECT_GT(failures, runs / 4);
}

}  // namespace
