#pragma once
// A private sshd on a free loopback port for the rsync_ssh and rclone (sftp) tests: generated
// host key, a dedicated unprivileged user (labsync-test, or $LABSYNC_TEST_SSH_USER; not root, whose
// shell init on this image is slow), a generated client key authorised through a file in the
// fixture's temp dir, and a known_hosts file for the client. Stopped by PID when it dies.
// Needs root (sshd switches to the test user): otherwise the test is reported skipped.
//
// The user is created once, before any test that logs in as it, by the ctest fixture
// "setup: ssh test user" (tests/support/ssh_user_setup.cpp). ensure_ssh_test_user() is also safe
// when test executables are run by hand and concurrently: it holds an flock while it looks the
// user up and creates it, because two concurrent useradd calls both pass their "exists?" check and
// the second rewrites the entry with a new uid, after the first caller chowned its directories.

#include "process.hpp"
#include "temp_dir.hpp"

#include <filesystem>
#include <memory>
#include <string>

namespace labsync::test {

// The test user's name: $LABSYNC_TEST_SSH_USER when set (e.g. a throwaway name), else labsync-test.
std::string ssh_test_user();

struct ssh_test_user_ids {
    unsigned uid = 0;
    unsigned gid = 0;
};
// Creates the user `name` if missing (race-free, see above) and makes it able to log in with a
// key; throws std::runtime_error naming what failed.
ssh_test_user_ids ensure_ssh_test_user(const std::string& name = ssh_test_user());

class sshd_fixture {
public:
    sshd_fixture();  // throws std::runtime_error saying what failed
    ~sshd_fixture();
    sshd_fixture(const sshd_fixture&) = delete;
    sshd_fixture& operator=(const sshd_fixture&) = delete;

    std::string host() const { return "127.0.0.1"; }
    int port() const noexcept { return port_; }
    std::string user() const { return user_; }
    const std::filesystem::path& client_key() const noexcept { return client_key_; }  // authorised
    const std::filesystem::path& other_key() const noexcept { return other_key_; }    // not authorised
    const std::filesystem::path& known_hosts() const noexcept { return known_hosts_; }
    // A known_hosts file holding a different key for the same host:port.
    const std::filesystem::path& wrong_known_hosts() const noexcept { return wrong_known_hosts_; }
    const std::filesystem::path& dir() const noexcept { return dir_.path(); }

    // A fresh empty directory owned by the test user (a destination root).
    std::filesystem::path make_dest(const std::string& name) const;
    // Runs a shell command on the server as the test user (over ssh); throws when it fails.
    std::string remote_shell(const std::string& command) const;

private:
    temp_dir dir_;
    std::string user_;
    int port_ = 0;
    unsigned uid_ = 0;
    unsigned gid_ = 0;
    std::filesystem::path client_key_;
    std::filesystem::path other_key_;
    std::filesystem::path known_hosts_;
    std::filesystem::path wrong_known_hosts_;
    std::unique_ptr<child_process> sshd_;
};

// One server per test executable (starting sshd and generating keys costs ~100 ms).
sshd_fixture& shared_sshd();

}  // namespace labsync::test
