// The allowed-transitions table (documented in state_machine.hpp; keep both in step).

#include "labsync/queue/state_machine.hpp"

#include <array>
#include <vector>

#include "labsync/queue/errc.hpp"

namespace labsync::queue {
namespace {

using s = job_state;

constexpr s from_queued[] = {s::running, s::failed, s::blocked_by_validation};
constexpr s from_running[] = {s::awaiting_verify, s::queued, s::failed};
constexpr s from_awaiting_verify[] = {s::verified, s::queued, s::failed};
constexpr s from_verified[] = {s::cleanup_eligible, s::awaiting_verify};
constexpr s from_cleanup_eligible[] = {s::cleaned, s::verified, s::awaiting_verify, s::failed};
constexpr s from_failed[] = {s::queued};
constexpr s from_blocked[] = {s::queued};

std::span<const job_state> table(job_state from) noexcept {
    switch (from) {
        case s::queued:
            return from_queued;
        case s::running:
            return from_running;
        case s::awaiting_verify:
            return from_awaiting_verify;
        case s::verified:
            return from_verified;
        case s::cleanup_eligible:
            return from_cleanup_eligible;
        case s::cleaned:
            return {};
        case s::failed:
            return from_failed;
        case s::blocked_by_validation:
            return from_blocked;
    }
    return {};
}

}  // namespace

bool state_machine::allowed(job_state from, job_state to) noexcept {
    for (auto next : table(from)) {
        if (next == to) return true;
    }
    return false;
}

std::error_code state_machine::check(job_state from, job_state to) noexcept {
    if (allowed(from, to)) return {};
    return make_error_code(errc::illegal_transition);
}

std::string state_machine::describe_refusal(job_state from, job_state to) {
    std::string text = "illegal transition ";
    text.append(to_string(from)).append(" -> ").append(to_string(to));
    auto next = table(from);
    if (next.empty()) {
        text.append(" (").append(to_string(from)).append(" is final)");
        return text;
    }
    text.append(" (allowed from ").append(to_string(from)).append(": ");
    for (std::size_t i = 0; i < next.size(); ++i) {
        if (i > 0) text.append(", ");
        text.append(to_string(next[i]));
    }
    text.append(")");
    return text;
}

std::span<const job_state> state_machine::successors(job_state from) noexcept {
    return table(from);
}

}  // namespace labsync::queue
