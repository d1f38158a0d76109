// `syncd manifest RUN_DIR [--json]`: prints the manifest of a run. The text form is exactly what
// `cd RUN_DIR && find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 sha256sum` prints,
// so an operator can check a run by hand on any host with coreutils.
#include "cli/commands.hpp"

#include "labsync/verifier/errc.hpp"
#include "labsync/verifier/manifest_builder.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

namespace labsync::apps {
namespace {

struct manifest_args {
    std::string run_dir;
    bool json = false;
    bool allow_findings = false;
    unsigned threads = 0;
};

// Paths on stderr stay on one line whatever bytes they hold.
std::string printable(std::string_view path) {
    std::string out;
    for (unsigned char c : path) {
        if (c < 0x20 || c == 0x7f || c == '\\')
            out += fmt::format("\\x{:02x}", c);
        else
            out.push_back(static_cast<char>(c));
    }
    return out;
}

bool write_all(std::string_view data) {
    return std::fwrite(data.data(), 1, data.size(), stdout) == data.size();
}

// The text form goes out in 64 KiB pieces: a million-file manifest is not held twice.
bool write_manifest(const verifier::manifest& m, bool json) {
    if (json) {
        if (!write_all(m.to_json()) || !write_all("\n")) return false;
    } else {
        std::string chunk;
        chunk.reserve(1u << 16);
        for (const auto& e : m.entries()) {
            verifier::append_sha256sum_line(chunk, e);
            if (chunk.size() >= (1u << 16) - 4096) {
                if (!write_all(chunk)) return false;
                chunk.clear();
            }
        }
        if (!write_all(chunk)) return false;
    }
    return std::fflush(stdout) == 0;
}

int run_manifest(const manifest_args& args) {
    verifier::build_options options;
    options.threads = args.threads;
    auto result = verifier::build_manifest(args.run_dir, options);
    if (!result.ok()) {
        std::string where = result.error_path.empty() ? args.run_dir : args.run_dir + "/" + result.error_path;
        fmt::print(stderr, "syncd manifest: {}: {}\n", printable(where), result.error.message());
        bool bad_argument =
            result.error_path.empty() && (result.error == verifier::errc::not_a_directory ||
                                          result.error == std::errc::no_such_file_or_directory);
        return bad_argument ? exit_usage : exit_failed;
    }
    if (!write_manifest(result.manifest, args.json)) {
        fmt::print(stderr, "syncd manifest: cannot write to stdout: {}\n", std::strerror(errno));
        return exit_failed;
    }
    for (const auto& f : result.findings)
        fmt::print(stderr, "finding: {} '{}': {}\n", verifier::to_string(f.kind), printable(f.path),
                   f.message);
    // Findings mean the manifest does not cover everything in the run directory: the run cannot
    // be shipped as it is, so a script must not mistake this for success unless it asks to.
    if (!result.findings.empty() && !args.allow_findings) return exit_failed;
    return exit_ok;
}

}  // namespace

void register_manifest(CLI::App& app) {
    auto args = std::make_shared<manifest_args>();
    auto* cmd = app.add_subcommand("manifest", "Print the sha256sum manifest of a run directory");
    cmd->add_option("RUN_DIR", args->run_dir, "run directory")->required();
    cmd->add_flag("--json", args->json, "print JSON ({files:[{path,size,sha256}],total_bytes,digest})");
    cmd->add_flag("--allow-findings", args->allow_findings,
                  "exit 0 even when symlinks, special or unreadable files were found (they are still "
                  "reported on stderr)");
    cmd->add_option("--threads", args->threads, "hashing threads (default: number of CPUs)");
    cmd->callback([args] { command_exit_code = run_manifest(*args); });
}

}  // namespace labsync::apps
