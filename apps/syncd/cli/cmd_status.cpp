// `syncd status [--json] [--watch [--interval S]]`: per equipment counts and the jobs in flight
// with bytes, rate and ETA. --watch redraws every interval (progress bars on a terminal; with
// --json one document per line).
#include "admin/admin_client.hpp"
#include "admin/status_view.hpp"
#include "cli/commands.hpp"

#include <fmt/format.h>

#include <sys/ioctl.h>
#include <unistd.h>
#include <thread>

namespace labsync::apps {
namespace {

struct status_args {
    admin_target target;
    bool json = false;
    bool watch = false;
    double interval = 1.0;
};

int terminal_width() {
    winsize ws{};
    if (::ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    return 80;
}

int run_status(const status_args& args) {
    bool tty = ::isatty(1) != 0;
    while (true) {
        int code = exit_ok;
        auto response = call_daemon(args.target, admin_request{.op = admin_op::status}, code);
        if (!response || !response->ok) return code;
        if (args.json) {
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
    c->add_flag("--watch,-w", args.watch, "redraw until interrupted");
    c->add_option("--interval", args.interval, "seconds between redraws with --watch")
        ->check(CLI::Range(0.1, 3600.0));
    c->callback([] { command_exit_code = run_status(args); });
}

}  // namespace labsync::apps
