// scripts/install.sh, checked as the service users it installs for: each service can read its own
// config (and only its own), the receiver starts under its user with the installed config, and
// `syncd config check` runs as labsync. Installs into a temporary DESTDIR with SET_OWNERS=1, so
// nothing under /etc or /usr changes except the two system users (created idempotently under the
// script's lock).
#include "process.hpp"
#include "receiver_fixture.hpp"
#include "skip.hpp"
#include "temp_dir.hpp"

#include <pwd.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>

using namespace labsync::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

run_result as_user(const std::string& user, std::vector<std::string> argv) {
    argv.insert(argv.begin(), {"runuser", "-u", user, "--"});
    return run_process(argv);
}

bool can_read(const std::string& user, const fs::path& file) {
    return as_user(user, {"test", "-r", file.string()}).exit_code == 0;
}

void give_to(const fs::path& file, const std::string& user) {
    const passwd* pw = ::getpwnam(user.c_str());
    REQUIRE(pw != nullptr);
    REQUIRE(::chown(file.c_str(), pw->pw_uid, pw->pw_gid) == 0);
}

}  // namespace

TEST_CASE("install.sh: each service user can read its own config and start with it", "[install]") {
    if (!running_as_root()) skip_test("install.sh creates system users and sets owners: needs root");
    if (run_process({"sh", "-c", "command -v runuser flock"}).exit_code != 0)
        skip_test("runuser or flock is not installed");
    temp_dir tmp;
    const fs::path root = tmp / "root";
    fs::create_directories(root);
    // The service users must traverse the staging root like they traverse /.
    fs::permissions(tmp.path(), fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
    fs::permissions(root, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
    const fs::path build = fs::path(LABSYNC_SYNCD).parent_path().parent_path().parent_path();
    process_options o;
    o.env = {{"DESTDIR", root.string()}, {"SET_OWNERS", "1"}};
    auto installed = run_process(
        {"bash", std::string(LABSYNC_TEST_SOURCE_DIR) + "/scripts/install.sh", build.string()}, o);
    INFO(installed.out << installed.err);
    REQUIRE(installed.exit_code == 0);

    const fs::path etc = root / "etc/labsync";
    CHECK(can_read("labsync", etc / "syncd.toml"));
    CHECK(can_read("labsync-receiver", etc / "receiver.toml"));
    CHECK_FALSE(can_read("labsync", etc / "receiver.toml"));
    CHECK_FALSE(can_read("labsync-receiver", etc / "syncd.toml"));
    CHECK(can_read("nobody", etc / "syncd.toml") == false);

    // Re-running (an upgrade) keeps all of that.
    REQUIRE(
        run_process({"bash", std::string(LABSYNC_TEST_SOURCE_DIR) + "/scripts/install.sh", build.string()}, o)
            .exit_code == 0);
    CHECK(can_read("labsync-receiver", etc / "receiver.toml"));

    // syncd reads its config as labsync: whatever the example's checks say, not "cannot read".
    const std::string syncd = (root / "usr/local/bin/syncd").string();
    auto check = as_user("labsync", {syncd, "config", "check", (etc / "syncd.toml").string()});
    INFO(check.out << check.err);
    CHECK((check.out + check.err).find("cannot read") == std::string::npos);
    // ...and another user is told why it cannot (the OS's reason, not only "could not open").
    auto denied = as_user("labsync-receiver", {syncd, "config", "check", (etc / "syncd.toml").string()});
    CHECK(denied.exit_code != 0);
    CHECK((denied.out + denied.err).find("cannot read: Permission denied") != std::string::npos);

    // The receiver starts as labsync-receiver with the installed receiver.toml; the secrets the
    // example points at are replaced by test ones the operator would have put in place.
    const test_pki pki = make_test_pki(tmp / "pki");
    fs::permissions(tmp / "pki", fs::perms::owner_all | fs::perms::others_exec);
    give_to(pki.server_key, "labsync-receiver");
    write_secret_file(etc / "receiver.tokens", "0123456789abcdef0123456789abcdef eq1\n");
    give_to(etc / "receiver.tokens", "labsync-receiver");
    const std::string receiver = (root / "usr/local/bin/syncd-receiver").string();
    child_process rx({"runuser", "-u", "labsync-receiver", "--", receiver, "--config",
                      (etc / "receiver.toml").string(), "--listen", "127.0.0.1:0", "--store",
                      (root / "srv/labsync/store").string(), "--tls-cert", pki.server_cert.string(),
                      "--tls-key", pki.server_key.string(), "--tokens", (etc / "receiver.tokens").string()});
    auto line = rx.wait_for_line("listening on", 20s);
    INFO(rx.stderr_text());
    CHECK(line.has_value());
    rx.stop(SIGTERM, 20s);

    // Under another user the same start fails and says why.
    auto refused = as_user("labsync", {receiver, "--config", (etc / "receiver.toml").string()});
    CHECK(refused.exit_code == 2);
    CHECK(refused.err.find("receiver.toml: cannot read: Permission denied") != std::string::npos);
}
