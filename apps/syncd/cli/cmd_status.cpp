// `syncd status [--json] [--watch [--interval S]]`: per equipment counts, the jobs in flight with
// phase, bytes, rate and ETA, the jobs waiting for a retry and the runs that wait. --watch redraws
// every interval (progress bars on a terminal; with --json one document per line) and keeps
// going across a daemon restart ("reconnecting…") until interrupted.
#include "admin/admin_client.hpp"
#include "admin/admin_server.hpp"
#include "admin/status_view.hpp"
#include "cli/commands.hpp"

#include <fmt/format.h>

#include <sys/ioctl.h>
#include <unistd.h>
#include <cstdlib>
#include <thread>

namespace labsync::apps {
namespace {

struct status_args {
    admin_target target;
    bool json = false;
    bool watch = false;
    double interval = 1.0;
};

// COLUMNS (as shells export it), else the terminal's width, else 80.
int terminal_width() {
    if (const char* columns = std::getenv("COLUMNS"); columns && *columns) {
        char* end = nullptr;
        const long n = std::strtol(columns, &end, 10);
        if (*end == '\0' && n > 0 && n < 10'000) return static_cast<int>(n);
    }
    winsize ws{};
    if (::ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    return 80;
}

int run_status(const status_args& args) {
    const bool tty = ::isatty(1) != 0;
    std::string why;
    const auto socket = resolve_socket(args.target, why);
    if (!socket) {
        fmt::print(stderr, "{}", why);
        return exit_usage;
    }
    while (true) {
        auto response = admin_call(*socket, admin_request{.op = admin_op::status}, why);
        // Without --watch an unreachable daemon ends the command (4); with it, a restart or a
        // reload is waited out.
        std::string trouble;
        if (!response) {
            if (!args.watch) {
                fmt::print(stderr, "syncd: {}\n", why);
                return exit_unreachable;
            }
            trouble = fmt::format("reconnecting… (syncd: {})", why);
        } else if (!response->ok) {
            if (!args.watch || response->error != "unavailable") {
                fmt::print(stderr, "syncd status: {} ({})\n", response->message, response->error);
                return response->error == "bad_request" ? exit_usage : exit_failed;
            }
            trouble = fmt::format("reconnecting… (syncd: {})", response->message);
        }
        if (!trouble.empty()) {
            if (args.json) {
                fmt::print(stderr, "{}\n", trouble);
            } else {
                if (tty) fmt::print("\x1b[H\x1b[2J");
                fmt::print("{}\n", fit_width(trouble, terminal_width()));
            }
        } else if (args.json) {
            fmt::print("{}\n", args.watch ? response->data.dump() : response->data.dump(2));
        } else {
            std::string text = render_status_text(response->data, {.bars = tty, .width = terminal_width()});
            if (args.watch && tty) fmt::print("\x1b[H\x1b[2J");
            fmt::print("{}", text);
        }
        std::fflush(stdout);
        if (!args.watch) return exit_ok;
        // A refresh interval, not a wait for an event: the operator asked for a redraw rate.
        std::this_thread::sleep_for(std::chrono::duration<double>(args.interval));
    }
}

}  // namespace

void register_status(CLI::App& app) {
    static status_args args;
    auto* c = app.add_subcommand("status", "per equipment job counts and the jobs in flight");
    add_target_options(*c, args.target);
    c->add_flag("--json", args.json, "stable JSON (see docs/operations.md)");
    c->add_flag("--watch,-w", args.watch, "redraw until interrupted (waits out daemon restarts)");
    c->add_option("--interval", args.interval, "seconds between redraws with --watch")
        ->check(CLI::Range(0.1, 3600.0));
    c->callback([] { command_exit_code = run_status(args); });
}

}  // namespace labsync::apps
