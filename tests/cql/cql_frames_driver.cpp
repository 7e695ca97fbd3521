#include "cql/cql_frames_driver.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace rtcrm::test {

namespace {

// --- Describing our requests to the driver script -------------------------------------

void describe_params(std::string& j, const cql::query_parameters& p) {
    j += ",\"consistency\":" + std::to_string(static_cast<int>(p.consistency));
    if (!p.values.empty()) {
        j += ",\"values\":" + json_values(p.values);
    }
    if (p.page_size) {
        j += ",\"page_size\":" + std::to_string(*p.page_size);
    }
    if (p.paging_state) {
        j += ",\"paging_state\":" + json_string(hex(*p.paging_state));
    }
    if (p.serial_consistency) {
        j += ",\"serial_consistency\":" + std::to_string(static_cast<int>(*p.serial_consistency));
    }
    if (p.default_timestamp) {
        j += ",\"timestamp\":" + std::to_string(*p.default_timestamp);
    }
}

}  // namespace

std::string hex(std::string_view s) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (const char c : s) {
        const auto b = static_cast<unsigned char>(c);
        out.push_back(digits[b >> 4U]);
        out.push_back(digits[b & 0x0FU]);
    }
    return out;
}

std::string json_string(std::string_view s) {
    std::string out = "\"";
    for (const char c : s) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
        }
        out.push_back(c);
    }
    return out + "\"";
}

std::string json_value(const cql::value& v) { return v ? json_string(hex(*v)) : std::string("null"); }

std::string json_values(const std::vector<cql::value>& vs) {
    std::string out = "[";
    for (std::size_t i = 0; i < vs.size(); ++i) {
        out += (i == 0 ? "" : ",") + json_value(vs[i]);
    }
    return out + "]";
}

std::vector<std::string> run_driver(const std::vector<std::string>& cases) {
    static int counter = 0;
    const std::string base = ::testing::TempDir() + "cql_frames_" + std::to_string(::getpid()) + "_" +
                             std::to_string(counter++);
    {
        std::ofstream in(base + ".in");
        for (const auto& c : cases) {
            in << c << '\n';
        }
    }
    const std::string cmd = std::string(RTCRM_DEBIAN_PYTHON) + " " RTCRM_SOURCE_DIR "/tests/cql/cql_frames.py < " +
                            base + ".in > " + base + ".out";
    const int rc = std::system(cmd.c_str());
    std::vector<std::string> lines;
    std::ifstream out(base + ".out");
    for (std::string line; std::getline(out, line);) {
        lines.push_back(line);
    }
    std::remove((base + ".in").c_str());
    std::remove((base + ".out").c_str());
    EXPECT_EQ(rc, 0) << cmd;
    EXPECT_EQ(lines.size(), cases.size()) << "the driver script answered fewer cases than asked";
    lines.resize(cases.size());
    return lines;
}


std::string describe(const cql::request& r) {
    std::string j;
    if (const auto* m = std::get_if<cql::startup_request>(&r)) {
        j = "{\"type\":\"startup\",\"options\":{";
        bool first = true;
        for (const auto& [k, v] : m->options) {
            j += (first ? "" : ",") + json_string(k) + ":" + json_string(v);
            first = false;
        }
        j += "}";
    } else if (std::holds_alternative<cql::options_request>(r)) {
        j = "{\"type\":\"options\"";
    } else if (const auto* a = std::get_if<cql::auth_response_request>(&r)) {
        j = "{\"type\":\"auth_response\",\"token\":" + json_value(a->token);
    } else if (const auto* q = std::get_if<cql::query_request>(&r)) {
        j = "{\"type\":\"query\",\"query\":" + json_string(q->query);
        describe_params(j, q->params);
    } else if (const auto* p = std::get_if<cql::prepare_request>(&r)) {
        j = "{\"type\":\"prepare\",\"query\":" + json_string(p->query);
    } else if (const auto* e = std::get_if<cql::execute_request>(&r)) {
        j = "{\"type\":\"execute\",\"id\":" + json_string(hex(e->id));
        describe_params(j, e->params);
    } else if (const auto* b = std::get_if<cql::batch_request>(&r)) {
        j = "{\"type\":\"batch\",\"batch_type\":" + std::to_string(static_cast<int>(b->type)) +
            ",\"consistency\":" + std::to_string(static_cast<int>(b->consistency)) + ",\"statements\":[";
        for (std::size_t i = 0; i < b->statements.size(); ++i) {
            const auto& s = b->statements[i];
            j += std::string(i == 0 ? "" : ",") + "{\"prepared\":" + (s.prepared ? "true" : "false") +
                 (s.prepared ? ",\"id\":" + json_string(hex(s.query_or_id)) : ",\"query\":" + json_string(s.query_or_id)) +
                 ",\"values\":" + json_values(s.values) + "}";
        }
        j += "]";
        if (b->serial_consistency) {
            j += ",\"serial_consistency\":" + std::to_string(static_cast<int>(*b->serial_consistency));
        }
        if (b->default_timestamp) {
            j += ",\"timestamp\":" + std::to_string(*b->default_timestamp);
        }
    } else if (const auto* g = std::get_if<cql::register_request>(&r)) {
        j = "{\"type\":\"register\",\"events\":[";
        for (std::size_t i = 0; i < g->events.size(); ++i) {
            j += (i == 0 ? "" : ",") + json_string(g->events[i]);
        }
        j += "]";
    }
    return j + "}";
}

std::string frame_of(std::int16_t stream, const cql::request& r) {
    std::string out;
    cql::encode_request(stream, r, out);
    return out;
}

std::string frame_of(std::int16_t stream, const cql::response& r, const cql::response_extras& extras) {
    std::string out;
    cql::encode_response(stream, r, out, extras);
    return out;
}

cql::frame_header header_of(const std::string& frame) {
    auto h = cql::decode_header(std::string_view(frame).substr(0, cql::header_size));
    EXPECT_TRUE(h.ok()) << (h.ok() ? "" : h.error().reason);
    return h.ok() ? h.value() : cql::frame_header{};
}

std::string_view body_of(const std::string& frame) { return std::string_view(frame).substr(cql::header_size); }

std::string driver_case(const std::string& frame, const std::string& extra) {
    const auto h = header_of(frame);
    return "{\"op\":\"response\",\"opcode\":" + std::to_string(static_cast<int>(h.opcode)) +
           ",\"flags\":" + std::to_string(h.flags) + ",\"body\":\"" + hex(body_of(frame)) + "\"" + extra + "}";
}


}  // namespace rtcrm::test
