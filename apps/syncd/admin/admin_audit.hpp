#pragma once
// The log line of an operator's admin action, in words and with its outcome (not the raw request):
//   admin: alice (uid 1000, pid 4242) retried eq1/run-7: job 7 is queued
//   admin: alice (uid 1000, pid 4242) override of eq1/run-7 refused: job 7 is verified, not blocked
//   (wrong_state)
// Reads (status, list, show) are not logged. Pure, for tests.

#include "admin/admin_protocol.hpp"
#include "daemon/outcome_log.hpp"

#include <optional>
#include <string>

namespace labsync::apps {

struct admin_actor {
    std::string user;
    unsigned uid = 0;
    int pid = 0;
};

// info when the action succeeded, warning when it was refused; nullopt for reads.
std::optional<log_line> admin_action_line(const admin_request& request, const admin_actor& actor,
                                          const admin_response& response);

}  // namespace labsync::apps
