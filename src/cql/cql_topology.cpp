#include "cql/cql_topology.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <variant>

namespace rtcrm::detail::cql {

namespace {

std::optional<std::size_t> column_index(const rows_result& rows, std::string_view name) {
    for (std::size_t i = 0; i < rows.metadata.columns.size(); ++i) {
        if (rows.metadata.columns[i].name == name) {
            return i;
        }
    }
    return std::nullopt;
}

const value* cell(const rows_result& rows, std::size_t row, std::optional<std::size_t> column) {
    if (!column || *column >= rows.rows[row].size()) {
        return nullptr;
    }
    return &rows.rows[row][*column];
}

// An [inet] value's address bytes: 4 or 16 of them, else empty.
std::string inet_of(const value* v) {
    if (v == nullptr || !*v || ((*v)->size() != 4 && (*v)->size() != 16)) {
        return {};
    }
    return **v;
}

bool unspecified(const std::string& address) {
    return std::all_of(address.begin(), address.end(), [](char c) { return c == '\0'; });
}

// tokens is a set<text> of decimal strings: [int n] then n x ([int len][bytes]).
std::vector<std::int64_t> tokens_of(const value* v) {
    std::vector<std::int64_t> out;
    if (v == nullptr || !*v) {
        return out;
    }
    reader r(**v);
    const auto n = r.int_("set size");
    for (std::int32_t i = 0; i < n && r.ok(); ++i) {
        const auto text = r.long_string("token");
        std::int64_t t = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), t);
        if (r.ok() && ec == std::errc{} && end == text.data() + text.size()) {
            out.push_back(t);
        }
    }
    return out;
}

std::string text_of(const value* v) { return (v != nullptr && *v) ? **v : std::string{}; }

}  // namespace

std::optional<host_port> parse_contact_point(std::string_view s, std::uint16_t default_port) {
    host_port hp{.host = {}, .port = default_port};
    std::string_view port_text;
    if (s.starts_with('[')) {
        const auto close = s.find(']');
        if (close == std::string_view::npos) {
            return std::nullopt;
        }
        hp.host = std::string(s.substr(1, close - 1));
        const auto rest = s.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') {
                return std::nullopt;
            }
            port_text = rest.substr(1);
        }
    } else if (std::count(s.begin(), s.end(), ':') == 1) {
        const auto colon = s.find(':');
        hp.host = std::string(s.substr(0, colon));
        port_text = s.substr(colon + 1);
    } else {
        hp.host = std::string(s);
    }
    if (hp.host.empty()) {
        return std::nullopt;
    }
    if (!port_text.empty() || s.ends_with(':')) {
        unsigned port = 0;
        const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
        if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 || port > 65535) {
            return std::nullopt;
        }
        hp.port = static_cast<std::uint16_t>(port);
    }
    return hp;
}

const rows_result* rows_in(const result<response>& r) {
    if (!r) {
        return nullptr;
    }
    const auto* res = std::get_if<result_response>(&r.value());
    return res == nullptr ? nullptr : std::get_if<rows_result>(&res->body);
}

std::optional<node_info> local_node(const rows_result& rows) {
    if (rows.rows.empty()) {
        return std::nullopt;
    }
    return node_info{.address = {},
                     .datacenter = text_of(cell(rows, 0, column_index(rows, "data_center"))),
                     .tokens = tokens_of(cell(rows, 0, column_index(rows, "tokens")))};
}

std::vector<node_info> peer_nodes(const rows_result& rows) {
    std::vector<node_info> out;
    const auto peer_col = column_index(rows, "peer");
    const auto rpc_col = column_index(rows, "rpc_address");
    const auto dc_col = column_index(rows, "data_center");
    const auto tokens_col = column_index(rows, "tokens");
    for (std::size_t i = 0; i < rows.rows.size(); ++i) {
        // rpc_address is where clients go; 0.0.0.0 (listen on all) means "use peer".
        auto address = inet_of(cell(rows, i, rpc_col));
        if (address.empty() || unspecified(address)) {
            address = inet_of(cell(rows, i, peer_col));
        }
        if (address.empty()) {
            continue;
        }
        out.push_back({std::move(address), text_of(cell(rows, i, dc_col)), tokens_of(cell(rows, i, tokens_col))});
    }
    return out;
}

token_ring::token_ring(std::vector<std::pair<std::int64_t, std::size_t>> entries) : entries_(std::move(entries)) {
    std::sort(entries_.begin(), entries_.end());
}

std::size_t token_ring::owner(std::int64_t token) const {
    auto it = std::lower_bound(entries_.begin(), entries_.end(), std::make_pair(token, std::size_t{0}));
    if (it == entries_.end()) {
        it = entries_.begin();
    }
    return it->second;
}

std::vector<std::int64_t> token_ring::tokens() const {
    std::vector<std::int64_t> out;
    out.reserve(entries_.size());
    for (const auto& e : entries_) {
        out.push_back(e.first);
    }
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

std::vector<std::pair<std::int64_t, std::int64_t>> token_ranges(const std::vector<std::int64_t>& tokens) {
    constexpr auto lowest = std::numeric_limits<std::int64_t>::min();
    constexpr auto highest = std::numeric_limits<std::int64_t>::max();
    std::vector<std::pair<std::int64_t, std::int64_t>> out;
    if (tokens.empty()) {
        out.emplace_back(lowest, highest);
        return out;
    }
    // The wrapping range (last, first] becomes (lowest, first] and (last, highest].
    // Murmur3 never yields `lowest`, so excluding it loses no key.
    out.emplace_back(lowest, tokens.front());
    for (std::size_t i = 1; i < tokens.size(); ++i) {
        out.emplace_back(tokens[i - 1], tokens[i]);
    }
    if (tokens.back() != highest) {
        out.emplace_back(tokens.back(), highest);
    }
    return out;
}

}  // namespace rtcrm::detail::cql
