// `syncd pack RUN_DIR OUT.tar.zst [--level N|adaptive] [--threads N] [--json]`: archives a run as one
// deterministic tar+zstd file with its manifest as the last member, and prints the archive's
// sha256, size and file count. Symlinks and special files are not archived: they are listed on
// stderr and make the command fail unless --allow-findings is given (as `syncd manifest`).
#include "cli/commands.hpp"

#include "labsync/verifier/archive_writer.hpp"
#include "labsync/verifier/errc.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <memory>
#include <string>

namespace labsync::apps {
namespace {

struct pack_args {
    std::string run_dir;
    std::string out;
    std::string level = "3";
    unsigned threads = 2;
    bool json = false;
    bool allow_findings = false;
};

std::string printable(std::string_view text) {
    std::string out;
    for (unsigned char c : text) {
        if (c < 0x20 || c == 0x7f || c == '\\')
            out += fmt::format("\\x{:02x}", c);
        else
            out.push_back(static_cast<char>(c));
    }
    return out;
}

int run_pack(const pack_args& args) {
    verifier::pack_options options;
    options.level = *verifier::parse_zstd_level(args.level);
    options.threads = args.threads;
    auto result = verifier::pack_run(args.run_dir, args.out, options);
    for (const auto& f : result.findings)
        fmt::print(stderr, "finding: {} '{}': {}\n", verifier::to_string(f.kind), printable(f.path),
                   f.message);
    if (!result.ok()) {
        fmt::print(stderr, "syncd pack: {}\n", printable(result.error_message));
        bool bad_argument =
            result.error_path.empty() && (result.error == verifier::errc::not_a_directory ||
                                          result.error == std::errc::no_such_file_or_directory);
        return bad_argument ? exit_usage : exit_failed;
    }
    if (args.json) {
        nlohmann::json j = {{"archive", args.out},
                            {"sha256", result.sha256},
                            {"bytes", result.compressed_bytes},
                            {"files", result.file_count},
                            {"input_bytes", result.input_bytes},
                            {"manifest_digest", verifier::to_hex(result.manifest.digest())},
                            {"findings", result.findings.size()}};
        fmt::print("{}\n", j.dump());
    } else {
        fmt::print("sha256 {}\nbytes {}\nfiles {}\ninput_bytes {}\n", result.sha256, result.compressed_bytes,
                   result.file_count, result.input_bytes);
    }
    if (std::fflush(stdout) != 0) return exit_failed;
    // The archive does not hold everything the run directory holds: a script must not take that
    // for success unless it asks to.
    if (!result.findings.empty() && !args.allow_findings) return exit_failed;
    return exit_ok;
}

}  // namespace

void register_pack(CLI::App& app) {
    auto args = std::make_shared<pack_args>();
    auto* cmd = app.add_subcommand("pack", "Archive a run as tar+zstd with its manifest as the last member");
    cmd->add_option("RUN_DIR", args->run_dir, "run directory")->required();
    cmd->add_option("OUT", args->out, "archive to write (OUT.partial while writing)")->required();
    cmd->add_option("--level", args->level, "zstd level 1..19 (default 3), 0 = store, or adaptive")
        ->check([](const std::string& s) {
            return verifier::parse_zstd_level(s) ? std::string() : "expected 0..19 or adaptive, got " + s;
        });
    cmd->add_option("--threads", args->threads, "zstd worker threads (default 2, 0 = none)");
    cmd->add_flag("--json", args->json, "print JSON {archive,sha256,bytes,files,input_bytes,...}");
    cmd->add_flag("--allow-findings", args->allow_findings,
                  "exit 0 even when symlinks, special or unreadable files were left out");
    cmd->callback([args] { command_exit_code = run_pack(*args); });
}

}  // namespace labsync::apps
