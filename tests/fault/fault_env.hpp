#pragma once
// Shared pieces of the fault campaigns: a real syncd-receiver (plain HTTP, loopback, no auth) on
// a store directory, the fault proxy in front of it, `syncd put` runs, and store inspection.
// Header-only: each campaign is one test executable.

#include "process.hpp"
#include "temp_dir.hpp"

#include "labsync/verifier/sha256.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace labsync::fault {

namespace fs = std::filesystem;

inline std::string file_sha256(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return verifier::to_hex(verifier::sha256::of(data));
}

// Port printed by a server as `listening on HOST:PORT`.
inline int port_of(const std::string& line) {
    return std::stoi(line.substr(line.rfind(':') + 1));
}

// Incompressible bytes so the archive (and the upload) is about as large as the run.
inline void write_random_file(const fs::path& path, std::size_t bytes, unsigned seed) {
    fs::create_directories(path.parent_path());
    std::mt19937_64 rng(seed);
    std::string data(bytes, '\0');
    for (std::size_t i = 0; i + 8 <= bytes; i += 8) {
        auto v = rng();
        std::memcpy(data.data() + i, &v, 8);
    }
    std::ofstream(path, std::ios::binary).write(data.data(), std::streamsize(data.size()));
}

inline void make_run(const fs::path& run, std::size_t bytes, unsigned seed) {
    write_random_file(run / "data" / "frame0.bin", bytes / 2, seed);
    write_random_file(run / "data" / "frame1.bin", bytes - bytes / 2, seed + 1);
    test::write_file(run / "meta.json", "{\"sample\":\"fault\"}\n");
}

class receiver {
public:
    explicit receiver(fs::path store, std::vector<std::string> extra = {}) : store_(std::move(store)) {
        std::vector<std::string> argv{
            LABSYNC_RECEIVER,     "--listen",       "127.0.0.1:0", "--store",          store_.string(),
            "--insecure-no-auth", "--body-timeout", "3",           "--header-timeout", "3"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        start(argv);
    }
    void start(const std::vector<std::string>& argv) {
        argv_ = argv;
        proc_ = std::make_unique<test::child_process>(argv);
        auto line = proc_->wait_for_line("listening on", std::chrono::seconds(20));
        INFO("receiver stderr: " << proc_->stderr_text());
        REQUIRE(line);
        port_ = port_of(*line);
    }
    // Starts the same command again (after a kill) on the same port, so senders and proxies
    // configured with it keep working (the acceptor sets SO_REUSEADDR).
    void restart_same_port() {
        auto argv = argv_;
        for (auto& a : argv)
            if (a == "127.0.0.1:0") a = "127.0.0.1:" + std::to_string(port_);
        int old = port_;
        start(argv);
        REQUIRE(port_ == old);
    }
    test::child_process& process() { return *proc_; }
    int port() const noexcept { return port_; }
    const fs::path& store() const noexcept { return store_; }
    fs::path archive(const std::string& equipment, const std::string& run) const {
        return store_ / equipment / (run + ".tar.zst");
    }

private:
    fs::path store_;
    std::vector<std::string> argv_;
    std::unique_ptr<test::child_process> proc_;
    int port_ = 0;
};

class fault_proxy {
public:
    fault_proxy(int target_port, const std::string& mode, unsigned faulty, std::uint64_t bytes,
                std::vector<std::string> extra = {}) {
        std::vector<std::string> argv{LABSYNC_FAULT_PROXY,
                                      "--target",
                                      "127.0.0.1:" + std::to_string(target_port),
                                      "--mode",
                                      mode,
                                      "--faulty",
                                      std::to_string(faulty),
                                      "--bytes",
                                      std::to_string(bytes)};
        argv.insert(argv.end(), extra.begin(), extra.end());
        proc_ = std::make_unique<test::child_process>(argv);
        auto line = proc_->wait_for_line("listening on", std::chrono::seconds(10));
        REQUIRE(line);
        port_ = port_of(*line);
    }
    int port() const noexcept { return port_; }
    test::child_process& process() { return *proc_; }

private:
    std::unique_ptr<test::child_process> proc_;
    int port_ = 0;
};

struct put_result {
    int exit_code = -1;
    nlohmann::json doc;
    std::string err;
};

// `syncd put --json` of one run; short timeouts so a stalled connection fails fast.
inline put_result syncd_put(int port, const std::string& equipment, const fs::path& run,
                            const fs::path& outbox, unsigned io_timeout_s = 2) {
    test::process_options opts;
    opts.timeout = std::chrono::seconds(60);
    auto r = test::run_process(
        {LABSYNC_SYNCD, "put", "--json", "--url", "http://127.0.0.1:" + std::to_string(port), "--equipment",
         equipment, "--outbox", outbox.string(), "--connect-timeout", "2", "--io-timeout",
         std::to_string(io_timeout_s), run.string()},
        opts);
    put_result out;
    out.exit_code = r.exit_code;
    out.err = r.err;
    auto start = r.out.find('{');
    if (start != std::string::npos) out.doc = nlohmann::json::parse(r.out.substr(start), nullptr, false);
    return out;
}

// Every regular file of the store outside `.tmp` and `.uploads`, relative: what a reader could ever see.
inline std::vector<std::string> visible_files(const fs::path& store) {
    std::vector<std::string> out;
    if (!fs::exists(store)) return out;
    for (auto it = fs::recursive_directory_iterator(store); it != fs::recursive_directory_iterator(); ++it) {
        // The receiver's own work areas (.tmp, .uploads: resumable uploads in progress) are never
        // final names.
        const auto name = it->path().filename();
        if ((name == ".tmp" || name == ".uploads") && it->is_directory()) {
            it.disable_recursion_pending();
            continue;
        }
        if (it->is_regular_file()) out.push_back(fs::relative(it->path(), store).string());
    }
    std::sort(out.begin(), out.end());
    return out;
}

// syncd.toml for one http_put equipment `scope-1` shipping to the receiver on `port`: retention 0
// and cleanup on (deletion races whatever the campaign does), short backoff, no metrics listener.
// `global_extra` / `transport_extra`: more key lines for [global] / the transport table.
inline std::string daemon_config_text(const fs::path& dir, const fs::path& runs, const fs::path& state,
                                      int port, const std::string& global_extra = "",
                                      const std::string& transport_extra = "") {
    return "[global]\n" + global_extra + "state_dir = \"" + state.string() + "\"\nadmin_socket = \"" +
           (dir / "syncd.sock").string() +
           "\"\nmetrics_listen = \"\"\nmax_parallel = 2\nrescan_interval = \"1s\"\n"
           "cleanup_interval = \"1s\"\nshutdown_grace = \"5s\"\n"
           "[global.backoff]\nbase = \"100ms\"\ncap = \"500ms\"\nmax_attempts = 1000\n"
           "[equipment.scope-1]\nruns_root = \"" +
           runs.string() +
           "\"\nsettle = \"0s\"\nretention = \"0s\"\ncleanup = true\n"
           "[equipment.scope-1.transport]\nkind = \"http_put\"\nurl = \"http://127.0.0.1:" +
           std::to_string(port) + "\"\nio_timeout = \"5s\"\n" + transport_extra;
}

inline unsigned env_unsigned(const char* name, unsigned fallback) {
    const char* v = std::getenv(name);
    return v && *v ? static_cast<unsigned>(std::stoul(v)) : fallback;
}

}  // namespace labsync::fault
