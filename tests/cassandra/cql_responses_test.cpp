// CQL v4 responses: what the test peer encodes must decode in the DataStax Python driver
// to the fields written out here (the driver has no response encoders), and in the
// client to what was encoded.
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


}  // namespace
