// cassandra_options: its checks, its text form, and the parsers the configuration uses.
#include <rtcrm/cassandra/cassandra_store.hpp>
#include <rtcrm/core/error.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace rtcrm {

namespace {

constexpr std::pair<std::string_view, cassandra_consistency> consistency_names[] = {
    {"one", cassandra_consistency::one},
    {"two", cassandra_consistency::two},
    {"three", cassandra_consistency::three},
    {"quorum", cassandra_consistency::quorum},
    {"all", cassandra_consistency::all},
    {"local_quorum", cassandra_consistency::local_quorum},
    {"each_quorum", cassandra_consistency::each_quorum},
    {"local_one", cassandra_consistency::local_one},
};

}  // namespace

std::vector<std::string> parse_cassandra_hosts(std::string_view list) {
    std::vector<std::string> hosts;
    std::size_t start = 0;
    while (start <= list.size()) {
        const auto comma = std::min(list.find(',', start), list.size());
        if (comma > start) {
            hosts.emplace_back(list.substr(start, comma - start));
        }
        start = comma + 1;
    }
    return hosts;
}

bool is_cql_identifier(std::string_view name) noexcept {
    if (name.empty() || name.size() > 48 || std::isalpha(static_cast<unsigned char>(name[0])) == 0) {
        return false;
    }
    return std::all_of(name.begin(), name.end(),
                       [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; });
}

std::optional<cassandra_consistency> parse_cassandra_consistency(std::string_view name) noexcept {
    std::string lower;
    lower.reserve(name.size());
    for (const char c : name) {
        lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    for (const auto& [n, c] : consistency_names) {
        if (n == lower) {
            return c;
        }
    }
    return std::nullopt;
}

void cassandra_options::validate() const {
    if (hosts.empty()) {
        throw error(errc::invalid_config, "cassandra_options: hosts must name at least one contact point");
    }
    for (const auto& h : hosts) {
        if (h.empty()) {
            throw error(errc::invalid_config, "cassandra_options: a host is empty");
        }
    }
    if (!is_cql_identifier(keyspace)) {
        throw error(
            errc::invalid_config,
            fmt::format(
                "cassandra_options: keyspace \"{}\" is not a CQL identifier (a letter, then letters, digits or _)",
                keyspace));
    }
    if (instance.empty()) {
        throw error(errc::invalid_config, "cassandra_options: instance must not be empty");
    }
    if (max_in_flight == 0 || connections_per_host == 0 || scan_page_size <= 0) {
        throw error(errc::invalid_config,
                    "cassandra_options: max_in_flight, connections_per_host and scan_page_size must be at least 1");
    }
    if (max_retries < 0 || event_ttl.count() < 0 || profile_ttl.count() < 0) {
        throw error(errc::invalid_config, "cassandra_options: max_retries and the TTLs must not be negative");
    }
    if (replication.empty() || replication.front() != '{' || replication.back() != '}') {
        throw error(errc::invalid_config,
                    "cassandra_options: replication must be a CQL map literal like {'class': 'SimpleStrategy', "
                    "'replication_factor': 1}");
    }
}

std::string cassandra_options::to_string() const {
    std::string consistency_name;
    for (const auto& [n, c] : consistency_names) {
        if (c == consistency) {
            consistency_name = n;
        }
    }
    return fmt::format(
        "hosts={} port={} keyspace={} replication={} create_schema={} username={} password={} instance={} "
        "consistency={} record_events={} event_ttl={}s profile_ttl={}s max_in_flight={} "
        "connections_per_host={} request_timeout={}ms max_retries={}",
        fmt::join(hosts, ","), port, keyspace, replication, create_schema, username, password.empty() ? "" : "*****",
        instance, consistency_name, record_events, event_ttl.count(), profile_ttl.count(), max_in_flight,
        connections_per_host, request_timeout.count(), max_retries);
}

}  // namespace rtcrm
