// The session's interface without its I/O: the options' checks and the blocking forms of
// the calls (the session itself is in cql_session_impl.cpp).
#include "cql/cql_session.hpp"

#include "cql/cql_topology.hpp"

#include <rtcrm/core/error.hpp>

#include <fmt/format.h>

#include <future>

namespace rtcrm::detail::cql {

void session_options::validate() const {
    if (contact_points.empty()) {
        throw error(errc::invalid_config, "cql session_options.contact_points: at least one is needed");
    }
    for (const auto& cp : contact_points) {
        if (!parse_contact_point(cp, default_port)) {
            throw error(
                errc::invalid_config,
                fmt::format("cql session_options.contact_points: '{}' is not host, host:port or [v6]:port", cp));
        }
    }
    if (default_port == 0) {
        throw error(errc::invalid_config, "cql session_options.default_port: must not be 0");
    }
    if (connections_per_host == 0) {
        throw error(errc::invalid_config, "cql session_options.connections_per_host: must be at least 1");
    }
    if (max_in_flight_per_connection == 0 || max_in_flight_per_connection > max_streams) {
        throw error(errc::invalid_config, "cql session_options.max_in_flight_per_connection: must be in 1..32768");
    }
    if (connect_timeout.count() <= 0) {
        throw error(errc::invalid_config, "cql session_options.connect_timeout: must be positive");
    }
    if (request_timeout.count() < 0) {
        throw error(errc::invalid_config, "cql session_options.request_timeout: must not be negative (0 = none)");
    }
    if (reconnect_min.count() <= 0 || reconnect_max < reconnect_min) {
        throw error(errc::invalid_config,
                    "cql session_options.reconnect_min/max: need 0 < reconnect_min <= reconnect_max");
    }
    if (max_retries < 0) {
        throw error(errc::invalid_config, "cql session_options.max_retries: must not be negative");
    }
}

namespace {
template <typename T, typename Start>
result<T> wait_for(bool on_io_thread, Start&& start) {
    if (on_io_thread) {
        return result<T>(errc::invalid_config, "cql session: a blocking call from the I/O thread would deadlock");
    }
    std::promise<result<T>> promise;
    auto future = promise.get_future();
    start([&promise](result<T> r) { promise.set_value(std::move(r)); });
    return future.get();
}
}  // namespace

result<result_body> session::execute_sync(statement s) {
    return wait_for<result_body>(on_io_thread(),
                                 [&](response_callback done) { execute(std::move(s), std::move(done)); });
}

result<result_body> session::execute_sync(batch b) {
    return wait_for<result_body>(on_io_thread(),
                                 [&](response_callback done) { execute(std::move(b), std::move(done)); });
}

result<prepared_ptr> session::prepare_sync(std::string query) {
    return wait_for<prepared_ptr>(on_io_thread(),
                                  [&](prepared_callback done) { prepare(std::move(query), std::move(done)); });
}

}  // namespace rtcrm::detail::cql
