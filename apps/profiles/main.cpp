// rtcrm-profiles: reads the profiles of a store, optionally only those of a segment.
//
//   rtcrm-profiles --store lmdb --store-path DIR --count
//   rtcrm-profiles --store lmdb --store-path DIR --dump      # one JSON object per profile (pending timers too), by player key
//   rtcrm-profiles --store lmdb --store-path DIR --where 'p:get("level") > 10' --count
//   rtcrm-profiles --store cassandra --cassandra-hosts H1,H2 --keyspace crm --count   # $RTCRM_CASSANDRA_PASSWORD
//
// --where takes a Lua expression over the profile `p`, or a chunk returning a
// function(profile), run in the handlers' sandbox (rtcrm/lua/segment.hpp). The scan runs
// in parallel over key ranges (--threads; token ranges with Cassandra). A predicate that fails on a profile counts the
// profile out and is reported at the end (exit status 1).
#include <rtcrm/cassandra/cassandra_store.hpp>
#include <rtcrm/lmdb/lmdb_store.hpp>
#include <rtcrm/lua/segment.hpp>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

namespace po = boost::program_options;

namespace {

// What one scan worker found.
struct worker_result {
    std::uint64_t matched = 0;
    std::vector<std::pair<std::string, std::string>> rows;  // (player key, JSON) when dumping
    std::uint64_t failed = 0;
    std::string first_failure;
};

}  // namespace

int main(int argc, char** argv) {
    std::string store = "lmdb";
    std::string path;
    std::string hosts;
    std::string keyspace = "crm";
    std::string username;
    std::string where;
    std::size_t threads = std::max(1U, std::thread::hardware_concurrency());
    bool count = false;
    bool dump = false;
    po::options_description desc("rtcrm-profiles: read the profiles of a store\n\nOptions");
    desc.add_options()("help,h", "show this help")
        ("store", po::value(&store)->default_value(store), "profile store: lmdb | cassandra")
        ("store-path", po::value(&path), "LMDB environment directory (--store lmdb)")
        ("cassandra-hosts", po::value(&hosts), "Cassandra contact points HOST[:PORT][,...] (--store cassandra; password from $RTCRM_CASSANDRA_PASSWORD)")
        ("keyspace", po::value(&keyspace)->default_value(keyspace), "Cassandra keyspace (--store cassandra)")
        ("cassandra-username", po::value(&username), "Cassandra PasswordAuthenticator user")
        ("where", po::value(&where), "only profiles for which this Lua expression over p (or chunk returning a function(profile)) is true")
        ("threads", po::value(&threads)->default_value(threads), "scan workers (key ranges)")
        ("count", po::bool_switch(&count), "print the number of (matching) profiles")
        ("dump", po::bool_switch(&dump), "print every (matching) profile as one JSON object per line, ordered by player key");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, desc), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        std::cerr << "rtcrm-profiles: " << e.what() << '\n' << desc;
        return 2;
    }
    if (vm.count("help") != 0U || (!count && !dump)) {
        std::cout << desc << '\n';
        return vm.count("help") != 0U ? 0 : 2;
    }
    const bool lmdb = store == "lmdb" && !path.empty();
    const bool cassandra = store == "cassandra" && !hosts.empty();
    if ((!lmdb && !cassandra) || threads == 0) {
        std::cerr << "rtcrm-profiles: needs --store lmdb --store-path DIR or --store cassandra --cassandra-hosts H[,...]"
                     " (and --threads >= 1)\n";
        return 2;
    }
    if (!where.empty()) {
        try {
            rtcrm::segment check{where};  // refuse a bad expression before opening anything
        } catch (const std::exception& e) {
            std::cerr << "rtcrm-profiles: --where: " << e.what() << '\n';
            return 2;
        }
    }
    try {
        // Read only: LMDB opens its file read-only; the Cassandra store creates nothing.
        std::unique_ptr<rtcrm::profile_store> opened;
        if (lmdb) {
            opened = std::make_unique<rtcrm::lmdb_store>(rtcrm::lmdb_options{.path = path, .read_only = true});
        } else {
            rtcrm::cassandra_options o{.hosts = rtcrm::parse_cassandra_hosts(hosts), .keyspace = keyspace,
                                       .create_schema = false, .username = username};
            if (const char* password = std::getenv("RTCRM_CASSANDRA_PASSWORD"); password != nullptr) {
                o.password = password;
            }
            opened = std::make_unique<rtcrm::cassandra_store>(std::move(o));
        }
        auto& s = *opened;
        std::vector<worker_result> results(threads);
        std::vector<std::optional<rtcrm::segment>> segments(threads);
        for (auto& seg : segments) {
            if (!where.empty()) {
                seg.emplace(where);  // one Lua state per worker
            }
        }
        const auto scanned = s.scan_parallel(threads, [&](std::size_t w) -> rtcrm::profile_visitor {
            return [&, w](const rtcrm::profile& p) {
                auto& r = results[w];
                if (segments[w]) {
                    const auto in = segments[w]->matches(p);
                    if (!in) {
                        if (r.failed++ == 0) {
                            r.first_failure = fmt::format("player {}: {}", p.key().text(), in.error().reason);
                        }
                        return true;
                    }
                    if (!in.value()) {
                        return true;
                    }
                }
                ++r.matched;
                if (dump) {
                    r.rows.emplace_back(std::string{p.key().text()}, p.to_json());
                }
                return true;
            };
        });
        if (!scanned) {
            std::cerr << "rtcrm-profiles: " << scanned.error().reason << '\n';
            return 1;
        }
        std::uint64_t matched = 0;
        std::uint64_t failed = 0;
        std::string first_failure;
        std::vector<std::pair<std::string, std::string>> rows;
        for (auto& r : results) {
            matched += r.matched;
            failed += r.failed;
            if (first_failure.empty()) {
                first_failure = r.first_failure;
            }
            std::move(r.rows.begin(), r.rows.end(), std::back_inserter(rows));
        }
        if (count) {
            fmt::print("{}\n", matched);
        }
        std::sort(rows.begin(), rows.end());
        for (const auto& [key, json] : rows) {
            fmt::print("{}\n", json);
        }
        if (failed > 0) {
            std::cerr << fmt::format("rtcrm-profiles: --where failed on {} profiles (counted out); first: {}\n"
                                     "(a missing attribute is nil: write (p:get(\"level\") or 0) > 10)\n",
                                     failed, first_failure);
            return 1;
        }
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "rtcrm-profiles: " << e.what() << '\n';
        return 1;
    }
}
