#include "labsync/engine/retry_policy.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace labsync::engine {

using transports::error_kind;

std::string_view to_string(retry_action action) noexcept {
    switch (action) {
        case retry_action::backoff:
            return "backoff";
        case retry_action::immediate_retry:
            return "immediate_retry";
        case retry_action::fail:
            return "fail";
        case retry_action::quarantine:
            return "quarantine";
    }
    return "unknown";
}

retry_policy::retry_policy(backoff_config config, std::function<double()> random_unit)
    : config_(config), random_unit_(std::move(random_unit)) {
    if (config_.base.count() < 0 || config_.cap.count() < 0 || config_.max_attempts < 1)
        throw std::invalid_argument("retry_policy: base/cap must be >= 0 and max_attempts >= 1");
    if (!random_unit_) throw std::invalid_argument("retry_policy: random_unit must be set");
}

std::chrono::milliseconds retry_policy::ceiling(int attempts) const noexcept {
    if (attempts < 1) attempts = 1;
    // Double until the cap; stop early so the shift never overflows.
    std::int64_t value = config_.base.count();
    const std::int64_t cap = config_.cap.count();
    for (int i = 1; i < attempts && value < cap; ++i) value *= 2;
    return std::chrono::milliseconds(std::min(value, cap));
}

retry_decision retry_policy::decide(error_kind kind, int attempts,
                                    std::optional<error_kind> previous_kind) const {
    const auto name = transports::to_string(kind);
    switch (kind) {
        case error_kind::none:
            throw std::invalid_argument("retry_policy::decide called for a successful attempt");
        case error_kind::network:
        case error_kind::unknown: {
            if (attempts >= config_.max_attempts)
                return {retry_action::fail,
                        {},
                        fmt::format("{}: giving up after {} attempts (max_attempts {})", name, attempts,
                                    config_.max_attempts)};
            double u = random_unit_();
            u = std::clamp(u, 0.0, 1.0);
            const auto top = ceiling(attempts);
            auto delay =
                std::chrono::milliseconds(static_cast<std::int64_t>(u * static_cast<double>(top.count())));
            if (delay > top) delay = top;
            return {retry_action::backoff, delay,
                    fmt::format("{}: attempt {} of {}, retry in {} ms", name, attempts, config_.max_attempts,
                                delay.count())};
        }
        case error_kind::auth:
            return {retry_action::fail, {}, "auth: credentials refused; retrying cannot help (terminal)"};
        case error_kind::hash_mismatch:
        case error_kind::binary_missing:
            if (previous_kind == kind)
                return {retry_action::fail, {}, fmt::format("{}: twice in a row; failed (terminal)", name)};
            if (attempts >= config_.max_attempts)  // a bound even when kinds alternate
                return {retry_action::fail,
                        {},
                        fmt::format("{}: giving up after {} attempts (max_attempts {})", name, attempts,
                                    config_.max_attempts)};
            return {retry_action::immediate_retry, std::chrono::milliseconds(0),
                    fmt::format("{}: one immediate retry", name)};
        case error_kind::local_file_vanished:
            return {retry_action::fail,
                    {},
                    "local_file_vanished: the run changed while shipping; failed (terminal)"};
        case error_kind::conflict:
            return {retry_action::fail,
                    {},
                    "conflict: the remote holds different content for this run; local data kept "
                    "untouched (terminal)"};
        case error_kind::misconfigured:
            return {retry_action::fail,
                    {},
                    "misconfigured: the receiver's settings refuse this request (no verdict on the run, "
                    "which stays in place); failed until the configuration is fixed and the job retried "
                    "(terminal)"};
        case error_kind::rejected:
            return {retry_action::quarantine, {}, "rejected: the receiver refuses this run; quarantined"};
    }
    return {retry_action::fail, {}, "unclassified error kind"};
}

}  // namespace labsync::engine
