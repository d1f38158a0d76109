// Argv and remote command construction for rsync_ssh (see rsync_ssh_commands.hpp).
#include "labsync/transports/rsync_ssh_commands.hpp"

#include "labsync/common/ids.hpp"

#include <fmt/format.h>
#include <algorithm>

#include <cctype>
#include <cstdint>
#include <random>

namespace labsync::transports {

std::string shell_quote(std::string_view text) {
    std::string out = "'";
    for (char c : text) {
        if (c == '\'')
            out += "'\\''";
        else
            out += c;
    }
    out += '\'';
    return out;
}

std::optional<std::string> rsync_rsh_string(const std::vector<std::string>& argv) {
    std::string out;
    for (const auto& arg : argv) {
        if (arg.find_first_of("'\"\\") != std::string::npos) return std::nullopt;
        if (!out.empty()) out += ' ';
        const bool plain = !arg.empty() && arg.find_first_of(" \t\n") == std::string::npos;
        out += plain ? arg : "'" + arg + "'";
    }
    return out;
}

std::vector<std::string> ssh_options_argv(const rsync_ssh_config& config, const std::string& ssh,
                                          const std::string& control_dir) {
    // -F /dev/null: no user or system ssh_config can change what the driver does.
    // ControlMaster=auto + ControlPersist: the first command opens a master connection that the
    // following ones (rsync's ssh included) reuse, so many runs pay one handshake.
    return {ssh,
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-i",
            config.identity_file.string(),
            "-p",
            std::to_string(config.port),
            "-o",
            "UserKnownHostsFile=" + config.known_hosts.string(),
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "ConnectTimeout=" + std::to_string(config.connect_timeout.count()),
            "-o",
            "ServerAliveInterval=15",
            "-o",
            "ServerAliveCountMax=4",
            "-o",
            "ControlMaster=auto",
            "-o",
            "ControlPath=" + control_dir + "/%C",
            "-o",
            "ControlPersist=" + std::to_string(config.control_persist.count())};
}

std::vector<std::string> ssh_base_argv(const rsync_ssh_config& config, const std::string& ssh,
                                       const std::string& control_dir) {
    auto argv = ssh_options_argv(config, ssh, control_dir);
    argv.insert(argv.end(), {"-l", config.user, config.host});
    return argv;
}

remote_paths make_remote_paths(std::string_view dest, std::string_view equipment, std::string_view run,
                               std::string_view nonce) {
    std::string base(dest);
    while (base.size() > 1 && base.back() == '/') base.pop_back();
    remote_paths p;
    p.equipment_dir = base + "/" + std::string(equipment);
    p.final_dir = p.equipment_dir + "/" + std::string(run);
    p.staging_root = p.equipment_dir + "/" + std::string(common::remote_staging_dir);
    p.staging_dir = p.staging_root + "/" + std::string(run) + "." + std::string(nonce);
    return p;
}

namespace {
const std::string nonce_glob = [] {
    std::string g;
    for (int i = 0; i < 16; ++i) g += "[0-9a-f]";
    return g;
}();
}  // namespace

std::string make_staging_nonce() {
    std::random_device rd;
    std::uint64_t v = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    return fmt::format("{:016x}", v);
}

std::string rsync_path_command(const remote_paths& paths, std::string_view run, bool resume) {
    // Runs on the remote in place of "rsync" (rsync appends "--server …"), so preparing the
    // staging area costs no extra round trip. An existing final directory stops the transfer
    // before any data moves; the marker on stderr tells the driver why. The glob part (a dot and
    // exactly the 16 hex digits of a nonce) stays outside the quotes, and matches only this run's
    // staging directories: run `a` must not remove run `a.b`'s. Run ids are validated; the quotes
    // are belt and braces.
    std::string cmd = "if [ -e " + shell_quote(paths.final_dir) +
                      " ]; then echo labsync:exists >&2; exit 1; fi; umask 022; ";
    if (!resume)
        cmd += "mkdir -p -- " + shell_quote(paths.staging_root) + " && rm -rf -- " +
               shell_quote(paths.staging_root + "/" + std::string(run)) + "." + nonce_glob + " && ";
    // The server rsync holds a lock on its staging directory (flock, where the remote has it)
    // until its last process is gone: a restarted transfer (resume) waits for the interrupted
    // one to finish keeping its partial file instead of racing it. rsync's arguments follow the
    // final "l", the function that execs it.
    const auto staging = shell_quote(paths.staging_dir);
    cmd += "mkdir -p -- " + staging +
           " && l() { if command -v flock >/dev/null 2>&1; then exec flock -w 60 " + staging +
           " rsync \"$@\"; fi; exec rsync \"$@\"; }; l";
    return cmd;
}

std::string rsync_bwlimit_arg(std::uint64_t bytes_per_second) {
    // rsync counts in KiB/s: round down (never above the share), but at least 1.
    return "--bwlimit=" + std::to_string(std::max<std::uint64_t>(1, bytes_per_second / 1024));
}

bool rsync_restart_worth(std::uint64_t running, std::uint64_t share) noexcept {
    if (running == share) return false;
    if (running == 0 || share == 0) return true;  // limit an unlimited rsync; lift a limit
    const std::uint64_t was = std::max<std::uint64_t>(1, running / 1024);
    const std::uint64_t now = std::max<std::uint64_t>(1, share / 1024);
    if (now == was) return false;
    return now < was || now >= was + (was + 3) / 4;
}

std::string finalize_command(const remote_paths& paths, bool sync) {
    // Durability before visibility: one syncfs(2) of the file system holding the staging copy
    // (`sync -f`, coreutils >= 8.24) makes every staged file and directory durable in one call
    // instead of an fsync per file; since Linux 5.8 it reports writeback errors of that file
    // system. Then rename, then fsync the directory holding the new name. mv -T is one
    // rename(2): the run appears complete or not at all. rename onto a non-empty directory
    // fails, which is how an existing run is detected without a race.
    std::string cmd;
    if (sync) cmd += "sync -f -- " + shell_quote(paths.staging_dir) + " || exit 1; ";
    cmd += "if mv -T -- " + shell_quote(paths.staging_dir) + " " + shell_quote(paths.final_dir) +
           " 2>/dev/null; then ";
    if (sync) cmd += "sync -- " + shell_quote(paths.equipment_dir) + " || exit 1; ";
    // The manifest of the run in its final place, in the same round trip: the first verification
    // needs no extra ssh command. It reads the files after they are durable.
    cmd += "echo labsync:moved; (" + manifest_command(paths.final_dir) + "); elif [ -e " +
           shell_quote(paths.final_dir) +
           " ]; then echo labsync:exists; else echo 'labsync: cannot move the staging directory into place' "
           ">&2; exit 1; fi";
    return cmd;
}

std::string manifest_command(std::string_view dir) {
    // OpenSSL's SHA-256 uses the CPU's SHA extensions (about 3.5x less CPU than coreutils'
    // sha256sum here); its -r output ("<hex> *./path") parses as sha256sum text. It does not
    // escape names, so a run holding a name with a backslash or a control character takes the
    // sha256sum branch, whose escaping the verifier's parser understands.
    //
    // Hashing runs on every core of the remote (nproc): the sorted file list is cut into two
    // chunks per core (few hasher processes: starting openssl costs more than hashing a small
    // file), `xargs -P` hashes the chunks in parallel, each into its own file, and the outputs
    // are printed in chunk order, so the manifest comes out sorted and identical to a serial
    // pass. Any hasher failure fails the command.
    return "cd -- " + shell_quote(dir) +
           " 2>/dev/null || { echo labsync:absent; exit 0; }; echo labsync:present; "
           "if command -v openssl >/dev/null 2>&1 && [ -z \"$(find . -type f \\( -name '*\\\\*' -o -name "
           "'*[[:cntrl:]]*' \\) -print -quit)\" ]; then f=-print0; h='openssl dgst -sha256 -r'; "
           "else f='-printf %P\\0'; h='sha256sum --'; fi; export h; "
           "t=$(mktemp -d) || exit 1; trap 'rm -rf -- \"$t\"' EXIT; mkdir \"$t/c\" \"$t/o\" || exit 1; "
           "find . -type f $f | LC_ALL=C sort -z >\"$t/l\" || exit 1; "
           "c=$(tr -cd '\\000' <\"$t/l\" | wc -c); [ \"$c\" -gt 0 ] || exit 0; "
           "n=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1); "
           "k=$(( (c + 2 * n - 1) / (2 * n) )); "
           "split -t '\\0' -l \"$k\" -a 6 \"$t/l\" \"$t/c/\" || exit 1; "
           "(cd \"$t/c\" && ls) | xargs -r -n 1 -P \"$n\" sh -c "
           "'xargs -0 -r $h <\"$0/c/$1\" >\"$0/o/$1\"' \"$t\" || exit 1; cat \"$t\"/o/*";
}

std::string remove_command(std::string_view dir) {
    return "rm -rf -- " + shell_quote(dir);
}

std::optional<marked_output> split_marker(std::string_view stdout_text) {
    constexpr std::string_view prefix = "labsync:";
    const std::size_t start = stdout_text.find(prefix);
    // A login banner or motd may precede our marker; it must start a line.
    if (start == std::string_view::npos || (start > 0 && stdout_text[start - 1] != '\n')) return std::nullopt;
    const std::size_t eol = stdout_text.find('\n', start);
    marked_output out;
    out.marker = std::string(stdout_text.substr(
        start + prefix.size(),
        (eol == std::string_view::npos ? stdout_text.size() : eol) - start - prefix.size()));
    out.rest = eol == std::string_view::npos ? std::string_view() : stdout_text.substr(eol + 1);
    return out;
}

std::optional<progress2_line> parse_progress2(std::string_view line) {
    std::size_t i = 0;
    while (i < line.size() && line[i] == ' ') ++i;
    progress2_line out;
    bool digits = false;
    for (; i < line.size() && (std::isdigit(static_cast<unsigned char>(line[i])) || line[i] == ','); ++i) {
        if (line[i] == ',') continue;
        out.bytes = out.bytes * 10 + static_cast<std::uint64_t>(line[i] - '0');
        digits = true;
    }
    if (!digits || i >= line.size() || line[i] != ' ') return std::nullopt;
    while (i < line.size() && line[i] == ' ') ++i;
    int percent = 0;
    bool pdigits = false;
    for (; i < line.size() && std::isdigit(static_cast<unsigned char>(line[i])); ++i) {
        percent = percent * 10 + (line[i] - '0');
        pdigits = true;
    }
    if (!pdigits || i >= line.size() || line[i] != '%' || percent > 100) return std::nullopt;
    out.percent = percent;
    return out;
}

}  // namespace labsync::transports
