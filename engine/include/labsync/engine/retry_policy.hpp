#pragma once
// The retry table of SPEC §7 as a pure class: given the error kind of a failed attempt and the
// job's history, what happens next. No I/O, no clock: the caller adds the delay to its own now.
//
//   kind                          action
//   network, unknown              backoff: delay = uniform[0, min(cap, base * 2^(attempts-1))]
//                                 ("full jitter"), until attempts reaches max_attempts -> fail
//   auth                          fail (retrying cannot fix credentials)
//   hash_mismatch, binary_missing one immediate retry; the same kind twice in a row -> fail
//                                 (and fail once attempts reaches max_attempts)
//   local_file_vanished           fail (the run changed under us; an operator must look)
//   conflict                      fail; the local run is left untouched for the operator
//   misconfigured                 fail; the run stays in place (411/413: a settings mismatch,
//                                 fixed by the operator, then `syncd retry`)
//   rejected                      quarantine: the run moves to quarantine/<equipment>/<run>
//   none                          programming error (std::invalid_argument)

#include "labsync/engine/engine_config.hpp"
#include "labsync/transports/error_kind.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>

namespace labsync::engine {

enum class retry_action { backoff, immediate_retry, fail, quarantine };

std::string_view to_string(retry_action action) noexcept;

struct retry_decision {
    retry_action action = retry_action::fail;
    std::chrono::milliseconds delay{0};  // for backoff (and 0 for immediate_retry)
    std::string reason;  // one line for the job's event, e.g. "network: attempt 3 of 10, retry in 1.8 s"
};

class retry_policy {
public:
    // random_unit returns a value in [0, 1); injected so tests pin the jitter.
    retry_policy(backoff_config config, std::function<double()> random_unit);

    // attempts: transport attempts made so far INCLUDING the one that just failed (>= 1).
    // previous_kind: the error kind recorded before this attempt (the job's last_error_kind).
    retry_decision decide(transports::error_kind kind, int attempts,
                          std::optional<transports::error_kind> previous_kind) const;

    // The upper bound of the jittered delay after `attempts` failures: min(cap, base*2^(attempts-1)).
    std::chrono::milliseconds ceiling(int attempts) const noexcept;

    const backoff_config& config() const noexcept { return config_; }

private:
    backoff_config config_;
    std::function<double()> random_unit_;
};

}  // namespace labsync::engine
