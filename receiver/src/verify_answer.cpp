#include "labsync/receiver/verify_answer.hpp"

#include "labsync/receiver/request_rules.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace labsync::receiver {

verify_answer answer_verify(const verify_report& report, const std::error_code& ec, std::string_view where) {
    verify_answer a;
    if (ec) {
        a.status = 500;
        a.body = error_json("store_error", "cannot read the stored run");
        a.log_error = fmt::format("verify {}: {}", where, ec.message());
        return a;
    }
    switch (report.outcome) {
        case verify_outcome::cancelled:
            a.status = 503;
            a.body = error_json("shutting_down", "the receiver is stopping");
            return a;
        case verify_outcome::absent:
            a.status = 404;
            a.body = error_json("not_found", "no such run");
            return a;
        case verify_outcome::match: {
            a.status = 200;
            a.counted = true;
            nlohmann::json j{{"sha256", report.recorded.sha256},
                             {"bytes", report.recorded.bytes},
                             {"stored_at", report.recorded.stored_at},
                             {"verified", true}};
            a.body = j.dump() + "\n";
            return a;
        }
        case verify_outcome::mismatch:
            break;
    }
    // Never a 404: the run is there, damaged. 409: the stored bytes conflict with their record.
    a.status = 409;
    a.counted = true;
    a.mismatch = true;
    auto message = fmt::format(
        "stored bytes of {} no longer match their record: sha256 {} ({} bytes) on disk, {} ({} bytes) "
        "recorded",
        where, report.actual_sha256, report.actual_bytes, report.recorded.sha256, report.recorded.bytes);
    a.log_error = "verify " + message;
    nlohmann::json j{{"error", "stored_bytes_mismatch"},      {"message", message},
                     {"sha256", report.recorded.sha256},      {"bytes", report.recorded.bytes},
                     {"actual_sha256", report.actual_sha256}, {"actual_bytes", report.actual_bytes}};
    a.body = j.dump() + "\n";
    return a;
}

}  // namespace labsync::receiver
