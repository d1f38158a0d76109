#pragma once
// The answer to a verify request (GET /v1/runs/{eq}/{run}?verify=1, docs/protocol.md "Verify")
// from what the re-hash of the stored archive found. Pure, so every row is unit-tested; the
// session runs the re-hash on the disk pool and sends this.

#include "labsync/receiver/run_store.hpp"

#include <string>
#include <string_view>
#include <system_error>

namespace labsync::receiver {

struct verify_answer {
    int status = 0;
    std::string body;       // JSON, newline-terminated
    std::string log_error;  // non-empty: log this at error level (a damaged copy, a read error)
    bool counted = false;   // a re-hash happened: count it in /metrics
    bool mismatch = false;  // ... and its bytes no longer matched the record
};

// `where` is "equipment/run"; `ec` the store's read error, if any.
verify_answer answer_verify(const verify_report& report, const std::error_code& ec, std::string_view where);

}  // namespace labsync::receiver
