#include "receiver_client.hpp"

#include "labsync/verifier/sha256.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <stdexcept>

namespace labsync::test {
namespace fs = std::filesystem;

http_reply curl(const std::string& url, const std::vector<std::string>& args) {
    temp_dir tmp;
    std::vector<std::string> argv{"curl", "-sS", "-o", (tmp / "body").string(), "-w", "%{http_code}"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back(url);
    auto r = run_process(argv);
    http_reply out;
    out.curl_exit = r.exit_code;
    out.err = r.err;
    try {
        out.status = std::stoi(r.out);
    } catch (...) {
        out.status = 0;
    }
    std::error_code ec;
    if (fs::exists(tmp / "body", ec)) out.body = read_file(tmp / "body");
    return out;
}

std::vector<std::string> tls_args(const receiver_fixture& rx) {
    if (rx.url().starts_with("https")) return {"--cacert", rx.pki().ca_cert.string()};
    return {};
}

std::vector<std::string> auth_args(const std::string& token) {
    return {"-H", "Authorization: Bearer " + token};
}

http_reply curl_put(const receiver_fixture& rx, const std::string& equipment, const std::string& run,
                    const fs::path& file, std::optional<std::string> sha, std::vector<std::string> extra) {
    std::vector<std::string> args{"-T", file.string(), "-H",
                                  "X-Content-SHA256: " + sha.value_or(sha256_of_file(file))};
    auto t = tls_args(rx);
    args.insert(args.end(), t.begin(), t.end());
    bool has_auth = false;
    for (const auto& a : extra) has_auth = has_auth || a.starts_with("Authorization");
    if (!has_auth) {
        auto a = auth_args(rx.token());
        args.insert(args.end(), a.begin(), a.end());
    }
    args.insert(args.end(), extra.begin(), extra.end());
    return curl(rx.run_url(equipment, run), args);
}

std::string sha256_of_file(const fs::path& file) {
    return verifier::to_hex(verifier::sha256::of(read_file(file)));
}

fs::path make_blob(const fs::path& path, std::size_t size, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::string data(size, '\0');
    for (std::size_t i = 0; i < size; i += 8) {
        auto v = rng();
        for (std::size_t j = 0; j < 8 && i + j < size; ++j) data[i + j] = static_cast<char>(v >> (8 * j));
    }
    write_file(path, data);
    return path;
}

fs::path make_run_archive(const fs::path& dir, bool wrong_manifest, std::size_t size) {
    fs::path run = dir / "run";
    make_blob(run / "a.bin", size, 11);
    write_file(run / "sub" / "b.txt", "hello\n");
    fs::create_directories(run / ".labsync");
    fs::path out = dir / (wrong_manifest ? "bad.tar.zst" : "good.tar.zst");
    process_options o;
    o.cwd = run;
    auto r = run_process(
        {"bash", "-c", "sha256sum a.bin sub/b.txt | LC_ALL=C sort -k2 > .labsync/manifest.sha256"}, o);
    if (r.exit_code != 0) throw std::runtime_error("make_run_archive: " + r.err);
    if (wrong_manifest) {
        auto text = read_file(run / ".labsync" / "manifest.sha256");
        text[0] = text[0] == '0' ? '1' : '0';
        write_file(run / ".labsync" / "manifest.sha256", text);
    }
    r = run_process({"bash", "-c",
                     "set -o pipefail; tar --format=ustar -cf - a.bin sub/b.txt .labsync/manifest.sha256 | "
                     "zstd -q -c > '" +
                         out.string() + "'"},
                    o);
    if (r.exit_code != 0) throw std::runtime_error("make_run_archive: " + r.err);
    return out;
}

receiver_options blob_options() {
    receiver_options o;
    o.member_check = false;
    return o;
}

raw_conn::raw_conn(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd_);
        throw std::runtime_error("raw_conn: connect to port " + std::to_string(port) + " failed");
    }
}

raw_conn::~raw_conn() {
    close();
}

void raw_conn::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

bool raw_conn::send(const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n <= 0) return false;
        off += static_cast<std::size_t>(n);
    }
    return true;
}

std::string raw_conn::read_until(const std::string& needle, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    char buf[65536];
    while (in_.find(needle) == std::string::npos) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                          std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) break;
        in_.append(buf, static_cast<std::size_t>(n));
    }
    return in_;
}

bool raw_conn::wait_closed(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    char buf[65536];
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                          std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) return true;
        in_.append(buf, static_cast<std::size_t>(n));
    }
}

int raw_status(int port, const std::string& request, std::string* response) {
    raw_conn c(port);
    c.send(request);
    std::string got = c.read_until("\r\n\r\n");
    if (response) *response = got;
    if (!got.starts_with("HTTP/1.")) return 0;
    return std::stoi(got.substr(9, 3));
}

long proc_status_kb(int pid, const std::string& key) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.starts_with(key + ":")) return std::stol(line.substr(key.size() + 1));
    return -1;
}

std::vector<std::string> store_files(const fs::path& store) {
    std::vector<std::string> out;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(store, ec); it != fs::recursive_directory_iterator();
         ++it) {
        if (it->is_regular_file()) out.push_back(fs::relative(it->path(), store).string());
    }
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace labsync::test
