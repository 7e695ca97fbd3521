#include <rtcrm/core/error.hpp>

namespace rtcrm {
namespace {

class category final : public std::error_category {
public:
    const char* name() const noexcept override { return "rtcrm"; }

    std::string message(int value) const override {
        switch (static_cast<errc>(value)) {
        case errc::ok: return "success";
        case errc::parse_error: return "malformed JSON";
        case errc::missing_field: return "required field missing";
        case errc::wrong_type: return "field has the wrong type";
        case errc::too_large: return "event over the size limit";
        case errc::schema_violation: return "event violates its schema";
        case errc::unknown_type: return "no schema for this event type";
        case errc::handler_failed: return "handler failed";
        case errc::ambiguous_key: return "player key member is ambiguous";
        case errc::bad_time: return "event time outside the accepted window";
        case errc::reserved_type: return "event type reserved for the runtime's own events";
        case errc::queue_full: return "queue full";
        case errc::stopped: return "stopped";
        case errc::dropped: return "ack token dropped without ack or nack";
        case errc::delivery_failed: return "delivery failed";
        case errc::timeout: return "timed out";
        case errc::unavailable: return "unavailable";
        case errc::conflict: return "changed by another writer";
        case errc::invalid_config: return "invalid configuration";
        case errc::io_error: return "I/O error";
        case errc::store_error: return "profile store error";
        }
        return "unknown rtcrm error";
    }
};

}  // namespace

const std::error_category& rtcrm_category() noexcept {
    static const category instance;
    return instance;
}

std::string_view errc_name(errc e) noexcept {
    switch (e) {
    case errc::ok: return "ok";
    case errc::parse_error: return "parse_error";
    case errc::missing_field: return "missing_field";
    case errc::wrong_type: return "wrong_type";
    case errc::too_large: return "too_large";
    case errc::schema_violation: return "schema_violation";
    case errc::unknown_type: return "unknown_type";
    case errc::handler_failed: return "handler_failed";
    case errc::ambiguous_key: return "ambiguous_key";
    case errc::bad_time: return "bad_time";
    case errc::reserved_type: return "reserved_type";
    case errc::queue_full: return "queue_full";
    case errc::stopped: return "stopped";
    case errc::dropped: return "dropped";
    case errc::delivery_failed: return "delivery_failed";
    case errc::timeout: return "timeout";
    case errc::unavailable: return "unavailable";
    case errc::conflict: return "conflict";
    case errc::invalid_config: return "invalid_config";
    case errc::io_error: return "io_error";
    case errc::store_error: return "store_error";
    }
    return "unknown";
}

bool is_retriable(std::error_code ec) noexcept {
    if (ec.category() == rtcrm_category()) {
        switch (static_cast<errc>(ec.value())) {
        case errc::queue_full:
        case errc::delivery_failed:
        case errc::timeout:
        case errc::unavailable: return true;
        default: return false;
        }
    }
    if (ec.category() == std::generic_category() || ec.category() == std::system_category()) {
        return ec == std::errc::timed_out || ec == std::errc::interrupted ||
               ec == std::errc::connection_refused || ec == std::errc::resource_unavailable_try_again;
    }
    return false;
}

}  // namespace rtcrm
