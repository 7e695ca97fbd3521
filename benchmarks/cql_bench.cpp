// The CQL v4 codec's share of a request's cost on the client: encoding an EXECUTE of a
// profile write (3 bound values), decoding a Rows response of 1 and of 100 rows, and
// encoding an unlogged BATCH of 50 such writes. No sockets: bytes in memory only.
#include "cql/cql_protocol.hpp"
#include "cql/cql_values.hpp"
#include "support/cql_server_codec.hpp"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <string>
#include <vector>

namespace cql = rtcrm::detail::cql;

namespace {

// A profile document of the size the store writes for a typical player (~400 bytes).
const std::string& profile_doc() {
    static const std::string doc = [] {
        std::string d = R"({"level":42,"logins":42,"loss_streak":2,"windows":{"fights_lost":[)";
        for (int i = 0; i < 16; ++i) {
            d += fmt::format("{}{}", i == 0 ? "" : ",", 1'763'800'000'000 + i * 3'600'000);
        }
        return d + R"(]},"applied":{"kafka:raw":[3,123456]}})";
    }();
    return doc;
}

const std::string prepared_id = "\x5a\x1f\x33\x90\x0c\x7e\x41\x12\x9a\xbb\x02\x61\x48\xd0\xee\x07";

cql::execute_request profile_write(std::int64_t n) {
    return cql::execute_request{
        prepared_id,
        {.consistency = cql::consistency::local_quorum,
         .values = {fmt::format("player-{}", n), cql::bigint_value(n), profile_doc()},
         .default_timestamp = 1'763'800'000'000'000 + n}};
}

// A Rows response of `rows` profiles (key text, seq bigint, doc blob) as the server sends it.
std::string rows_frame(int rows) {
    cql::rows_result r;
    r.metadata.columns = {{"crm", "profiles", "key", {.id = cql::type_id::varchar}},
                          {"crm", "profiles", "seq", {.id = cql::type_id::bigint}},
                          {"crm", "profiles", "doc", {.id = cql::type_id::blob}}};
    r.metadata.column_count = 3;
    for (int i = 0; i < rows; ++i) {
        r.rows.push_back({fmt::format("player-{}", i), cql::bigint_value(i), profile_doc()});
    }
    std::string frame;
    cql::encode_response(7, cql::result_response{std::move(r)}, frame);
    return frame;
}

void encode_execute(benchmark::State& state) {
    // Built once: the session keeps bound values in the request; the benchmark measures
    // the wire encoding into a reused buffer.
    const cql::request req = profile_write(1);
    std::string out;
    for (auto _ : state) {
        out.clear();
        cql::encode_request(3, req, out);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * out.size()));
}
BENCHMARK(encode_execute);

void build_and_encode_execute(benchmark::State& state) {
    // Including the bound values' serialisation and the request's allocation.
    std::string out;
    std::int64_t n = 0;
    for (auto _ : state) {
        out.clear();
        cql::encode_request(3, profile_write(++n), out);
        benchmark::DoNotOptimize(out.data());
    }
}
BENCHMARK(build_and_encode_execute);

void decode_rows(benchmark::State& state) {
    const std::string frame = rows_frame(static_cast<int>(state.range(0)));
    const std::string_view body = std::string_view(frame).substr(cql::header_size);
    for (auto _ : state) {
        auto h = cql::decode_header(frame);
        auto r = cql::decode_response(h.value(), body);
        if (!r.ok()) {
            state.SkipWithError(r.error().reason.c_str());
            break;
        }
        benchmark::DoNotOptimize(r);
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * frame.size()));
}
BENCHMARK(decode_rows)->Arg(1)->Arg(100);

void execute_round_trip_codec(benchmark::State& state) {
    // One request's client-side codec cost: encode the write, decode a 1-row answer.
    const cql::request req = profile_write(1);
    const std::string frame = rows_frame(1);
    const std::string_view body = std::string_view(frame).substr(cql::header_size);
    std::string out;
    for (auto _ : state) {
        out.clear();
        cql::encode_request(3, req, out);
        auto r = cql::decode_response(cql::decode_header(frame).value(), body);
        benchmark::DoNotOptimize(out.data());
        benchmark::DoNotOptimize(r);
    }
}
BENCHMARK(execute_round_trip_codec);

void encode_unlogged_batch(benchmark::State& state) {
    const auto statements = static_cast<int>(state.range(0));
    cql::batch_request batch{.type = cql::batch_type::unlogged, .consistency = cql::consistency::local_quorum};
    for (int i = 0; i < statements; ++i) {
        auto w = profile_write(i);
        batch.statements.push_back({true, w.id, std::move(w.params.values)});
    }
    batch.default_timestamp = 1'763'800'000'000'000;
    const cql::request req = std::move(batch);
    std::string out;
    for (auto _ : state) {
        out.clear();
        cql::encode_request(5, req, out);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(state.iterations() * statements);
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * out.size()));
}
BENCHMARK(encode_unlogged_batch)->Arg(50);

}  // namespace

BENCHMARK_MAIN();
