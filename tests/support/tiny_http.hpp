// A blocking HTTP/1.1 client over a POSIX socket, small enough to trust in tests: it
// sends bytes as given and reads responses with a Content-Length.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace rtcrm::testing {

struct http_reply {
    int status = 0;
    std::string headers;
    std::string body;
};

class tiny_http {
public:
    explicit tiny_http(std::uint16_t port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            throw std::runtime_error("connect failed");
        }
    }
    ~tiny_http() { ::close(fd_); }
    tiny_http(const tiny_http&) = delete;
    tiny_http& operator=(const tiny_http&) = delete;

    void send_raw(const std::string& bytes) {
        std::size_t sent = 0;
        while (sent < bytes.size()) {
            const auto n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
            if (n <= 0) {
                throw std::runtime_error("send failed");
            }
            sent += static_cast<std::size_t>(n);
        }
    }

    static std::string post(const std::string& path, const std::string& body, const std::string& extra_headers = "") {
        return "POST " + path + " HTTP/1.1\r\nHost: test\r\nContent-Type: application/x-ndjson\r\n" + extra_headers +
               "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    }

    // Reads one response; throws on timeout or a closed connection.
    http_reply read_reply(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        for (;;) {
            const auto end = buffer_.find("\r\n\r\n");
            if (end != std::string::npos) {
                http_reply r;
                r.headers = buffer_.substr(0, end);
                r.status = std::stoi(r.headers.substr(9, 3));
                std::size_t length = 0;
                const auto cl = r.headers.find("Content-Length: ");
                if (cl != std::string::npos) {
                    length = std::stoul(r.headers.substr(cl + 16));
                }
                if (buffer_.size() >= end + 4 + length) {
                    r.body = buffer_.substr(end + 4, length);
                    buffer_.erase(0, end + 4 + length);
                    return r;
                }
            }
            if (!fill(timeout)) {
                throw std::runtime_error("the connection closed or timed out before a whole response");
            }
        }
    }

    // True if the server closed the connection within `timeout`.
    bool closed_by_peer(std::chrono::milliseconds timeout) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) {
            return false;
        }
        char c = 0;
        return ::recv(fd_, &c, 1, 0) <= 0;
    }

private:
    bool fill(std::chrono::milliseconds timeout) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) {
            return false;
        }
        char chunk[65536];
        const auto n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n <= 0) {
            return false;
        }
        buffer_.append(chunk, static_cast<std::size_t>(n));
        return true;
    }

    int fd_ = -1;
    std::string buffer_;
};

}  // namespace rtcrm::testing
