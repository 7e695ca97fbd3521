// The profile_store backends every store test suite runs against (one factory each), for
// the suites in profile_store_conformance_test.cpp and profile_store_tallies_test.cpp.
// Cassandra runs over the CQL test peer (tests/support/cql_peer.hpp) and, with
// RTCRM_CASSANDRA_HOSTS set, against a real cluster (`cluster_backends`).
#pragma once

#include <rtcrm/cassandra/cassandra_store.hpp>
#include <rtcrm/core/memory_store.hpp>
#include <rtcrm/lmdb/lmdb_store.hpp>

#include "support/cql_peer.hpp"

#include <fmt/format.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <unistd.h>
#include <vector>

namespace rtcrm::test::store_backends {

struct backend {
    std::string name;
    std::function<std::shared_ptr<rtcrm::profile_store>()> make;
    bool expires = true;  ///< implements `expire` (Cassandra leaves expiry to table TTLs)
    /// `due_timers` tells the exact next due time (Cassandra may tell an earlier one).
    bool exact_next_due = true;
};

// Failures name the backend, not the bytes of its parameter.
inline void PrintTo(const backend& b, std::ostream* os) { *os << b.name; }

// A fresh directory per LMDB store, removed when the store is.
inline std::shared_ptr<rtcrm::profile_store> fresh_lmdb() {
    static int counter = 0;
    const auto dir = std::filesystem::temp_directory_path() / fmt::format("rtcrm_lmdb_{}_{}", ::getpid(), ++counter);
    std::filesystem::remove_all(dir);
    auto* store = new rtcrm::lmdb_store({.path = dir.string(), .map_size = 1 << 20, .sync = false});
    return std::shared_ptr<rtcrm::profile_store>(store, [dir](rtcrm::profile_store* s) {
        delete s;
        std::filesystem::remove_all(dir);
    });
}

// A keyspace of its own per store, so tests never see each other's rows on a shared cluster.
inline std::string fresh_keyspace() {
    static std::atomic<int> counter{0};
    return fmt::format("rtcrm_conformance_{}_{}", ::getpid(), ++counter);
}

// A CQL test peer per store (a fresh in-memory cluster), stopped after the store.
inline std::shared_ptr<rtcrm::profile_store> fresh_cassandra_on_peer() {
    auto peer = std::make_shared<rtcrm::test::cql_peer>();
    auto* store = new rtcrm::cassandra_store({.hosts = peer->contact_points(), .keyspace = fresh_keyspace()});
    return std::shared_ptr<rtcrm::profile_store>(store, [peer](rtcrm::profile_store* s) { delete s; });
}

// The cluster named by RTCRM_CASSANDRA_HOSTS ("h1,h2:9042"); its keyspaces are dropped after.
inline std::shared_ptr<rtcrm::profile_store> fresh_cassandra_on_cluster() {
    return std::make_shared<rtcrm::cassandra_store>(rtcrm::cassandra_options{
        .hosts = rtcrm::parse_cassandra_hosts(std::getenv("RTCRM_CASSANDRA_HOSTS")),
        .keyspace = fresh_keyspace(),
        .replication = "{'class': 'SimpleStrategy', 'replication_factor': 1}",
        .consistency = rtcrm::cassandra_consistency::one});
}

// A backend that keeps no index of its own: `due_timers` is profile_store's scan
// fallback, over a memory_store's profiles.
class scanning_store final : public rtcrm::profile_store {
public:
    [[nodiscard]] std::string_view name() const noexcept override { return "scanning"; }
    rtcrm::result<void> get(std::span<const rtcrm::player_key> keys,
                            std::span<std::optional<rtcrm::profile>> out) override {
        return inner_.get(keys, out);
    }
    rtcrm::result<void> write(const rtcrm::write_batch& batch) override { return inner_.write(batch); }
    rtcrm::result<void> scan(const rtcrm::profile_visitor& visit) override { return inner_.scan(visit); }
    rtcrm::result<void> scan_parallel(std::size_t workers, const rtcrm::visitor_factory& make) override {
        return inner_.scan_parallel(workers, make);
    }
    rtcrm::result<void> flush() override { return inner_.flush(); }
    [[nodiscard]] std::vector<rtcrm::source_position> positions() override { return inner_.positions(); }

private:
    rtcrm::memory_store inner_;
};

inline std::vector<backend> backends() {
    return {{"memory", [] { return std::make_shared<rtcrm::memory_store>(); }},
            {"lmdb", fresh_lmdb},
            {"cassandra", fresh_cassandra_on_peer, false, false},
            {"scan_fallback", [] { return std::make_shared<scanning_store>(); }, false}};
}

inline std::vector<backend> cluster_backends() {
    if (std::getenv("RTCRM_CASSANDRA_HOSTS") == nullptr) {
        return {};
    }
    return {{"cassandra", fresh_cassandra_on_cluster, false, false}};
}

}  // namespace rtcrm::test::store_backends
