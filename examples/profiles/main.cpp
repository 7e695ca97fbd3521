// rtcrm-profiles: reads the profiles of a store.
//
//   rtcrm-profiles --store lmdb --store-path DIR --count
//   rtcrm-profiles --store lmdb --store-path DIR --dump      # one JSON object per profile, by player key
#include <rtcrm/store/lmdb_store.hpp>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <iostream>

namespace po = boost::program_options;

int main(int argc, char** argv) {
    std::string store = "lmdb";
    std::string path;
    bool count = false;
    bool dump = false;
    po::options_description desc("rtcrm-profiles: read the profiles of a store\n\nOptions");
    desc.add_options()("help,h", "show this help")
        ("store", po::value(&store)->default_value(store), "profile store: lmdb")
        ("store-path", po::value(&path), "LMDB environment directory")
        ("count", po::bool_switch(&count), "print the number of profiles")
        ("dump", po::bool_switch(&dump), "print every profile as one JSON object per line, ordered by player key");
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
    if (store != "lmdb" || path.empty()) {
        std::cerr << "rtcrm-profiles: needs --store lmdb --store-path DIR\n";
        return 2;
    }
    try {
        rtcrm::lmdb_store s{{.path = path, .read_only = true}};
        std::vector<std::pair<std::string, std::string>> rows;
        std::uint64_t n = 0;
        if (const auto ec = s.scan([&](const rtcrm::profile& p) {
                ++n;
                if (dump) {
                    rows.emplace_back(std::string{p.key().text()}, p.to_json());
                }
                return true;
            });
            ec) {
            std::cerr << "rtcrm-profiles: " << s.last_error() << '\n';
            return 1;
        }
        if (count) {
            fmt::print("{}\n", n);
        }
        std::sort(rows.begin(), rows.end());
        for (const auto& [key, json] : rows) {
            fmt::print("{}\n", json);
        }
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "rtcrm-profiles: " << e.what() << '\n';
        return 1;
    }
}
