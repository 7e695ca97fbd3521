/// @file result.hpp
/// `result<T>`: a value or a failure (an error code with a human-readable reason), for
/// the per-event path and the profile stores, where nothing throws. `result<void>` is a
/// success or a failure, for operations that return nothing else.
///
/// Caveats: accessing `value()` or `error()` of the wrong alternative is undefined
/// behaviour, as with `std::optional`; check `ok()` first.
///
/// Example:
/// @code
///   rtcrm::result<void> written = store.write(batch);
///   if (!written) {
///       log(written.error().code, written.error().reason);  // "lmdb_store /var/crm: commit: No space left on device"
///   }
/// @endcode
#pragma once

#include <rtcrm/core/error.hpp>

#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <variant>

namespace rtcrm {

/// Why something on the per-event path failed: the code (stable, machine-readable) and a
/// reason for people, e.g. "Missing a name for object member. at offset 17".
struct failure {
    std::error_code code;
    std::string reason;
};

/// A `T` or a `failure`. Value type; not synchronised.
template <typename T>
class result {
public:
    result(T value) : state_(std::move(value)) {}                // NOLINT(google-explicit-constructor)
    result(failure why) : state_(std::move(why)) {}               // NOLINT(google-explicit-constructor)
    result(errc code, std::string reason) : state_(failure{make_error_code(code), std::move(reason)}) {}

    [[nodiscard]] bool ok() const noexcept { return state_.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }

    T& value() & { return std::get<0>(state_); }
    const T& value() const& { return std::get<0>(state_); }
    T&& value() && { return std::get<0>(std::move(state_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    /// The failure; only when `!ok()`.
    [[nodiscard]] const failure& error() const { return std::get<1>(state_); }

private:
    std::variant<T, failure> state_;
};

/// Success, or a `failure`. Value type; not synchronised. Default-constructed: success.
template <>
class result<void> {
public:
    result() noexcept = default;
    result(failure why) : failure_(std::move(why)) {}             // NOLINT(google-explicit-constructor)
    result(errc code, std::string reason) : failure_(failure{make_error_code(code), std::move(reason)}) {}

    [[nodiscard]] bool ok() const noexcept { return !failure_.has_value(); }
    explicit operator bool() const noexcept { return ok(); }

    /// The failure; only when `!ok()`.
    [[nodiscard]] const failure& error() const { return *failure_; }

private:
    std::optional<failure> failure_;
};

}  // namespace rtcrm
