#pragma once
// The daemon's logging (spdlog) to stderr in one of three shapes:
//   text     "2026-11-23T20:30:00.123Z info  scope-1/run-42 verified"   (a terminal)
//   journal  "<6>scope-1/run-42 verified"   (systemd: journald adds the time; <N> is the priority)
//   json     {"ts":"...","level":"info","msg":"..."}   (log shippers)
// `auto` picks journal when stderr is the journal stream systemd set up (JOURNAL_STREAM), else text.

#include "daemon_config.hpp"
#include "labsync/common/log.hpp"

#include <memory>
#include <string>

namespace spdlog {
class logger;
}

namespace labsync::apps {

log_format effective_log_format(log_format requested);

// Formats one line (without newline) in `format`; pure, for tests.
std::string format_log_line(log_format format, common::log_level level, std::string_view message,
                            std::chrono::system_clock::time_point at);

std::shared_ptr<spdlog::logger> make_daemon_logger(log_format format, const std::string& level);
void set_logger_level(spdlog::logger& logger, const std::string& level);

// The injected logger (labsync/common/log.hpp) of the engine and the other modules, writing
// through `logger`.
common::log_fn engine_log_to(std::shared_ptr<spdlog::logger> logger);

}  // namespace labsync::apps
