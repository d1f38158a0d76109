// See logging.hpp.
#include "logging.hpp"

#include <fmt/format.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>
#include <nlohmann/json.hpp>

#include <sys/stat.h>
#include <unistd.h>
#include <cstdlib>
#include <mutex>

namespace labsync::apps {
namespace {

common::log_level from_spdlog(spdlog::level::level_enum l) {
    switch (l) {
        case spdlog::level::trace:
        case spdlog::level::debug:
            return common::log_level::debug;
        case spdlog::level::info:
            return common::log_level::info;
        case spdlog::level::warn:
            return common::log_level::warning;
        default:
            return common::log_level::error;
    }
}

// Writes each record as one line to stderr in the chosen shape.
class stderr_line_sink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    explicit stderr_line_sink(log_format format) : format_(format) {}

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        std::string line =
            format_log_line(format_, from_spdlog(msg.level),
                            std::string_view(msg.payload.data(), msg.payload.size()), msg.time);
        line += '\n';
        std::string_view data(line);
        while (!data.empty()) {
            ssize_t n = ::write(2, data.data(), data.size());
            if (n <= 0) return;
            data.remove_prefix(static_cast<std::size_t>(n));
        }
    }
    void flush_() override {}

private:
    log_format format_;
};

}  // namespace

log_format effective_log_format(log_format requested) {
    if (requested != log_format::auto_detect) return requested;
    // systemd sets JOURNAL_STREAM=<dev>:<ino> of the stream it connected; it only counts when
    // stderr is still that stream (not redirected by a wrapper script).
    const char* js = std::getenv("JOURNAL_STREAM");
    if (js) {
        unsigned long long dev = 0, ino = 0;
        struct stat st {};
        if (std::sscanf(js, "%llu:%llu", &dev, &ino) == 2 && ::fstat(2, &st) == 0 &&
            static_cast<unsigned long long>(st.st_dev) == dev &&
            static_cast<unsigned long long>(st.st_ino) == ino)
            return log_format::journal;
    }
    return log_format::text;
}

std::string format_log_line(log_format format, common::log_level level, std::string_view message,
                            std::chrono::system_clock::time_point at) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count();
    std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    auto ts = [&] {
        return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
    };
    std::string_view name = common::to_string(level);
    switch (format) {
        case log_format::journal: {
            // sd-daemon(3) priorities: 3 err, 4 warning, 6 info, 7 debug.
            int prio = level == common::log_level::error     ? 3
                       : level == common::log_level::warning ? 4
                       : level == common::log_level::info    ? 6
                                                             : 7;
            return fmt::format("<{}>{}", prio, message);
        }
        case log_format::json: {
            nlohmann::json j{{"ts", ts()}, {"level", name}, {"msg", std::string(message)}};
            return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        }
        case log_format::text:
        case log_format::auto_detect:
            break;
    }
    return fmt::format("{} {:<7} {}", ts(), name, message);
}

void set_logger_level(spdlog::logger& logger, const std::string& level) {
    logger.set_level(level == "debug"     ? spdlog::level::debug
                     : level == "warning" ? spdlog::level::warn
                     : level == "error"   ? spdlog::level::err
                                          : spdlog::level::info);
}

std::shared_ptr<spdlog::logger> make_daemon_logger(log_format format, const std::string& level) {
    auto sink = std::make_shared<stderr_line_sink>(effective_log_format(format));
    auto logger = std::make_shared<spdlog::logger>("syncd", sink);
    set_logger_level(*logger, level);
    logger->flush_on(spdlog::level::trace);
    return logger;
}

common::log_fn engine_log_to(std::shared_ptr<spdlog::logger> logger) {
    return [logger = std::move(logger)](common::log_level level, std::string_view message) {
        switch (level) {
            case common::log_level::debug:
                logger->debug("{}", message);
                break;
            case common::log_level::info:
                logger->info("{}", message);
                break;
            case common::log_level::warning:
                logger->warn("{}", message);
                break;
            case common::log_level::error:
                logger->error("{}", message);
                break;
        }
    };
}

}  // namespace labsync::apps
