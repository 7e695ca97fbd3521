// Internal: a small HTTP/1.1 server on Boost.Beast, shared by the gateway and the admin
// API. Beast stays in server.cpp (one translation unit: it is slow to compile).
//
// Per connection: keep-alive and pipelined requests (answered in order, one at a time),
// a deadline for each request (slow clients and slow-loris headers are cut off), limits
// on the header and body sizes (431 / 413, then close), and a cap on open connections
// (past it, new ones get 503 and are closed). A handler may answer later, from any
// thread: the connection waits for the answer before it reads the next request.
// Bodies are taken as sent: a request with a Content-Encoding other than identity gets
// 415 without reaching the handler (nothing here decompresses).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace rtcrm::detail::http {

// Runs `work` later on the I/O thread of the connection, after the handlers already due
// there (other connections' reads and writes): a handler with much to do splits it into
// bounded slices and posts each, so one request does not hold the I/O thread for long.
using post_fn = std::function<void(std::function<void()> work)>;

struct request {
    std::string method;  // "GET", "POST", ...
    std::string target;  // path and query, as sent
    std::string body;
    std::string authorization;  // the Authorization header, if any
    std::string content_type;
    post_fn post;  // see post_fn; safe to call until the handler has answered
};

struct response {
    unsigned status = 200;
    std::string body;
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;
};

// Answers a request; call it exactly once, from any thread.
using respond_fn = std::function<void(response)>;
using handler_fn = std::function<void(request&&, respond_fn)>;

struct server_options {
    std::string address = "127.0.0.1";
    std::uint16_t port = 0;                           // 0: any free port (see server::port)
    std::size_t header_limit = 8 * 1024;
    std::size_t body_limit = 16 * 1024 * 1024;
    std::size_t max_connections = 1024;
    std::chrono::milliseconds request_timeout{10000};  // from the first byte of a request to its last
    unsigned threads = 1;
};

class server {
public:
    // Binds and starts serving on `threads` threads.
    // @throws rtcrm::error(io_error) naming the address when it cannot listen.
    server(server_options options, handler_fn handler);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    [[nodiscard]] std::uint16_t port() const noexcept;
    [[nodiscard]] std::size_t open_connections() const noexcept;
    // Stops accepting, closes the connections, joins the threads. Idempotent.
    void stop();

    struct impl;  // public for the sessions in server.cpp

private:
    std::unique_ptr<impl> impl_;
};

}  // namespace rtcrm::detail::http
