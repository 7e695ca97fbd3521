// rtcrm-cql-peer: the CQL test peer as a process, for outside clients (the DataStax Python
// driver test) and manual experiments.
//
//   rtcrm-cql-peer [--address 127.0.0.1] [--port 0] [--nodes N] [--username U --password P]
//                  [--cluster-name NAME] [--tokens-per-node N]
//
// With --nodes N the nodes listen on the address and the N-1 addresses after it (127.0.0.1,
// 127.0.0.2, ...), all on one port. Prints "port=<n>" as its first line on stdout, then
// serves until SIGTERM or SIGINT arrives or stdin reaches end of file (so a parent that
// dies takes the peer with it; start it with stdin on a pipe, not /dev/null).
#include "support/cql_peer.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <thread>

namespace {

// The address `i` steps after `base` (IPv4 only: the last octets count up).
std::string nth_address(const std::string& base, std::size_t i) {
    in_addr a{};
    if (inet_pton(AF_INET, base.c_str(), &a) != 1) {
        if (i == 0) {
            return base;
        }
        throw std::runtime_error("--nodes above 1 needs an IPv4 --address");
    }
    a.s_addr = htonl(ntohl(a.s_addr) + static_cast<std::uint32_t>(i));
    std::array<char, INET_ADDRSTRLEN> buf{};
    inet_ntop(AF_INET, &a, buf.data(), buf.size());
    return buf.data();
}

int usage(const char* why) {
    std::cerr << "rtcrm-cql-peer: " << why
              << "\nusage: rtcrm-cql-peer [--address A] [--port P] [--nodes N] [--username U --password P]"
                 " [--cluster-name NAME] [--tokens-per-node N]\n";
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    std::string address = "127.0.0.1";
    std::size_t nodes = 1;
    rtcrm::test::cql_peer_options options;
    try {
        for (int i = 1; i < argc; ++i) {
            const std::string arg = argv[i];
            if (i + 1 >= argc) {
                return usage(("missing value after " + arg).c_str());
            }
            const std::string value = argv[++i];
            if (arg == "--address") {
                address = value;
            } else if (arg == "--port") {
                options.port = static_cast<std::uint16_t>(std::stoul(value));
            } else if (arg == "--nodes") {
                nodes = std::stoul(value);
            } else if (arg == "--username") {
                options.username = value;
            } else if (arg == "--password") {
                options.password = value;
            } else if (arg == "--cluster-name") {
                options.cluster_name = value;
            } else if (arg == "--tokens-per-node") {
                options.tokens_per_node = std::stoul(value);
            } else {
                return usage(("unknown option " + arg).c_str());
            }
        }
        if (nodes == 0) {
            return usage("--nodes must be at least 1");
        }
        options.addresses.clear();
        for (std::size_t i = 0; i < nodes; ++i) {
            options.addresses.push_back(nth_address(address, i));
        }

        // Block the stop signals before any thread starts, so every thread inherits the mask
        // and sigwait below is the only place they arrive.
        sigset_t stop_signals;
        sigemptyset(&stop_signals);
        sigaddset(&stop_signals, SIGTERM);
        sigaddset(&stop_signals, SIGINT);
        pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

        rtcrm::test::cql_peer peer(options);
        std::cout << "port=" << peer.port() << std::endl;

        std::thread([] {
            std::string line;
            while (std::getline(std::cin, line)) {
            }
            kill(getpid(), SIGTERM);
        }).detach();

        int sig = 0;
        sigwait(&stop_signals, &sig);
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "rtcrm-cql-peer: " << e.what() << "\n";
        return 1;
    }
}
