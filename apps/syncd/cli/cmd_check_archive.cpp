// `syncd check-archive FILE [--json]`: streams an archive made by `syncd pack` and checks every
// member against its embedded manifest. Exit 0 when it matches, 3 when the archive is corrupt or
// a member differs, 1 when the file cannot be read.
#include "cli/commands.hpp"

#include "labsync/verifier/archive_checker.hpp"
#include "labsync/verifier/errc.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>

namespace labsync::apps {
namespace {

struct check_args {
    std::string file;
    bool json = false;
};

bool is_verdict(std::error_code ec) {
    using verifier::errc;
    return ec == errc::archive_corrupt || ec == errc::member_mismatch || ec == errc::manifest_missing ||
           ec == errc::bad_manifest || ec == errc::unsafe_path;
}

int run_check(const check_args& args) {
    auto r = verifier::check_archive_file(args.file);
    if (args.json) {
        nlohmann::json j = {{"archive", args.file}, {"ok", r.ok()},         {"sha256", r.sha256},
                            {"bytes", r.bytes},     {"members", r.members}, {"files", r.files}};
        if (!r.ok())
            j["error"] = {{"code", r.error.message()}, {"path", r.error_path}, {"reason", r.error_reason}};
        fmt::print("{}\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    } else if (r.ok()) {
        fmt::print("ok\nsha256 {}\nbytes {}\nmembers {}\nfiles {}\n", r.sha256, r.bytes, r.members, r.files);
    }
    if (r.ok()) return exit_ok;
    fmt::print(stderr, "syncd check-archive: {}: {}{}{}\n", args.file, r.error.message(),
               r.error_path.empty() ? "" : ": '" + r.error_path + "'",
               r.error_reason.empty() ? "" : ": " + r.error_reason);
    return is_verdict(r.error) ? exit_mismatch : exit_failed;
}

}  // namespace

void register_check_archive(CLI::App& app) {
    auto args = std::make_shared<check_args>();
    auto* cmd =
        app.add_subcommand("check-archive", "Check every member of a syncd archive against its manifest");
    cmd->add_option("FILE", args->file, "archive (.tar.zst) made by syncd pack")->required();
    cmd->add_flag("--json", args->json, "print JSON {archive,ok,sha256,bytes,members,files,error}");
    cmd->callback([args] { command_exit_code = run_check(*args); });
}

}  // namespace labsync::apps
