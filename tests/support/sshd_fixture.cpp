#include "sshd_fixture.hpp"

#include "skip.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <shadow.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <thread>

namespace fs = std::filesystem;

namespace labsync::test {
namespace {

void must(const run_result& r, const std::string& what) {
    if (r.exit_code != 0)
        throw std::runtime_error(what + " failed (exit " + std::to_string(r.exit_code) + "): " + r.err);
}

// Serialises user creation between processes: the lock is released when the fd closes.
struct user_lock {
    int fd = -1;
    user_lock() {
        fd = ::open("/tmp/labsync-test-users.lock", O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0 || ::flock(fd, LOCK_EX) != 0)
            throw std::runtime_error("cannot lock /tmp/labsync-test-users.lock: " +
                                     std::string(std::strerror(errno)));
    }
    ~user_lock() { ::close(fd); }
    user_lock(const user_lock&) = delete;
    user_lock& operator=(const user_lock&) = delete;
};

void keygen(const fs::path& path) {
    must(run_process(
             {"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "labsync-test", "-f", path.string()}),
         "ssh-keygen " + path.string());
}

bool port_accepts(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

std::string first_line(const std::string& text) {
    return text.substr(0, text.find('\n'));
}

}  // namespace

std::string ssh_test_user() {
    const char* name = std::getenv("LABSYNC_TEST_SSH_USER");
    return name != nullptr && *name != '\0' ? name : "labsync-test";
}

ssh_test_user_ids ensure_ssh_test_user(const std::string& name) {
    const user_lock lock;
    if (::getpwnam(name.c_str()) == nullptr)
        must(run_process({"useradd", "-m", "-s", "/bin/sh", name}), "useradd " + name);
    const passwd* pw = ::getpwnam(name.c_str());
    if (pw == nullptr) throw std::runtime_error("user " + name + " missing right after useradd");
    const ssh_test_user_ids ids{pw->pw_uid, pw->pw_gid};
    // A "!" password marks the account locked, and sshd without PAM refuses locked accounts even
    // for public keys; "*" means "no password" without locking.
    const spwd* sp = ::getspnam(name.c_str());
    if (sp == nullptr || std::string_view(sp->sp_pwdp) != "*")
        must(run_process({"usermod", "-p", "*", name}), "usermod -p '*' " + name);
    return ids;
}

sshd_fixture::sshd_fixture() : user_(ssh_test_user()) {
    if (!running_as_root()) skip_test("the private sshd needs root (it switches to the user " + user_ + ")");
    const ssh_test_user_ids ids = ensure_ssh_test_user();
    uid_ = ids.uid;
    gid_ = ids.gid;
    // mkdtemp makes the dir 0700; the test user must traverse it to reach its destinations, and
    // sshd reads authorized_keys as that user.
    fs::permissions(dir(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                               fs::perms::others_read | fs::perms::others_exec);
    fs::create_directories("/run/sshd");  // sshd's privilege separation directory

    const fs::path host_key = dir() / "host_ed25519";
    const fs::path wrong_host_key = dir() / "wrong_host_ed25519";
    client_key_ = dir() / "client_ed25519";
    other_key_ = dir() / "other_ed25519";
    keygen(host_key);
    keygen(wrong_host_key);
    keygen(client_key_);
    keygen(other_key_);
    write_file(dir() / "authorized_keys", read_file(client_key_.string() + ".pub"));
    fs::permissions(dir() / "authorized_keys", fs::perms::owner_read | fs::perms::owner_write |
                                                   fs::perms::group_read | fs::perms::others_read);

    for (int attempt = 0; attempt < 5 && !sshd_; ++attempt) {
        const int port = free_tcp_port();
        const fs::path conf = dir() / "sshd_config";
        write_file(conf, "Port " + std::to_string(port) +
                             "\nListenAddress 127.0.0.1\n"
                             "HostKey " +
                             host_key.string() +
                             "\n"
                             "PidFile none\n"
                             "AuthorizedKeysFile " +
                             (dir() / "authorized_keys").string() +
                             "\n"
                             "StrictModes no\nUsePAM no\nPasswordAuthentication no\n"
                             "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
                             "AllowUsers " +
                             user_ +
                             "\n"
                             "MaxStartups 200:30:400\nMaxSessions 200\nUseDNS no\nPrintMotd no\n"
                             "Subsystem sftp internal-sftp\nLogLevel INFO\n");
        auto server = std::make_unique<child_process>(
            std::vector<std::string>{"/usr/sbin/sshd", "-D", "-e", "-f", conf.string()});
        // sshd cannot take port 0 and prints nothing on stdout; poll the port until it accepts
        // or sshd dies (lost the bind race to someone else).
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        bool up = false;
        for (auto delay = std::chrono::milliseconds(2); std::chrono::steady_clock::now() < deadline;
             delay = std::min(delay * 2, std::chrono::milliseconds(50))) {
            if (port_accepts(port)) {
                up = true;
                break;
            }
            if (!server->running()) break;
            std::this_thread::sleep_for(delay);
        }
        if (!up) {
            if (attempt == 4) throw std::runtime_error("sshd did not start: " + server->stderr_text());
            continue;
        }
        port_ = port;
        sshd_ = std::move(server);
    }
    const std::string host_pub = first_line(read_file(host_key.string() + ".pub"));
    const std::string wrong_pub = first_line(read_file(wrong_host_key.string() + ".pub"));
    const std::string name = "[127.0.0.1]:" + std::to_string(port_) + " ";
    known_hosts_ = dir() / "known_hosts";
    wrong_known_hosts_ = dir() / "wrong_known_hosts";
    write_file(known_hosts_, name + host_pub + "\n");
    write_file(wrong_known_hosts_, name + wrong_pub + "\n");
}

sshd_fixture::~sshd_fixture() {
    if (sshd_) sshd_->stop(SIGTERM, std::chrono::seconds(5));
}

fs::path sshd_fixture::make_dest(const std::string& name) const {
    const fs::path p = dir() / ("dest-" + name);
    fs::create_directories(p);
    if (::chown(p.c_str(), uid_, gid_) != 0) throw std::runtime_error("chown " + p.string());
    return p;
}

std::string sshd_fixture::remote_shell(const std::string& command) const {
    auto r = run_process({"ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i",
                          client_key_.string(), "-p", std::to_string(port_), "-o",
                          "UserKnownHostsFile=" + known_hosts_.string(), "-o", "StrictHostKeyChecking=yes",
                          user_ + "@127.0.0.1", command});
    must(r, "ssh " + command);
    return r.out;
}

sshd_fixture& shared_sshd() {
    static sshd_fixture fixture;
    return fixture;
}

}  // namespace labsync::test
