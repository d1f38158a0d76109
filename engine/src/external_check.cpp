#include "labsync/engine/external_check.hpp"

#include "labsync/transports/subprocess.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <exception>
#include <optional>

// GCC 12 false positive on Asio coroutine frames (GCC bug 109224), as in subprocess.cpp.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace asio = boost::asio;

namespace labsync::engine {
namespace {

// Per stream: stdout must hold the whole JSON answer; of stderr only the tail is quoted.
constexpr std::size_t max_output = 1u << 20;

gate_finding hard(std::string code, std::string message) {
    return {severity::hard, std::move(code), std::move(message), {}};
}

std::string tail(const std::string& text) {
    std::string t = text.size() > 300 ? "..." + text.substr(text.size() - 300) : text;
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
    return t.empty() ? "" : fmt::format("; stderr: {}", t);
}

}  // namespace

std::vector<gate_finding> interpret_external_run(const std::vector<std::string>& argv,
                                                 const external_run& run, std::chrono::milliseconds timeout) {
    const std::string program = argv.empty() ? std::string("<empty>") : argv.front();
    if (!run.started)
        return {hard("external_not_started",
                     fmt::format("validator '{}' could not be started: {}", program, run.start_error))};
    if (run.timed_out)
        return {hard("external_timeout",
                     fmt::format("validator '{}' did not finish within {} ms and was killed{}", program,
                                 timeout.count(), tail(run.err)))};
    if (run.signal != 0)
        return {hard("external_crashed", fmt::format("validator '{}' was killed by signal {} ({}){}", program,
                                                     run.signal, ::strsignal(run.signal), tail(run.err)))};
    nlohmann::json j;
    std::string not_json;
    if (run.out_truncated) {
        not_json = fmt::format("more than {} bytes", max_output);
    } else {
        try {
            j = nlohmann::json::parse(run.out);
        } catch (const nlohmann::json::exception& e) {
            // Not only parse_error: a number too large for a double ("9E999") is out_of_range, and
            // an escaping exception would take the gate (and its worker) down instead of blocking.
            not_json = e.what();
        }
    }
    if (!not_json.empty()) {
        if (run.exit_code != 0)
            return {hard("external_failed",
                         fmt::format("validator '{}' exited with status {} without JSON findings{}", program,
                                     run.exit_code, tail(run.err)))};
        return {hard("external_bad_output",
                     fmt::format("validator '{}' printed output that is not JSON: {}", program, not_json))};
    }
    const nlohmann::json* list = nullptr;
    if (j.is_array())
        list = &j;
    else if (j.is_object() && j.contains("findings") && j["findings"].is_array())
        list = &j["findings"];
    if (!list)
        return {hard("external_bad_output",
                     fmt::format("validator '{}' printed JSON without a \"findings\" array", program))};
    std::vector<gate_finding> out;
    std::size_t index = 0;
    for (const auto& item : *list) {
        const auto bad = [&](std::string_view why) {
            return hard("external_bad_output",
                        fmt::format("validator '{}': findings[{}] {}", program, index, why));
        };
        if (!item.is_object()) return {bad("is not an object")};
        const auto sev = item.find("severity");
        const auto code = item.find("code");
        if (sev == item.end() || !sev->is_string() || (*sev != "hard" && *sev != "soft"))
            return {bad("has no severity \"hard\" or \"soft\"")};
        if (code == item.end() || !code->is_string() || code->get<std::string>().empty())
            return {bad("has no non-empty string \"code\"")};
        gate_finding f;
        f.level = *sev == "hard" ? severity::hard : severity::soft;
        f.code = "external:" + code->get<std::string>();
        if (auto m = item.find("message"); m != item.end() && m->is_string())
            f.message = m->get<std::string>();
        if (auto p = item.find("path"); p != item.end() && p->is_string()) f.path = p->get<std::string>();
        out.push_back(std::move(f));
        ++index;
    }
    if (run.exit_code != 0 && !has_hard(out))
        out.push_back(hard("external_failed", fmt::format("validator '{}' exited with status {}{}", program,
                                                          run.exit_code, tail(run.err))));
    return out;
}

external_run run_external_command(const std::vector<std::string>& argv, const std::filesystem::path& run_path,
                                  std::chrono::milliseconds timeout) {
    external_run run;
    if (argv.empty()) {
        run.start_error = "empty argv";
        return run;
    }
    // The one launcher (transports::run_subprocess): own process group killed on timeout, an empty
    // signal mask and default dispositions whatever the daemon blocked (SIGTERM, SIGHUP) or
    // ignored, stdin from /dev/null. The validator keeps the daemon's environment.
    transports::subprocess_options options;
    options.argv = argv;
    options.argv.push_back(run_path.string());
    options.inherit_environment = true;
    options.timeout = timeout;
    options.capture_limit = max_output;
    // Blocking by contract (the gate runs on the CPU pool): a private io_context on this thread.
    asio::io_context io;
    std::optional<transports::subprocess_result> done;
    std::exception_ptr failure;
    asio::co_spawn(io, transports::run_subprocess(std::move(options)),
                   [&](std::exception_ptr e, transports::subprocess_result r) {
                       failure = e;
                       done = std::move(r);
                   });
    io.run();
    if (failure || !done) {
        run.start_error = "the launcher failed";
        if (failure) {
            try {
                std::rethrow_exception(failure);
            } catch (const std::exception& e) {
                run.start_error = e.what();
            } catch (...) {
            }
        }
        return run;
    }
    using outcome = transports::subprocess_result::outcome;
    switch (done->status) {
        case outcome::binary_missing:
        case outcome::spawn_failed:
            run.start_error = done->message;
            return run;
        case outcome::timed_out:
            run.started = true;
            run.timed_out = true;
            break;
        case outcome::signaled:
            run.started = true;
            run.signal = done->signal;
            break;
        case outcome::exited:
            run.started = true;
            run.exit_code = done->exit_code;
            break;
    }
    run.out = std::move(done->stdout_tail);
    run.out_truncated = done->stdout_truncated;
    run.err = std::move(done->stderr_tail);
    return run;
}

std::vector<gate_finding> run_external_check(const std::vector<std::string>& argv,
                                             const std::filesystem::path& run_path,
                                             std::chrono::milliseconds timeout) {
    return interpret_external_run(argv, run_external_command(argv, run_path, timeout), timeout);
}

}  // namespace labsync::engine
