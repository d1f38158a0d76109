// The admin subcommands that act on jobs: `syncd list [--state S] [--equipment E] [--since T]
// [--limit N]`, `syncd enqueue PATH [--dry-run]`,
// `syncd retry RUN`, `syncd override RUN --why TEXT`, `syncd cancel RUN --why TEXT`,
// `syncd verify RUN`, `syncd show RUN`. RUN is EQUIPMENT/RUN, RUN, #JOB_ID or the run's path. Each has --json
// (the daemon's answer as is). The daemon records the calling user itself (SO_PEERCRED); --who (or the name
// behind sudo) only travels as a note.
#include "admin/admin_client.hpp"
#include "cli/commands.hpp"
#include "cli/since_arg.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>

namespace labsync::apps {
namespace {

using nlohmann::json;

struct admin_args {
    admin_target target;
    bool json = false;
    std::string state, path, run, who, why;
    std::string equipment, since;  // list
    std::size_t limit = 0;
    bool dry_run = false;
};

std::string text_or_dash(const json& j, const char* key) {
    return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "-";
}

void print_job(const json& job) {
    fmt::print("#{} {}/{} {} (attempts {}){}\n", job.value("id", 0), text_or_dash(job, "equipment"),
               text_or_dash(job, "run_id"), text_or_dash(job, "state"), job.value("attempts", 0),
               job.contains("last_error") && job["last_error"].is_string()
                   ? fmt::format(" last error [{}] {}", text_or_dash(job, "last_error_kind"),
                                 job["last_error"].get<std::string>())
                   : "");
}

// `syncd show`: the job, then its findings, then its events, one line each.
void print_show(const json& data) {
    const json job = data.value("job", json::object());
    print_job(job);
    fmt::print("  path     {}\n  created  {}\n  updated  {}\n", text_or_dash(job, "run_path"),
               text_or_dash(job, "created_at"), text_or_dash(job, "updated_at"));
    const json findings = data.value("findings", json::array());
    fmt::print("findings ({}):\n", findings.size());
    for (const json& f : findings)
        fmt::print("  {} {} {}: {}\n", text_or_dash(f, "severity"), text_or_dash(f, "code"),
                   f.value("path", std::string()).empty() ? "(run)" : f["path"].get<std::string>(),
                   text_or_dash(f, "message"));
    fmt::print("events:\n");
    for (const json& e : data.value("events", json::array()))
        fmt::print("  {}  {:<10} {} -> {}  by {}: {}\n", text_or_dash(e, "at"), text_or_dash(e, "kind"),
                   text_or_dash(e, "from"), text_or_dash(e, "to"), text_or_dash(e, "who"),
                   text_or_dash(e, "message"));
}

int finish(const admin_args& args, const admin_request& request,
           const std::function<void(const json&)>& print) {
    int code = exit_ok;
    auto response = call_daemon(args.target, request, code);
    if (!response || !response->ok) return code;
    if (args.json)
        fmt::print("{}\n", response->data.dump(2));
    else
        print(response->data);
    return exit_ok;
}

// A note for the record: the daemon knows the caller's uid, not who ran sudo.
std::string sudo_user() {
    const char* sudo = std::getenv("SUDO_USER");
    return sudo ? sudo : "";
}

admin_args& add(CLI::App& app, const char* name, const char* help, CLI::App*& out) {
    static std::map<std::string, admin_args> all;
    admin_args& args = all[name];
    out = app.add_subcommand(name, help);
    add_target_options(*out, args.target);
    out->add_flag("--json", args.json, "print the daemon's JSON answer");
    return args;
}

}  // namespace

void register_admin(CLI::App& app) {
    CLI::App* c = nullptr;

    admin_args& list = add(app, "list", "list jobs (newest first)", c);
    c->add_option("--state", list.state, "only jobs in this state")
        ->check(CLI::IsMember({"queued", "running", "awaiting_verify", "verified", "cleanup_eligible",
                               "cleaned", "failed", "blocked_by_validation"}));
    c->add_option("--equipment", list.equipment, "only this equipment's jobs");
    c->add_option("--since", list.since, "only jobs updated since: a span back (90m, 2h, 1d) or a UTC time");
    c->add_option("--limit", list.limit, "at most this many jobs (0: all)");
    c->callback([&list] {
        admin_request r{.op = admin_op::list};
        if (!list.state.empty()) r.state = queue::job_state_from_string(list.state);
        r.equipment = list.equipment;
        r.limit = list.limit;
        if (!list.since.empty()) {
            std::string why;
            auto since = parse_since(list.since, std::chrono::system_clock::now(), why);
            if (!since) throw CLI::ValidationError("--since", why);
            r.since_ms =
                std::chrono::duration_cast<std::chrono::milliseconds>(since->time_since_epoch()).count();
        }
        command_exit_code = finish(list, r, [](const json& data) {
            fmt::print("{:>6}  {:<16} {:<28} {:<22} {:>3}  {}\n", "ID", "EQUIPMENT", "RUN", "STATE", "ATT",
                       "LAST ERROR");
            for (const json& j : data.value("jobs", json::array()))
                fmt::print("{:>6}  {:<16} {:<28} {:<22} {:>3}  {}\n", j.value("id", 0),
                           text_or_dash(j, "equipment"), text_or_dash(j, "run_id"), text_or_dash(j, "state"),
                           j.value("attempts", 0), text_or_dash(j, "last_error"));
        });
    });

    admin_args& enqueue = add(app, "enqueue", "queue a run now (runs the pre-sync gate)", c);
    c->add_option("PATH", enqueue.path, "the run directory")->required();
    c->add_flag("--dry-run", enqueue.dry_run,
                "run the gate here and show what would ship (files, bytes); nothing is written, the daemon "
                "is not asked");
    c->callback([&enqueue] {
        std::error_code ec;
        auto abs = std::filesystem::absolute(enqueue.path, ec).lexically_normal();
        if (!abs.has_filename()) abs = abs.parent_path();
        if (enqueue.dry_run) {
            // --config (add_target_options) names the configuration whose gate and equipment apply.
            const std::string config =
                enqueue.target.config.empty() ? "/etc/labsync/syncd.toml" : enqueue.target.config;
            command_exit_code = enqueue_dry_run(abs, config, enqueue.json);
            return;
        }
        admin_request r{.op = admin_op::enqueue, .path = abs.string()};
        command_exit_code = finish(enqueue, r, [](const json& data) {
            fmt::print("job #{} {}{}\n", data.value("job_id", 0), data.value("state", std::string()),
                       data.value("already_known", false) ? " (already known)" : "");
            for (const json& f : data.value("findings", json::array()))
                fmt::print("  {} {}: {}\n", f.value("severity", std::string()),
                           f.value("code", std::string()), f.value("message", std::string()));
        });
    });

    auto run_command = [&app](const char* name, const char* help, admin_op op) -> admin_args& {
        CLI::App* sub = nullptr;
        admin_args& args = add(app, name, help, sub);
        sub->add_option("RUN", args.run, "EQUIPMENT/RUN, RUN, #JOB_ID or the run's path")->required();
        if (op != admin_op::verify)
            sub->add_option("--who", args.who,
                            "a name noted beside yours (the daemon records the calling user itself)");
        if (op == admin_op::override_block)
            sub->add_option("--why", args.why, "why the block is wrong")->required();
        if (op == admin_op::cancel) sub->add_option("--why", args.why, "why the job is dropped")->required();
        sub->callback([&args, op] {
            admin_request r{.op = op, .run = args.run, .who = args.who, .why = args.why};
            if (op != admin_op::verify && r.who.empty()) r.who = sudo_user();
            command_exit_code = finish(args, r, [](const json& data) {
                if (data.contains("job")) print_job(data["job"]);
            });
        });
        return args;
    };
    run_command("retry", "put a failed job back in the queue (attempts reset)", admin_op::retry);
    run_command("override", "release a job blocked by validation (recorded with who and why)",
                admin_op::override_block);
    run_command("cancel",
                "drop a queued or awaiting_verify job (it ends failed, kind cancelled; the run's files "
                "are not touched; `retry` queues it again)",
                admin_op::cancel);
    run_command("verify", "prove a verified run's remote copy again", admin_op::verify);

    admin_args& show = add(app, "show", "one job: its state, last error, gate findings and event history", c);
    c->add_option("RUN", show.run, "EQUIPMENT/RUN, RUN, #JOB_ID or the run's path")->required();
    c->callback([&show] {
        command_exit_code = finish(show, admin_request{.op = admin_op::show, .run = show.run}, print_show);
    });
}

}  // namespace labsync::apps
