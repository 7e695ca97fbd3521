// rtcrm-game-server-uv: a game server on libuv that runs rtcrm in-process.
//
// Clients speak a line protocol over TCP:
//   LOGIN <player>               this connection is now <player>'s session (answer: WELCOME <player>)
//   FIGHT <player> <win|loss>    a fight result
//   LEVEL <player> <level>       a level-up
//   BUY <player>                 a purchase
// Each line becomes an rtcrm event, built in code (no JSON text) and submitted from the
// loop thread without ever blocking it: when the pipeline is full, the server stops
// reading from its clients and retries a millisecond later (backpressure reaches TCP).
// Campaign triggers come back through the uv bridge on the loop thread and are written
// to the player's connection as `OFFER <json>`.
//
//   rtcrm-game-server-uv --listen 127.0.0.1:7000 --scripts lua/examples
//   printf 'LOGIN 4242\nFIGHT 4242 loss\nFIGHT 4242 loss\nFIGHT 4242 loss\n' | nc -q1 127.0.0.1 7000
//
// SIGINT/SIGTERM stop it: the runtime drains while the loop keeps delivering offers, then
// the loop ends.
#include <rtcrm/core/event_builder.hpp>
#include <rtcrm/core/ndjson_sink.hpp>
#include <rtcrm/core/runtime.hpp>
#include <rtcrm/core/thread_scheduling.hpp>
#include <rtcrm/lua/lua_engine.hpp>
#include <rtcrm/uv/uv_bridge.hpp>

#include <boost/program_options.hpp>
#include <fmt/format.h>
#include <uv.h>

#include <charconv>
#include <iostream>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace po = boost::program_options;

namespace {

struct client;

// Everything the loop thread owns. Only the loop thread touches it.
struct server {
    uv_loop_t* loop = nullptr;
    uv_tcp_t listener{};
    uv_timer_t retry{};  // retries submissions while the pipeline is full
    uv_signal_t sigint{}, sigterm{};
    rtcrm::runtime* rt = nullptr;
    std::shared_ptr<rtcrm::uv_bridge> bridge;
    std::unordered_map<std::string, client*> sessions;  // player → its connection
    std::unordered_set<client*> clients;
    std::unordered_set<client*> blocked;  // clients whose events wait for room
    std::unordered_map<std::string, std::uint64_t> sequence;  // player → events so far (event ids)
    bool stopping = false;
    // Counters, printed at exit.
    std::uint64_t lines = 0, submitted = 0, bad_lines = 0, offers = 0, offers_offline = 0, waits = 0;
};

struct client {
    uv_tcp_t tcp{};
    server* srv = nullptr;
    std::string inbox;                  // bytes of an incomplete line
    std::vector<rtcrm::record> pending; // built events not yet accepted by the runtime
    std::vector<std::string> players;   // logged in on this connection
    bool reading = false;
    bool gone = false;  // the peer closed: close once `pending` is submitted
};

struct write_req {
    uv_write_t req{};
    std::string data;
};

void write(client& c, std::string data) {
    auto* w = new write_req{};
    w->data = std::move(data);
    uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    if (uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c.tcp), &buf, 1,
                 [](uv_write_t* req, int) { delete reinterpret_cast<write_req*>(req); }) != 0) {
        delete w;
    }
}

void on_closed(uv_handle_t* h) { delete static_cast<client*>(h->data); }

void close_client(client& c) {
    auto& srv = *c.srv;
    for (const auto& p : c.players) {
        if (auto it = srv.sessions.find(p); it != srv.sessions.end() && it->second == &c) {
            srv.sessions.erase(it);
        }
    }
    srv.clients.erase(&c);
    srv.blocked.erase(&c);
    if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&c.tcp)) == 0) {
        uv_close(reinterpret_cast<uv_handle_t*>(&c.tcp), on_closed);
    }
}

// One protocol line → an event (or a session change, or an error reply).
void handle_line(client& c, std::string_view line) {
    auto& srv = *c.srv;
    ++srv.lines;
    std::vector<std::string_view> words;
    for (std::size_t pos = 0; pos < line.size();) {
        const auto end = std::min(line.find(' ', pos), line.size());
        if (end > pos) {
            words.push_back(line.substr(pos, end - pos));
        }
        pos = end + 1;
    }
    auto bad = [&](std::string_view why) {
        ++srv.bad_lines;
        write(c, fmt::format("ERROR {}: {}\n", why, line));
    };
    if (words.empty()) {
        return;
    }
    if (words.size() < 2) {
        return bad("expected a command and a player");
    }
    const std::string player{words[1]};
    if (words[0] == "LOGIN" && words.size() == 2) {
        srv.sessions[player] = &c;
        c.players.push_back(player);
        return write(c, fmt::format("WELCOME {}\n", player));
    }
    rtcrm::event_builder ev;
    ev.player(player).id(fmt::format("{}:{}", player, srv.sequence[player]++)).meta("game", "foe");
    if (words[0] == "FIGHT" && words.size() == 3 && (words[2] == "win" || words[2] == "loss")) {
        ev.type("fight").field("result", words[2]);
    } else if (words[0] == "LEVEL" && words.size() == 3) {
        std::int64_t level = 0;
        if (std::from_chars(words[2].data(), words[2].data() + words[2].size(), level).ec != std::errc{}) {
            --srv.sequence[player];
            return bad("level is not a number");
        }
        ev.type("level_up").field("level", level);
    } else if (words[0] == "BUY" && words.size() == 2) {
        ev.type("purchase").field("amount", 1);
    } else {
        --srv.sequence[player];
        return bad("unknown command");
    }
    c.pending.push_back(ev.build());
}

void on_read(uv_stream_t* stream, ssize_t n, const uv_buf_t* buf);
void finish_if_submitted(server& srv);

void alloc(uv_handle_t*, std::size_t suggested, uv_buf_t* buf) {
    buf->base = new char[suggested];
    buf->len = suggested;
}

void start_reading(client& c) {
    if (!c.reading && uv_read_start(reinterpret_cast<uv_stream_t*>(&c.tcp), alloc, on_read) == 0) {
        c.reading = true;
    }
}

void stop_reading(client& c) {
    if (c.reading) {
        uv_read_stop(reinterpret_cast<uv_stream_t*>(&c.tcp));
        c.reading = false;
    }
}

// Hands as many of the client's pending events to the runtime as it takes now, without
// waiting (the loop never blocks). True when none is left.
bool submit_some(server& srv, client& c) {
    const auto taken = srv.rt->submit(std::span<rtcrm::record>(c.pending));
    srv.submitted += taken;
    c.pending.erase(c.pending.begin(), c.pending.begin() + static_cast<std::ptrdiff_t>(taken));
    return c.pending.empty();
}

// Every millisecond while some clients wait for room: their events go in first, then
// they are read again.
void retry_blocked(uv_timer_t* timer) {
    auto& srv = *static_cast<server*>(timer->data);
    for (auto it = srv.blocked.begin(); it != srv.blocked.end();) {
        client& c = **it;
        if (!submit_some(srv, c)) {
            ++it;
            continue;
        }
        it = srv.blocked.erase(it);
        if (c.gone) {
            close_client(c);
        } else if (!srv.stopping) {
            start_reading(c);
        }
    }
    if (srv.blocked.empty()) {
        uv_timer_stop(timer);
        finish_if_submitted(srv);
    }
}

// Submits what the client sent; if the pipeline is full, stops reading the client (TCP
// pushes back on it) until the retry timer got its events in.
void submit_pending(client& c) {
    auto& srv = *c.srv;
    if (submit_some(srv, c)) {
        return;
    }
    ++srv.waits;
    stop_reading(c);
    srv.blocked.insert(&c);
    if (uv_is_active(reinterpret_cast<uv_handle_t*>(&srv.retry)) == 0) {
        uv_timer_start(&srv.retry, retry_blocked, 1, 1);
    }
}

void on_read(uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
    auto& c = *static_cast<client*>(stream->data);
    std::unique_ptr<char[]> owned(buf->base);
    if (n < 0) {
        // The client left (or failed). Events already read still go in: the retry timer
        // submits them, then closes the connection.
        stop_reading(c);
        c.gone = true;
        if (c.pending.empty()) {
            close_client(c);
        }
        return;
    }
    c.inbox.append(buf->base, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t nl; (nl = c.inbox.find('\n', start)) != std::string::npos; start = nl + 1) {
        std::string_view line{c.inbox.data() + start, nl - start};
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        handle_line(c, line);
    }
    c.inbox.erase(0, start);
    if (!c.pending.empty()) {
        submit_pending(c);
    }
}

void on_connection(uv_stream_t* listener, int status) {
    auto& srv = *static_cast<server*>(listener->data);
    if (status < 0 || srv.stopping) {
        return;
    }
    auto* c = new client{};
    c->srv = &srv;
    uv_tcp_init(srv.loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
        uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), on_closed);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    srv.clients.insert(c);
    start_reading(*c);
}

// Once stopping and every event read has been submitted: stop the runtime on another
// thread while this loop keeps delivering offers, then close everything so uv_run returns.
void finish_if_submitted(server& srv) {
    if (!srv.stopping || !srv.blocked.empty() || srv.rt == nullptr) {
        return;
    }
    rtcrm::runtime* rt = std::exchange(srv.rt, nullptr);
    srv.bridge->stop_runtime(*rt, [&srv] {
        uv_close(reinterpret_cast<uv_handle_t*>(&srv.retry), nullptr);
        uv_close(reinterpret_cast<uv_handle_t*>(&srv.sigint), nullptr);
        uv_close(reinterpret_cast<uv_handle_t*>(&srv.sigterm), nullptr);
        for (client* c : std::vector<client*>(srv.clients.begin(), srv.clients.end())) {
            close_client(*c);
        }
    });
}

// SIGINT/SIGTERM: stop accepting and reading; events already read still go in.
void on_signal(uv_signal_t* sig, int) {
    auto& srv = *static_cast<server*>(sig->data);
    if (srv.stopping) {
        return;
    }
    srv.stopping = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&srv.listener), nullptr);
    for (client* c : srv.clients) {
        stop_reading(*c);
    }
    finish_if_submitted(srv);
}

}  // namespace

int main(int argc, char** argv) {
    std::string listen = "127.0.0.1:7000";
    std::string scripts = "lua/examples";
    std::uint32_t shards = 2;
    std::size_t queue = 65536;
    std::string policy = "inherit";
    int priority = 1;
    po::options_description desc("rtcrm-game-server-uv: a libuv game server with rtcrm in-process\n\nOptions");
    desc.add_options()("help,h", "show this help")
        ("listen", po::value(&listen)->default_value(listen), "HOST:PORT to accept players on (port 0: any, printed)")
        ("scripts", po::value(&scripts)->default_value(scripts), "directory of Lua updaters and campaigns")
        ("shards", po::value(&shards)->default_value(shards), "rtcrm shard threads")
        ("submit-queue", po::value(&queue)->default_value(queue), "events submitted but not yet taken by the shards")
        ("policy", po::value(&policy)->default_value(policy), "scheduling of the loop thread and the shards: inherit | batch | fifo (real-time: the shortest latency tail; needs CAP_SYS_NICE or ulimit -r)")
        ("priority", po::value(&priority)->default_value(priority), "with --policy fifo: its priority, 1-99");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, desc), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        fmt::print(stderr, "rtcrm-game-server-uv: {}\n", e.what());
        return 2;
    }
    if (vm.count("help") != 0U) {
        std::cout << desc << '\n';
        return 0;
    }
    const auto colon = listen.rfind(':');
    if (colon == std::string::npos) {
        fmt::print(stderr, "rtcrm-game-server-uv: --listen wants HOST:PORT\n");
        return 2;
    }
    const auto parsed_policy = rtcrm::parse_thread_policy(policy);
    if (!parsed_policy) {
        fmt::print(stderr, "rtcrm-game-server-uv: --policy: unknown policy \"{}\" (inherit | batch | fifo)\n", policy);
        return 2;
    }
    // The loop thread (this one) and the shards at the same level: the one thread that
    // submits and receives, and the ones that process (thread_scheduling.hpp).
    const rtcrm::thread_scheduling scheduling{.policy = *parsed_policy, .priority = priority};

    try {
        server srv;
        srv.loop = uv_default_loop();
        // Offers are written to the player's connection on this (the loop) thread.
        srv.bridge = std::make_shared<rtcrm::uv_bridge>(srv.loop, [&srv](rtcrm::output& out) {
            const auto it = srv.sessions.find(std::string{out.player.text()});
            if (it == srv.sessions.end()) {
                ++srv.offers_offline;  // the player left; a real server would keep it for the next login
                return;
            }
            ++srv.offers;
            write(*it->second, fmt::format("OFFER {}\n", out.body));
        });
        auto engine = std::make_shared<rtcrm::lua_engine>(rtcrm::lua_options{.script_dir = scripts});
        rtcrm::topology t;
        t.add_shard_bolt(engine->make_bolt_factory())
            .add_sink(rtcrm::stream::main, srv.bridge)
            .add_sink(rtcrm::stream::dead_letter, std::make_shared<rtcrm::ndjson_sink>(rtcrm::ndjson_sink_options{.path = "stderr"}))
            .with_options({.shards = shards, .submit_capacity = queue, .shard_scheduling = scheduling});
        rtcrm::runtime rt{std::move(t)};
        rtcrm::apply_to_this_thread(scheduling);
        srv.rt = &rt;
        rt.start();

        sockaddr_in addr{};
        if (const int rc = uv_ip4_addr(listen.substr(0, colon).c_str(), std::stoi(listen.substr(colon + 1)), &addr); rc != 0) {
            throw std::runtime_error(fmt::format("--listen {}: {}", listen, uv_strerror(rc)));
        }
        uv_tcp_init(srv.loop, &srv.listener);
        srv.listener.data = &srv;
        if (const int rc = uv_tcp_bind(&srv.listener, reinterpret_cast<const sockaddr*>(&addr), 0); rc != 0) {
            throw std::runtime_error(fmt::format("--listen {}: {}", listen, uv_strerror(rc)));
        }
        if (const int rc = uv_listen(reinterpret_cast<uv_stream_t*>(&srv.listener), 128, on_connection); rc != 0) {
            throw std::runtime_error(fmt::format("--listen {}: {}", listen, uv_strerror(rc)));
        }
        sockaddr_storage bound{};
        int len = sizeof bound;
        uv_tcp_getsockname(&srv.listener, reinterpret_cast<sockaddr*>(&bound), &len);
        fmt::print(stderr, "rtcrm-game-server-uv: listening on {}:{}\n", listen.substr(0, colon),
                   ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port));
        uv_timer_init(srv.loop, &srv.retry);
        srv.retry.data = &srv;
        for (auto [sig, num] : {std::pair{&srv.sigint, SIGINT}, std::pair{&srv.sigterm, SIGTERM}}) {
            uv_signal_init(srv.loop, sig);
            sig->data = &srv;
            uv_signal_start(sig, on_signal, num);
        }

        uv_run(srv.loop, UV_RUN_DEFAULT);  // until a signal stopped everything
        uv_loop_close(srv.loop);

        const auto stats = rt.stats();
        fmt::print(stderr,
                   "rtcrm-game-server-uv: {} lines, {} events submitted, {} bad lines, {} waits for room, {} offers written, "
                   "{} offers for players offline\nrtcrm-game-server-uv: {}\n",
                   srv.lines, srv.submitted, srv.bad_lines, srv.waits, srv.offers, srv.offers_offline, stats.summary());
        return stats.nacked == 0 ? 0 : 1;
    } catch (const std::exception& e) {
        fmt::print(stderr, "rtcrm-game-server-uv: {}\n", e.what());
        return 1;
    }
}
