// See logging.hpp.
#include "logging.hpp"

#include <fmt/format.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>
#include <nlohmann/json.hpp>

#include "labsync/common/ids.hpp"

#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>
#include <charconv>
#include <cstdlib>
#include <mutex>

namespace labsync::apps {
namespace {

// sd-daemon(3) priorities: 3 err, 4 warning, 6 info, 7 debug.
int syslog_priority(common::log_level level) {
    return level == common::log_level::error     ? 3
           : level == common::log_level::warning ? 4
           : level == common::log_level::info    ? 6
                                                 : 7;
}

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

spdlog::level::level_enum to_spdlog(common::log_level level) {
    switch (level) {
        case common::log_level::debug:
            return spdlog::level::debug;
        case common::log_level::info:
            return spdlog::level::info;
        case common::log_level::warning:
            return spdlog::level::warn;
        case common::log_level::error:
            break;
    }
    return spdlog::level::err;
}

// The fields of the line being logged on this thread: spdlog's synchronous logger calls the sink
// on the caller's thread, inside log_with_fields().
thread_local const common::log_fields* current_fields = nullptr;

void log_with_fields(spdlog::logger& logger, common::log_level level, std::string_view message,
                     const common::log_fields& fields) {
    current_fields = &fields;
    logger.log(to_spdlog(level), "{}", message);
    current_fields = nullptr;
}

bool send_to_journal(const std::vector<std::string>& fields) {
    std::vector<iovec> iov;
    iov.reserve(fields.size());
    for (const auto& f : fields) iov.push_back({const_cast<char*>(f.data()), f.size()});
    return sd_journal_sendv(iov.data(), static_cast<int>(iov.size())) >= 0;
}

// Writes each record as one line to stderr in the chosen shape (journal: natively to journald).
class stderr_line_sink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    explicit stderr_line_sink(log_format format) : format_(format) {}

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        const std::string_view message(msg.payload.data(), msg.payload.size());
        const common::log_fields none;
        const common::log_fields& fields = current_fields ? *current_fields : none;
        const auto level = from_spdlog(msg.level);
        if (format_ == log_format::journal && send_to_journal(journal_fields(level, message, fields))) return;
        std::string line = format_log_line(format_, level, message, msg.time, fields);
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
                            std::chrono::system_clock::time_point at, const common::log_fields& fields) {
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
        case log_format::journal:
            return fmt::format("<{}>{}", syslog_priority(level), message);
        case log_format::json: {
            nlohmann::json j{{"ts", ts()}, {"level", name}, {"msg", std::string(message)}};
            if (!fields.equipment.empty()) j["equipment"] = fields.equipment;
            if (!fields.run.empty()) j["run"] = fields.run;
            if (fields.job) j["job"] = *fields.job;
            if (!fields.state.empty()) j["state"] = fields.state;
            if (fields.bytes) j["bytes"] = *fields.bytes;
            if (!fields.kind.empty()) j["kind"] = fields.kind;
            return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        }
        case log_format::text:
        case log_format::auto_detect:
            break;
    }
    return fmt::format("{} {:<7} {}", ts(), name, message);
}

std::vector<std::string> journal_fields(common::log_level level, std::string_view message,
                                        const common::log_fields& fields) {
    std::vector<std::string> out{fmt::format("MESSAGE={}", message),
                                 fmt::format("PRIORITY={}", syslog_priority(level)),
                                 "SYSLOG_IDENTIFIER=syncd"};
    if (!fields.equipment.empty()) out.push_back("EQUIPMENT=" + fields.equipment);
    if (!fields.run.empty()) out.push_back("RUN=" + fields.run);
    if (fields.job) out.push_back(fmt::format("JOB={}", *fields.job));
    if (!fields.state.empty()) out.push_back("STATE=" + fields.state);
    if (fields.bytes) out.push_back(fmt::format("BYTES={}", *fields.bytes));
    if (!fields.kind.empty()) out.push_back("KIND=" + fields.kind);
    return out;
}

common::log_fields fields_from_message(std::string_view message) {
    common::log_fields f;
    const auto end = message.find_first_of(": ");
    const auto head = message.substr(0, end);
    if (const auto slash = head.find('/'); slash != std::string_view::npos) {
        const auto equipment = head.substr(0, slash), run = head.substr(slash + 1);
        if (common::valid_equipment_id(equipment) && common::valid_run_id(run)) {
            f.equipment = std::string(equipment);
            f.run = std::string(run);
        }
    } else if (head == "job" && end != std::string_view::npos) {
        std::int64_t id = 0;
        const auto rest = message.substr(end + 1);
        const auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), id);
        if (ec == std::errc() && ptr != rest.data()) f.job = id;
    }
    return f;
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
        log_with_fields(*logger, level, message, fields_from_message(message));
    };
}

common::log_record_fn record_log_to(std::shared_ptr<spdlog::logger> logger) {
    return [logger = std::move(logger)](common::log_level level, std::string_view message,
                                        const common::log_fields& fields) {
        log_with_fields(*logger, level, message, fields);
    };
}

}  // namespace labsync::apps
