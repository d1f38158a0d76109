#pragma once
// What a job store call returns: an error_code plus a human message naming what, where and why
// (Boost.MySQL's error_code + diagnostics, folded into one value), and result<T> for calls that
// also produce a value.

#include <cstdint>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <variant>

#include "labsync/queue/errc.hpp"

namespace labsync::queue {

struct store_error {
    std::error_code code;  // queue::errc (or empty on success)
    std::string message;   // e.g. "job 12 (scope-1/run-7): illegal transition running -> cleaned"
    // For errc::duplicate_live_job: the id of the live job that already holds the slot.
    std::int64_t job_id = 0;

    // True when there IS an error, like std::error_code: `if (auto err = store.transition(...))`.
    explicit operator bool() const noexcept { return static_cast<bool>(code); }
};

inline store_error make_store_error(errc e, std::string message, std::int64_t job_id = 0) {
    return store_error{make_error_code(e), std::move(message), job_id};
}

// A value or a store_error. True when it holds a value (like std::expected).
template <class T>
class result {
public:
    result(T value) : v_(std::in_place_index<0>, std::move(value)) {}            // NOLINT implicit
    result(store_error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT implicit

    bool has_value() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    // Accessing the value of an error is a programming error: it throws std::logic_error.
    T& value() & { return check(), std::get<0>(v_); }
    const T& value() const& { return check(), std::get<0>(v_); }
    T&& value() && { return check(), std::get<0>(std::move(v_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    // The error; an empty store_error when there is a value.
    const store_error& error() const noexcept {
        static const store_error none{};
        return has_value() ? none : std::get<1>(v_);
    }
    std::error_code code() const noexcept { return error().code; }

private:
    void check() const {
        if (!has_value()) throw std::logic_error("queue::result: value() on an error: " + error().message);
    }
    std::variant<T, store_error> v_;
};

}  // namespace labsync::queue
