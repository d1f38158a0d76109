// syncd-receiver: the central HTTP(S) receiver that stores runs (SPEC §8, docs/protocol.md).
#include "cli_conventions.hpp"
#include "labsync/common/read_file.hpp"
#include "labsync/common/secret_file.hpp"
#include "labsync/receiver/request_rules.hpp"
#include "labsync/receiver/upload_rules.hpp"
#include "server_config.hpp"

#include <toml++/toml.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <sstream>

namespace {

using labsync::receiver::server_config;

struct options {
    std::string listen = "127.0.0.1:8443";
    std::string store, tls_cert, tls_key, client_ca, tokens, allowed_commits,
        max_body = "64G", min_body_rate = "1K", check_memory = "64M", min_free = "0", upload_expiry = "7d";
    bool require_client_cert = false, insecure_no_auth = false, no_member_check = false;
    double header_timeout = 30, body_timeout = 60, shutdown_grace = 30;
    std::size_t max_connections = 256, io_threads = 2, disk_threads = 4, check_threads = 2;
};

// --config FILE: a TOML table with the long option names as keys (listen = "…", store = "…",
// require-client-cert = true, …). The command line wins over the file.
bool apply_config(const std::string& path, CLI::App& app, std::string& error) {
    // Read first, so that an unreadable file is reported with the OS's reason (toml++ only says
    // "File could not be opened for reading").
    auto text = labsync::common::read_whole_file(path, error);
    if (!text) {
        error = path + ": cannot read: " + error;
        return false;
    }
    toml::table table;
    try {
        table = toml::parse(*text, path);
    } catch (const toml::parse_error& e) {
        std::ostringstream ss;
        ss << path << ":" << e.source().begin.line << ": " << e.description();
        error = ss.str();
        return false;
    }
    for (auto&& [key, node] : table) {
        std::string name = "--" + std::string(key.str());
        CLI::Option* opt = nullptr;
        try {
            opt = app.get_option(name);
        } catch (const CLI::OptionNotFound&) {
            error = path + ": unknown key `" + std::string(key.str()) + "`";
            return false;
        }
        // Keys name the long options that configure the server; --help, --version and a nested
        // --config are command-line actions, not settings, and are refused like unknown keys.
        if (opt == app.get_help_ptr() || opt == app.get_help_all_ptr() || opt == app.get_version_ptr() ||
            opt->get_group().empty() || name == "--config") {
            error = path + ": key `" + std::string(key.str()) + "` is a command-line action, not a setting";
            return false;
        }
        if (opt->count() > 0) continue;
        std::string value;
        if (node.is_string()) {
            value = *node.value<std::string>();
        } else if (node.is_boolean()) {
            value = *node.value<bool>() ? "true" : "false";
        } else if (node.is_integer()) {
            value = std::to_string(*node.value<std::int64_t>());
        } else if (node.is_floating_point()) {
            value = std::to_string(*node.value<double>());
        } else {
            error = path + ": key `" + std::string(key.str()) + "` must be a string, number or boolean";
            return false;
        }
        try {
            if (opt->get_type_size() == 0) {
                if (value == "true") opt->add_result("true");
            } else {
                opt->add_result(value);
            }
            opt->run_callback();
        } catch (const CLI::Error& e) {
            error = path + ": key `" + std::string(key.str()) + "`: " + e.what();
            return false;
        }
    }
    return true;
}

int fail(const std::string& message) {
    std::fprintf(stderr, "syncd-receiver: %s\n", message.c_str());
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"syncd-receiver: stores runs uploaded with HTTP PUT and proves what it stored",
                 "syncd-receiver"};
    labsync::apps::add_cli_conventions(app, "syncd-receiver");
    options o;
    std::string config_path;
    app.add_option("--config", config_path, "TOML file with the same keys as the long options");
    app.add_option("--listen", o.listen, "HOST:PORT to listen on (PORT 0: any free port)");
    app.add_option("--store", o.store, "store directory");
    app.add_option("--tls-cert", o.tls_cert, "server certificate chain (PEM); without it: plain HTTP");
    app.add_option("--tls-key", o.tls_key, "server private key (PEM)");
    app.add_option("--client-ca", o.client_ca, "CA file that client certificates are verified against");
    app.add_flag("--require-client-cert", o.require_client_cert,
                 "refuse TLS clients without a valid certificate");
    app.add_option("--tokens", o.tokens, "file of `<token> <equipment-pattern> [name]` lines");
    app.add_option("--allowed-commits", o.allowed_commits,
                   "file of code commits allowed to upload (X-Code-Commit)");
    app.add_option("--max-body", o.max_body, "largest accepted upload, bytes (K/M/G/T suffix)");
    app.add_option("--upload-expiry", o.upload_expiry,
                   "resumable uploads untouched this long are removed (e.g. 7d, 12h, 30m, 90s)");
    app.add_option("--min-free", o.min_free, "bytes to keep free on the store (507 below), K/M/G/T suffix");
    app.add_flag("--insecure-no-auth", o.insecure_no_auth, "run without --tokens (tests and loopback only)");
    app.add_flag("--no-member-check", o.no_member_check, "do not check archive members against the manifest");
    app.add_option("--check-threads", o.check_threads,
                   "member check per upload: 1 (all on the disk-pool thread), 2 (default: decoding on the "
                   "pool thread, tar walk and member hashing on a second), 3-9 (zstd frames decoded in "
                   "parallel on N-1 threads, walk and hashing on one more)");
    app.add_option("--check-memory", o.check_memory,
                   "memory all uploads together may use to decode frames ahead of the member check (K/M/G)");
    app.add_option("--header-timeout", o.header_timeout,
                   "seconds to receive a request header (and TLS handshake)");
    app.add_option("--body-timeout", o.body_timeout, "seconds a request body may stall");
    app.add_option("--min-body-rate", o.min_body_rate,
                   "slowest body accepted, bytes/s over each --body-timeout window (K/M suffix; 0: off)");
    app.add_option("--shutdown-grace", o.shutdown_grace, "seconds uploads may finish after SIGTERM");
    app.add_option("--max-connections", o.max_connections, "open connections at most");
    app.add_option("--io-threads", o.io_threads, "threads running network I/O");
    app.add_option("--disk-threads", o.disk_threads,
                   "threads hashing and writing uploads (verify re-hashes use at most half)");
    if (int code = labsync::apps::parse_command_line(app, argc, argv); code >= 0) return code;
    if (std::string error; !config_path.empty() && !apply_config(config_path, app, error)) return fail(error);

    server_config cfg;
    auto colon = o.listen.rfind(':');
    if (colon == std::string::npos) return fail("--listen must be HOST:PORT, got `" + o.listen + "`");
    cfg.host = o.listen.substr(0, colon);
    if (cfg.host.size() > 2 && cfg.host.front() == '[' && cfg.host.back() == ']')
        cfg.host = cfg.host.substr(1, cfg.host.size() - 2);
    try {
        int port = std::stoi(o.listen.substr(colon + 1));
        if (port < 0 || port > 65535) throw std::out_of_range("port");
        cfg.port = static_cast<std::uint16_t>(port);
    } catch (const std::exception&) {
        return fail("--listen: `" + o.listen.substr(colon + 1) + "` is not a port number");
    }
    if (o.store.empty()) return fail("--store DIR is required");
    cfg.store = o.store;
    if (o.tls_cert.empty() != o.tls_key.empty()) return fail("--tls-cert and --tls-key go together");
    if (!o.tls_cert.empty()) {
        cfg.tls_cert = o.tls_cert;
        cfg.tls_key = o.tls_key;
    }
    if (!o.client_ca.empty()) {
        if (!cfg.tls_cert) return fail("--client-ca needs TLS (--tls-cert/--tls-key)");
        cfg.client_ca = o.client_ca;
    }
    if (o.require_client_cert && !cfg.client_ca) return fail("--require-client-cert needs --client-ca");
    cfg.require_client_cert = o.require_client_cert;
    std::string error;
    if (!o.tokens.empty()) {
        // Like ssh with a private key: tokens others can read are warned about, tokens others can
        // write (and so replace with a grant of their own) are refused.
        auto perms = labsync::common::check_secret_file(o.tokens, "--tokens file");
        if (perms.exposure == labsync::common::secret_exposure::writable_by_others)
            return fail(perms.message + "; refusing to start");
        if (!perms.message.empty()) cfg.startup_warnings.push_back(perms.message);
        auto text = labsync::common::read_whole_file(o.tokens, error);
        if (!text) return fail("--tokens " + o.tokens + ": cannot read: " + error);
        cfg.tokens = labsync::receiver::token_file::parse(*text, o.tokens, error);
        if (!cfg.tokens) return fail(error);
    } else if (!o.insecure_no_auth && !cfg.require_client_cert) {
        return fail(
            "no --tokens given: refusing to accept uploads from anyone; pass --tokens FILE (or "
            "--require-client-cert), or --insecure-no-auth for tests on loopback");
    }
    cfg.insecure_no_auth = o.insecure_no_auth;
    if (!o.allowed_commits.empty()) {
        auto text = labsync::common::read_whole_file(o.allowed_commits, error);
        if (!text) return fail("--allowed-commits " + o.allowed_commits + ": cannot read: " + error);
        cfg.allowed_commits = labsync::receiver::commit_allowlist::parse(*text, o.allowed_commits, error);
        if (!cfg.allowed_commits) return fail(error);
    }
    auto max_body = labsync::receiver::parse_byte_size(o.max_body);
    if (!max_body) return fail("--max-body: `" + o.max_body + "` is not a byte count");
    cfg.max_body = *max_body;
    auto min_free = labsync::receiver::parse_byte_size(o.min_free);
    if (!min_free) return fail("--min-free: `" + o.min_free + "` is not a byte count");
    cfg.min_free = *min_free;
    auto upload_expiry = labsync::receiver::parse_expiry(o.upload_expiry);
    if (!upload_expiry)
        return fail("--upload-expiry: `" + o.upload_expiry + "` is not a duration like 7d, 12h, 30m, 90s");
    cfg.upload_expiry = *upload_expiry;
    auto min_body_rate = labsync::receiver::parse_byte_size(o.min_body_rate);
    if (!min_body_rate) return fail("--min-body-rate: `" + o.min_body_rate + "` is not a byte count");
    cfg.min_body_rate = *min_body_rate;
    cfg.member_check = !o.no_member_check;
    if (o.check_threads < 1 || o.check_threads > 9)
        return fail("--check-threads: `" + std::to_string(o.check_threads) + "` is not between 1 and 9");
    cfg.check_threads = o.check_threads;
    auto check_memory = labsync::receiver::parse_byte_size(o.check_memory);
    if (!check_memory) return fail("--check-memory: `" + o.check_memory + "` is not a byte count");
    cfg.check_budget = std::make_shared<labsync::verifier::check_budget>(*check_memory);
    auto ms = [](double s) { return std::chrono::milliseconds(static_cast<std::int64_t>(s * 1000)); };
    if (o.header_timeout <= 0 || o.body_timeout <= 0 || o.shutdown_grace < 0)
        return fail("timeouts must be positive");
    cfg.header_timeout = ms(o.header_timeout);
    cfg.body_timeout = ms(o.body_timeout);
    cfg.shutdown_grace = ms(o.shutdown_grace);
    if (o.max_connections == 0 || o.io_threads == 0 || o.disk_threads == 0)
        return fail("counts must be at least 1");
    cfg.max_connections = o.max_connections;
    cfg.io_threads = o.io_threads;
    cfg.disk_threads = o.disk_threads;
    return labsync::receiver::run_server(cfg);
}
