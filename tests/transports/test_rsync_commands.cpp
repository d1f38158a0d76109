// The pure half of rsync_ssh: quoting, remote commands, marker and progress parsing.
#include "labsync/transports/rsync_ssh_commands.hpp"
#include "labsync/verifier/manifest_builder.hpp"

#include "process.hpp"
#include "temp_dir.hpp"

#include <algorithm>

#include <catch2/catch.hpp>

using namespace labsync::transports;

TEST_CASE("shell_quote survives a real shell", "[rsync][commands]") {
    const std::string nasty = "it's a \"dir\" with $HOME `x` \\ and ;|&";
    CHECK(shell_quote("abc") == "'abc'");
    CHECK(shell_quote("it's") == "'it'\\''s'");
    auto r = labsync::test::run_process({"sh", "-c", "printf %s " + shell_quote(nasty)});
    CHECK(r.out == nasty);
}

TEST_CASE("rsync -e string: plain words, quoted spaces, quotes refused", "[rsync][commands]") {
    CHECK(rsync_rsh_string({"/usr/bin/ssh", "-p", "22"}) == "/usr/bin/ssh -p 22");
    CHECK(rsync_rsh_string({"ssh", "-i", "/a b/key"}) == "ssh -i '/a b/key'");
    CHECK_FALSE(rsync_rsh_string({"ssh", "-i", "/a'b"}).has_value());
}

TEST_CASE("ssh argv pins batch mode, key, port, known_hosts and the master socket", "[rsync][commands]") {
    rsync_ssh_config c;
    c.host = "nas";
    c.port = 2222;
    c.user = "lab";
    c.identity_file = "/k/id";
    c.known_hosts = "/k/known";
    auto argv = ssh_base_argv(c, "/usr/bin/ssh", "/tmp/cm");
    auto has = [&](const std::string& v) { return std::find(argv.begin(), argv.end(), v) != argv.end(); };
    CHECK(argv.front() == "/usr/bin/ssh");
    CHECK(has("BatchMode=yes"));
    CHECK(has("StrictHostKeyChecking=yes"));
    CHECK(has("UserKnownHostsFile=/k/known"));
    CHECK(has("ControlPath=/tmp/cm/%C"));
    CHECK(has("ControlMaster=auto"));
    CHECK(has("/k/id"));
    CHECK(has("2222"));
    CHECK(argv[argv.size() - 3] == "-l");
    CHECK(argv.back() == "nas");
    CHECK(ssh_options_argv(c, "ssh", "/tmp/cm").size() + 3 == argv.size());
}

TEST_CASE("remote paths and commands", "[rsync][commands]") {
    auto p = make_remote_paths("/data/labs/", "scope-1", "run-7", "abc");
    CHECK(p.equipment_dir == "/data/labs/scope-1");
    CHECK(p.final_dir == "/data/labs/scope-1/run-7");
    CHECK(p.staging_root == "/data/labs/scope-1/.labsync-staging");
    CHECK(p.staging_dir == "/data/labs/scope-1/.labsync-staging/run-7.abc");
    const auto prep = rsync_path_command(p, "run-7");
    CHECK(prep.find("mkdir -p -- '/data/labs/scope-1/.labsync-staging'") != std::string::npos);
    CHECK(prep.find("rm -rf -- '/data/labs/scope-1/.labsync-staging/run-7'.[0-9a-f][0-9a-f]") !=
          std::string::npos);
    CHECK(make_staging_nonce().size() == 16);
    // rsync appends its server arguments: the command ends with the function that execs it,
    // under a lock of the staging directory.
    CHECK(prep.substr(prep.size() - 3) == "; l");
    CHECK(prep.find("flock -w 60 '/data/labs/scope-1/.labsync-staging/run-7.abc' rsync \"$@\"") !=
          std::string::npos);
    // A restart of the same attempt (new bandwidth share) keeps its partial files.
    const auto resume = rsync_path_command(p, "run-7", true);
    CHECK(resume.find("rm -rf") == std::string::npos);
    CHECK(resume.find("labsync:exists") != std::string::npos);
    CHECK(rsync_bwlimit_arg(1) == "--bwlimit=1");
    CHECK(rsync_bwlimit_arg(1024 * 1024 + 1023) == "--bwlimit=1024");  // KiB/s, rounded down
    // Restarts: every decrease (the budget holds), increases of a quarter or more, never a no-op.
    CHECK_FALSE(rsync_restart_worth(0, 0));
    CHECK_FALSE(rsync_restart_worth(4096, 4096));
    CHECK(rsync_restart_worth(0, 4096));
    CHECK(rsync_restart_worth(4096, 0));
    CHECK(rsync_restart_worth(4096, 3072));
    CHECK(rsync_restart_worth(1 << 20, (1 << 20) - 1024));
    CHECK_FALSE(rsync_restart_worth(1 << 20, (1 << 20) + 1023));  // the same --bwlimit
    CHECK_FALSE(rsync_restart_worth(1 << 20, (1 << 20) * 5 / 4 - 1024));
    CHECK(rsync_restart_worth(1 << 20, (1 << 20) * 5 / 4));
    CHECK(rsync_restart_worth(1024, 2048));
    const auto fin = finalize_command(p, true);
    CHECK(fin.find("mv -T -- '/data/labs/scope-1/.labsync-staging/run-7.abc' '/data/labs/scope-1/run-7'") !=
          std::string::npos);
    // One syncfs of the staging copy's file system before the rename (not an fsync per file).
    CHECK(fin.find("sync -f -- '/data/labs/scope-1/.labsync-staging/run-7.abc' || exit 1; if mv -T") !=
          std::string::npos);
    CHECK(fin.find("-exec sync") == std::string::npos);
    CHECK(fin.find("sync -- '/data/labs/scope-1' ||") != std::string::npos);
    CHECK(finalize_command(p, false).find("sync -") == std::string::npos);
    CHECK(manifest_command("/d/x").find("LC_ALL=C sort -z") != std::string::npos);
    CHECK(manifest_command("/d/x").find("h='sha256sum --'") != std::string::npos);
}

TEST_CASE("remote commands behave in a real shell", "[rsync][commands]") {
    labsync::test::temp_dir dir;
    const std::string base = (dir / "dest dir").string();
    auto p = make_remote_paths(base, "eq", "run", make_staging_nonce());
    auto sh = [](const std::string& cmd) { return labsync::test::run_process({"sh", "-c", cmd}); };
    labsync::test::write_file(p.staging_root + "/run.0123456789abcdef/x", "stale");
    // Run `run.b` is another run in flight: its staging directory is not this run's to remove.
    labsync::test::write_file(p.staging_root + "/run.b.0123456789abcdef/x", "another run");
    auto r = sh(rsync_path_command(p, "run") + " --version");
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("rsync") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(p.staging_root + "/run.0123456789abcdef"));
    CHECK(std::filesystem::exists(p.staging_root + "/run.b.0123456789abcdef/x"));
    // A restart keeps what the interrupted transfer left in its staging directory.
    labsync::test::write_file(p.staging_dir + "/partial.bin", "half");
    r = sh(rsync_path_command(p, "run", true) + " --version");
    REQUIRE(r.exit_code == 0);
    CHECK(std::filesystem::exists(p.staging_dir + "/partial.bin"));
    std::filesystem::remove(p.staging_dir + "/partial.bin");
    labsync::test::write_file(p.staging_dir + "/sub/-a file", "hello\n");
    r = sh(finalize_command(p, true));
    auto m = split_marker(r.out);
    REQUIRE(m);
    CHECK(m->marker == "moved");
    m = split_marker(m->rest);  // the manifest of the final directory follows
    REQUIRE(m);
    CHECK(m->marker == "present");
    r = sh(rsync_path_command(p, "run") + " --version");
    CHECK(r.exit_code == 1);
    CHECK(r.err == "labsync:exists\n");
    r = sh(manifest_command(p.final_dir));
    m = split_marker(r.out);
    REQUIRE(m);
    CHECK(m->marker == "present");
    std::error_code ec;
    auto parsed = labsync::verifier::manifest::parse_sha256sum(m->rest, ec);
    REQUIRE_FALSE(ec);
    REQUIRE(parsed.entries().size() == 1);
    CHECK(parsed.entries()[0].path == "sub/-a file");
    CHECK(parsed.to_sha256sum() ==
          "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  sub/-a file\n");
    // A name the fast branch cannot print unambiguously takes the sha256sum branch.
    labsync::test::write_file(p.final_dir + "/back\\slash", "b");
    labsync::test::write_file(p.final_dir + "/new\nline", "n");
    r = sh(manifest_command(p.final_dir));
    m = split_marker(r.out);
    REQUIRE(m);
    parsed = labsync::verifier::manifest::parse_sha256sum(m->rest, ec);
    REQUIRE_FALSE(ec);
    REQUIRE(parsed.entries().size() == 3);
    CHECK(parsed.find("back\\slash"));
    CHECK(parsed.find("new\nline"));
    auto built = labsync::verifier::build_manifest(p.final_dir);
    REQUIRE(built.ok());
    CHECK(parsed.to_sha256sum() == built.manifest.to_sha256sum());
    labsync::test::write_file(p.staging_dir + "/y", "y");
    r = sh(finalize_command(p, false));
    CHECK(r.out == "labsync:exists\n");
    r = sh(manifest_command(base + "/nope"));
    CHECK(r.out == "labsync:absent\n");
}

TEST_CASE("split_marker needs the marker at a line start", "[rsync][commands]") {
    auto m = split_marker("Welcome!\nlabsync:present\nabc  x\n");
    REQUIRE(m);
    CHECK(m->marker == "present");
    CHECK(m->rest == "abc  x\n");
    CHECK(split_marker("labsync:moved")->marker == "moved");
    CHECK_FALSE(split_marker("xlabsync:moved\n"));
    CHECK_FALSE(split_marker(""));
}

TEST_CASE("progress2 lines are parsed, others ignored", "[rsync][commands]") {
    auto p = parse_progress2("      1,234,567  45%   10.00MB/s    0:00:01 (xfr#1, to-chk=0/3)");
    REQUIRE(p);
    CHECK(p->bytes == 1234567);
    CHECK(p->percent == 45);
    p = parse_progress2("0 100% 0.00kB/s 0:00:00");
    REQUIRE(p);
    CHECK(p->bytes == 0);
    CHECK(p->percent == 100);
    CHECK_FALSE(parse_progress2("sending incremental file list"));
    CHECK_FALSE(parse_progress2("a.bin"));
    CHECK_FALSE(parse_progress2("12 345%"));
    CHECK_FALSE(parse_progress2(""));
}

namespace {

// A directory of stand-ins put first on PATH: each logs its arguments, then runs the real tool.
std::string logging_path(const labsync::test::temp_dir& dir, const std::string& tool, const std::string& real,
                         const std::string& extra = "") {
    const auto bin = dir / "bin";
    labsync::test::write_file(bin / tool, "#!/bin/sh\n" + extra + "printf '%s\\n' \"$*\" >> '" +
                                              (dir / (tool + ".log")).string() + "'\nexec " + real +
                                              " \"$@\"\n");
    std::filesystem::permissions(bin / tool, std::filesystem::perms::owner_all);
    const char* path = std::getenv("PATH");
    return bin.string() + ":" + (path ? path : "/usr/bin:/bin");
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        out.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

}  // namespace

TEST_CASE("finalize: one sync -f of the staging file system before the rename, no fsync per file",
          "[rsync][commands]") {
    labsync::test::temp_dir dir;
    auto p = make_remote_paths((dir / "dest").string(), "eq", "run", make_staging_nonce());
    for (int i = 0; i < 50; ++i) labsync::test::write_file(p.staging_dir + "/d/f" + std::to_string(i), "x");
    // The stand-in records whether the staging directory still exists when it runs.
    const auto path = logging_path(dir, "sync", "/bin/sync",
                                   "[ -d " + shell_quote(p.staging_dir) + " ] && echo staged >> '" +
                                       (dir / "sync.log").string() + "'\n");
    labsync::test::process_options o;
    o.env["PATH"] = path;
    auto r = labsync::test::run_process({"sh", "-c", finalize_command(p, true)}, o);
    REQUIRE(r.exit_code == 0);
    CHECK(split_marker(r.out)->marker == "moved");
    const auto calls = lines_of(labsync::test::read_file(dir / "sync.log"));
    // Old: `find staging -exec sync -- {} +` named all 50 files and their directories.
    REQUIRE(calls.size() == 3);
    CHECK(calls[0] == "staged");
    CHECK(calls[1] == "-f -- " + p.staging_dir);
    CHECK(calls[2] == "-- " + p.equipment_dir);
}

TEST_CASE("manifest: hashed in parallel chunks, printed sorted exactly as one serial pass",
          "[rsync][commands]") {
    labsync::test::temp_dir dir;
    const auto run = dir / "run";
    // Names whose byte order differs from a locale's, spread over directories.
    for (int i = 0; i < 120; ++i) {
        const std::string n = std::to_string(i);
        labsync::test::write_file(run / ("d" + std::to_string(i % 7)) / (i % 2 ? "B" + n : "a " + n), n);
    }
    labsync::test::write_file(run / "-x", "dash");
    labsync::test::write_file(run / "Z", "");
    const auto path = logging_path(dir, "openssl", "/usr/bin/openssl");
    labsync::test::process_options o;
    o.env["PATH"] = path;
    auto r = labsync::test::run_process({"sh", "-c", manifest_command(run.string())}, o);
    REQUIRE(r.exit_code == 0);
    auto m = split_marker(r.out);
    REQUIRE(m);
    REQUIRE(m->marker == "present");
    auto serial = labsync::test::run_process(
        {"sh", "-c",
         "cd " + shell_quote(run.string()) +
             " && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 openssl dgst "
             "-sha256 -r"});
    REQUIRE(serial.exit_code == 0);
    CHECK(std::string(m->rest) == serial.out);
    // More than one hasher ran (two chunks per core); old: one openssl for all 122 files.
    const auto calls = lines_of(labsync::test::read_file(dir / "openssl.log"));
    CHECK(calls.size() >= 2);
    std::error_code ec;
    auto parsed = labsync::verifier::manifest::parse_sha256sum(m->rest, ec);
    REQUIRE_FALSE(ec);
    auto built = labsync::verifier::build_manifest(run);
    REQUIRE(built.ok());
    CHECK(parsed.to_sha256sum() == built.manifest.to_sha256sum());

    // A hasher failing on any chunk fails the whole command (no partial manifest passes).
    const auto failing =
        logging_path(dir, "openssl", "/usr/bin/openssl", "case \"$*\" in *d3/*) exit 1;; esac\n");
    o.env["PATH"] = failing;
    r = labsync::test::run_process({"sh", "-c", manifest_command(run.string())}, o);
    CHECK(r.exit_code != 0);
}
