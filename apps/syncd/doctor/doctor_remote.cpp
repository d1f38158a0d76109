// The destination checks of `syncd doctor` (doctor_checks.hpp): http_put asks the receiver whether
// the equipment's own credentials may write that equipment, with http_put's client (no curl);
// rsync_ssh and rclone run their program through transports::run_subprocess.
#include "doctor/doctor_checks.hpp"

#include "labsync/transports/receiver_access.hpp"
#include "labsync/transports/subprocess.hpp"

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

// GCC 12 reports a false mismatched-new-delete on Asio's coroutine frames (GCC bug 109224).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace labsync::apps {
namespace {

std::string first_line(const std::string& text) {
    auto nl = text.find('\n');
    std::string line = text.substr(0, nl);
    return line.size() > 200 ? line.substr(0, 200) + "…" : line;
}

// One program run to completion with a deadline, on an event loop of its own.
transports::subprocess_result run_command(std::vector<std::string> argv, const std::string& equipment,
                                          std::chrono::milliseconds timeout) {
    transports::subprocess_options options;
    options.argv = std::move(argv);
    options.equipment = equipment;
    options.timeout = timeout;
    boost::asio::io_context io;
    transports::subprocess_result result;
    boost::asio::co_spawn(
        io, transports::run_subprocess(std::move(options)),
        [&](std::exception_ptr, transports::subprocess_result r) { result = std::move(r); });
    io.run();
    return result;
}

std::string failure_text(const transports::subprocess_result& r, const char* program) {
    if (!r.message.empty()) return r.message;
    if (!r.stderr_tail.empty()) return first_line(r.stderr_tail);
    return fmt::format("{} exited with {}", program, r.exit_code);
}

doctor_check check_http(const engine::equipment_config& eq, const doctor_options& options) {
    const auto& p = std::get<transports::http_put_config>(eq.transport);
    doctor_check c =
        make_check("destination", fmt::format("{} POST {}/v1/ping?equipment={}", eq.name, p.url, eq.name));
    auto answer = transports::ask_receiver_access(p, eq.name, options.network_timeout);
    auto [detail, hint] = explain_access(answer, eq.name, p);
    c.ok = answer.answered && answer.status / 100 == 2;
    c.detail = std::move(detail);
    c.hint = std::move(hint);
    return c;
}

doctor_check check_ssh(const engine::equipment_config& eq, const doctor_options& options) {
    const auto& p = std::get<transports::rsync_ssh_config>(eq.transport);
    std::string target = p.user.empty() ? p.host : p.user + "@" + p.host;
    doctor_check c = make_check("destination", fmt::format("{} ssh {}", eq.name, target));
    std::vector<std::string> argv{
        p.ssh_binary,
        "-o",
        "BatchMode=yes",
        "-o",
        fmt::format("ConnectTimeout={}", std::max<long>(1, options.network_timeout.count() / 1000)),
        "-p",
        std::to_string(p.port)};
    if (!p.identity_file.empty()) argv.insert(argv.end(), {"-i", p.identity_file.string()});
    if (!p.known_hosts.empty())
        argv.insert(argv.end(), {"-o", "UserKnownHostsFile=" + p.known_hosts.string()});
    argv.insert(argv.end(), {target, "true"});
    auto r = run_command(argv, eq.name, options.network_timeout + std::chrono::seconds(2));
    c.ok = r.success();
    c.detail = c.ok ? "BatchMode login works" : failure_text(r, "ssh");
    if (!c.ok)
        c.hint =
            "install the service user's public key on the remote and its host key in known_hosts "
            "(ssh-keyscan), then retry";
    return c;
}

doctor_check check_rclone(const engine::equipment_config& eq, const doctor_options& options) {
    const auto& p = std::get<transports::rclone_config>(eq.transport);
    doctor_check c = make_check("destination", fmt::format("{} rclone lsd {}", eq.name, p.remote));
    std::vector<std::string> argv{
        p.rclone_binary, "lsd", p.remote, "--contimeout",
        fmt::format("{}s", std::max<long>(1, options.network_timeout.count() / 1000))};
    if (!p.config_file.empty()) argv.insert(argv.end(), {"--config", p.config_file.string()});
    auto r = run_command(argv, eq.name, options.network_timeout * 3);
    c.ok = r.success();
    c.detail = c.ok ? "listing works" : failure_text(r, "rclone");
    if (!c.ok) c.hint = "check the remote with `rclone config show` and its credentials";
    return c;
}

}  // namespace

doctor_check check_destination(const engine::equipment_config& eq, const doctor_options& options) {
    switch (engine::kind_of(eq.transport)) {
        case engine::transport_kind::http_put:
            return check_http(eq, options);
        case engine::transport_kind::rsync_ssh:
            return check_ssh(eq, options);
        case engine::transport_kind::rclone:
            break;
    }
    return check_rclone(eq, options);
}

}  // namespace labsync::apps
