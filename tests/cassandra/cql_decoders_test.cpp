// The CQL v4 decoders on truncated and garbage input: a failure naming the field, never a
// read past the body, never an allocation the body cannot back.
#include "cassandra/cql_frames_driver.hpp"
#include "cassandra/cql_samples.hpp"
#include "cql/cql_protocol.hpp"
#include "cql/cql_values.hpp"
#include "support/cql_server_codec.hpp"

#include <gtest/gtest.h>

#include <random>

#include <string>
#include <vector>

namespace {

using namespace rtcrm::test;

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
