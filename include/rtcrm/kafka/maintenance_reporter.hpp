/// @file maintenance_reporter.hpp
/// Component status on a Kafka `maintenance` topic, as the modelled system did: every
/// `interval` each instance produces one JSON message (keyed by its instance id) that
/// says what it is doing, and events that operators must see (a handler script refused)
/// are produced at once.
///
/// Status message:
/// @code
///   {"kind":"status","instance":"crm-1","ts":1763800000000,"assigned":[0,1,2],"lag":12,
///    "events_in":123456,"events_per_s":40211.5,"processed":123400,
///    "errors":{"dead_lettered":3,"handler_errors":0,"store_errors":0,"nacked":0},
///    "handlers":{"version":4,"digest":"9f2c..."},
///    "campaigns":[{"id":"33","dry_run":false,"triggers":1234,"shadow":310,"players":800,
///                  "suppressed":{"kill_switch":0,"cap":10,...},"arms":{"control":{"exposures":310,"conversions":40},...}}]}
/// @endcode
/// `campaigns` (present when the status callback gives a campaign report) is each
/// campaign's totals as `lua_engine::campaign_report(campaign_report_scope::totals)` has
/// them, this instance's share only: players are partitioned across the instances of a
/// group, so summing every instance's latest status per campaign gives the group's
/// counters (docs/CAMPAIGN_REPORT.md has the kcat and jq query).
/// Event message: `{"kind":"handler_refused","instance":..,"ts":..,<string fields>}`.
///
/// Caveats: `ts` is the wall clock (this is about the process, not about events).
///
/// Example:
/// @code
///   rtcrm::maintenance_reporter reporter{{.brokers = b, .instance_id = "crm-1"},
///       [&] { return rtcrm::maintenance_status{.events_in = rt.stats().events_in}; }};
/// @endcode
#pragma once

#include <rtcrm/kafka/kafka_properties.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rtcrm {

/// What one status message says. Counters are totals since start.
struct maintenance_status {
    std::vector<std::int32_t> assigned;  ///< source partitions assigned to this instance
    std::int64_t lag = -1;               ///< messages behind the end of the assigned partitions (-1: unknown)
    std::uint64_t events_in = 0;
    std::uint64_t processed = 0;
    std::uint64_t dead_lettered = 0;
    std::uint64_t handler_errors = 0;
    std::uint64_t store_errors = 0;
    std::uint64_t nacked = 0;
    std::uint64_t handlers_version = 0;  ///< the script set's version in this process
    std::string handlers_digest;         ///< the same on every instance that runs the same scripts
    /// A campaign report (`lua_engine::campaign_report(campaign_report_scope::totals)`): its
    /// `campaigns` array becomes the message's; "" = the message has no `campaigns`.
    std::string campaigns;
};

/// Options of `maintenance_reporter`. An aggregate: use designated initialisers.
struct maintenance_options {
    std::string brokers;                       ///< bootstrap.servers
    std::string topic = "maintenance";
    std::string instance_id;                   ///< default "<hostname>-<pid>"
    std::chrono::milliseconds interval{5000};  ///< between status messages
    kafka_properties properties;               ///< librdkafka producer properties

    /// @throws rtcrm::error(invalid_config) naming the bad field.
    void validate() const;
};

/// Produces status messages on a thread of its own. Thread-safe.
class maintenance_reporter {
public:
    /// Called on the reporter's thread before each status message.
    using status_fn = std::function<maintenance_status()>;

    /// Starts reporting; the first status goes out at once.
    /// @throws rtcrm::error(invalid_config) for bad options.
    maintenance_reporter(maintenance_options options, status_fn status);
    /// Sends a last status and waits (bounded) for delivery.
    ~maintenance_reporter();
    maintenance_reporter(const maintenance_reporter&) = delete;
    maintenance_reporter& operator=(const maintenance_reporter&) = delete;

    /// Produces an event message now: `{"kind":kind,"instance":..,"ts":..,fields...}`.
    void report(std::string_view kind, const std::vector<std::pair<std::string, std::string>>& fields);

    [[nodiscard]] const std::string& instance_id() const noexcept;
    /// Messages the broker acknowledged so far.
    [[nodiscard]] std::uint64_t delivered() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace rtcrm
