#pragma once
// The daemon's logging (spdlog) to stderr in one of three shapes:
//   text     "2026-11-23T20:30:00.123Z info  scope-1/run-42 verified"   (a terminal)
//   journal  "<6>scope-1/run-42 verified"   (systemd: journald adds the time; <N> is the priority)
//   json     {"ts":"...","level":"info","msg":"...","equipment":"scope-1","run":"run-42",...}
//            (log shippers; the fields of common::log_fields that are set)
// `auto` picks journal when stderr is the journal stream systemd set up (JOURNAL_STREAM), else text.
// In journal shape each line goes to journald natively (sd_journal_sendv) with its fields as
// EQUIPMENT=, RUN=, JOB=, STATE=, BYTES=, KIND=; when journald does not take it, to stderr as above.

#include "daemon_config.hpp"
#include "labsync/common/log.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace spdlog {
class logger;
}

namespace labsync::apps {

log_format effective_log_format(log_format requested);

// Formats one line (without newline) in `format`; pure, for tests.
std::string format_log_line(log_format format, common::log_level level, std::string_view message,
                            std::chrono::system_clock::time_point at, const common::log_fields& fields = {});

// The journald fields of one line: MESSAGE=, PRIORITY=, SYSLOG_IDENTIFIER=syncd, then the set
// fields of `fields` (EQUIPMENT=, RUN=, JOB=, STATE=, BYTES=, KIND=). Pure, for tests.
std::vector<std::string> journal_fields(common::log_level level, std::string_view message,
                                        const common::log_fields& fields);

// The fields an engine line names by its "EQUIPMENT/RUN: ..." or "job N ..." prefix (empty when
// it has none): engine lines are plain text, these make them filterable too.
common::log_fields fields_from_message(std::string_view message);

std::shared_ptr<spdlog::logger> make_daemon_logger(log_format format, const std::string& level);
void set_logger_level(spdlog::logger& logger, const std::string& level);

// The injected logger (labsync/common/log.hpp) of the engine and the other modules, writing
// through `logger`.
common::log_fn engine_log_to(std::shared_ptr<spdlog::logger> logger);
// The same with fields (outcome lines, admin actions).
common::log_record_fn record_log_to(std::shared_ptr<spdlog::logger> logger);

}  // namespace labsync::apps
