// Every setting of every driver is reachable from syncd.toml: each key is read into the driver's
// own config type, and a bad value of each is an error at its file:line:col naming the key.
#include "labsync/config/config_loader.hpp"
#include "labsync/verifier/archive_writer.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <variant>

using namespace labsync::config;
using namespace std::chrono_literals;
using labsync::transports::http_put_config;
using labsync::transports::rclone_config;
using labsync::transports::rsync_ssh_config;

namespace {

// [global] and one equipment "a"; its transport table is line 5, `kind` line 6, `keys` from line 7.
std::string with_transport(const std::string& kind, const std::string& keys) {
    return "[global]\nstate_dir = \"/s\"\n[equipment.a]\nruns_root = \"/r\"\n[equipment.a.transport]\nkind = "
           "\"" +
           kind + "\"\n" + keys + "\n";
}

template <class Config>
Config loaded(const std::string& text) {
    load_result r = load_config_text(text, "syncd.toml", "/etc/labsync");
    INFO(format_errors(r.errors));
    REQUIRE(r.ok());
    REQUIRE(r.config.engine.equipment.size() == 1);
    const auto* c = std::get_if<Config>(&r.config.engine.equipment[0].transport);
    REQUIRE(c);
    return *c;
}

const std::string rsync_required =
    "host = \"nas\"\nuser = \"u\"\nkey_file = \"id\"\nknown_hosts = \"kh\"\nremote_dir = \"/x\"\n";
const std::string rclone_required = "remote = \"nas:x\"\nconfig_file = \"rclone.conf\"\n";

}  // namespace

TEST_CASE("every http_put setting is read from syncd.toml", "[config]") {
    auto c = loaded<http_put_config>(with_transport("http_put", R"(url = "https://c:8443/base"
token_file = "tok"
ca_file = "/ca.pem"
client_cert = "c.pem"
client_key = "k.pem"
code_commit = "abc"
zstd_level = 7
connect_timeout = "3s"
io_timeout = "90s"
chunk_bytes = "256K"
part_bytes = "8M")"));
    CHECK(c.url == "https://c:8443/base");
    CHECK(c.token_file == "/etc/labsync/tok");
    CHECK(c.ca_file == "/ca.pem");
    CHECK(c.client_cert == "/etc/labsync/c.pem");
    CHECK(c.client_key == "/etc/labsync/k.pem");
    CHECK(c.code_commit == "abc");
    CHECK(c.zstd_level == 7);
    CHECK(c.connect_timeout == 3s);
    CHECK(c.io_timeout == 90s);
    CHECK(c.chunk_bytes == 256 * 1024);
    CHECK(c.part_bytes == 8u << 20);
}

TEST_CASE("every rsync_ssh setting is read from syncd.toml", "[config]") {
    auto c = loaded<rsync_ssh_config>(with_transport("rsync_ssh", rsync_required + R"(port = 2222
rsync_binary = "/opt/rsync"
ssh_binary = "/opt/ssh"
extra_args = ["--bwlimit=1M"]
control_dir = "/run/labsync/ssh"
control_persist = "2m"
connect_timeout = "7s"
command_timeout = "45s"
transfer_timeout = "6h"
remote_sync = false
path_env = "/opt/bin:/usr/bin")"));
    CHECK(c.host == "nas");
    CHECK(c.user == "u");
    CHECK(c.identity_file == "/etc/labsync/id");
    CHECK(c.known_hosts == "/etc/labsync/kh");
    CHECK(c.dest == "/x");
    CHECK(c.port == 2222);
    CHECK(c.rsync_binary == "/opt/rsync");
    CHECK(c.ssh_binary == "/opt/ssh");
    CHECK(c.extra_rsync_args == std::vector<std::string>{"--bwlimit=1M"});
    CHECK(c.control_dir == "/run/labsync/ssh");
    CHECK(c.control_persist == 2min);
    CHECK(c.connect_timeout == 7s);
    CHECK(c.command_timeout == 45s);
    CHECK(c.transfer_timeout == 6h);
    CHECK_FALSE(c.remote_sync);
    CHECK(c.path_env == "/opt/bin:/usr/bin");
}

TEST_CASE("every rclone setting is read from syncd.toml", "[config]") {
    auto c = loaded<rclone_config>(with_transport("rclone", rclone_required + R"(rclone_binary = "/opt/rclone"
extra_args = ["--s3-upload-concurrency", "4"]
command_timeout = "10m"
transfer_timeout = "12h"
connect_timeout = "20s"
stats_interval = "250ms"
path_env = "/opt/bin")"));
    CHECK(c.remote == "nas:x");
    CHECK(c.config_file == "/etc/labsync/rclone.conf");
    CHECK(c.rclone_binary == "/opt/rclone");
    CHECK(c.extra_args == std::vector<std::string>{"--s3-upload-concurrency", "4"});
    CHECK(c.command_timeout == 10min);
    CHECK(c.transfer_timeout == 12h);
    CHECK(c.connect_timeout == 20s);
    CHECK(c.stats_interval == 250ms);
    CHECK(c.path_env == "/opt/bin");
}

TEST_CASE("a bad transport value is an error at its file:line:col", "[config]") {
    struct bad {
        std::string kind, keys, key, message;
        int line;
    };
    const std::string http = "url = \"https://c:1\"\n";
    const std::vector<bad> cases = {
        // A value of the wrong shape, refused by the reader.
        {"http_put", http + "chunk_bytes = \"1Q\"", "chunk_bytes", "unknown unit", 8},
        {"rsync_ssh", rsync_required + "control_persist = \"1500ms\"", "control_persist", "whole seconds",
         12},
        {"rsync_ssh", rsync_required + "connect_timeout = \"soon\"", "connect_timeout", "duration", 12},
        {"rsync_ssh", rsync_required + "command_timeout = true", "command_timeout", "must be a duration", 12},
        {"rsync_ssh", rsync_required + "transfer_timeout = \"-1s\"", "transfer_timeout", "negative", 12},
        {"rsync_ssh", rsync_required + "remote_sync = \"yes\"", "remote_sync", "true or false", 12},
        {"rsync_ssh", rsync_required + "path_env = 1", "path_env", "must be a string", 12},
        {"rsync_ssh", rsync_required + "control_dir = []", "control_dir", "must be a string", 12},
        {"rsync_ssh", rsync_required + "port = 70000", "port", "out of range", 12},
        {"rclone", rclone_required + "command_timeout = \"5x\"", "command_timeout", "unknown unit", 9},
        {"rclone", rclone_required + "transfer_timeout = []", "transfer_timeout", "must be a duration", 9},
        {"rclone", rclone_required + "connect_timeout = \"500ms\"", "connect_timeout", "whole seconds", 9},
        {"rclone", rclone_required + "stats_interval = \"x\"", "stats_interval", "duration", 9},
        {"rclone", rclone_required + "path_env = false", "path_env", "must be a string", 9},
        // A value the driver config's validate() refuses, placed at its key.
        {"http_put", http + "zstd_level = 20", "zstd_level", "out of range 0..19", 8},
        {"http_put", http + "zstd_level = -1", "zstd_level", "out of range 0..19", 8},
        {"http_put", http + "zstd_level = \"fast\"", "zstd_level", "nor \"adaptive\"", 8},
        {"http_put", http + "io_timeout = \"50ms\"", "io_timeout", "at least 100ms", 8},
        {"http_put", http + "chunk_bytes = \"4K\"", "chunk_bytes", "at least 64K", 8},
        {"http_put", http + "part_bytes = \"512K\"", "part_bytes", "below chunk_bytes", 8},
        {"http_put", "url = \"https://user@c:1\"", "url", "credentials", 7},
        {"rsync_ssh", rsync_required + "command_timeout = \"0s\"", "command_timeout", "at least 1s", 12},
        {"rsync_ssh", rsync_required + "port = 0", "port", "not a TCP port", 12},
        {"rsync_ssh",
         "host = \"nas\"\nuser = \"u\"\nkey_file = \"id\"\nknown_hosts = \"kh\"\nremote_dir = \"x\"",
         "remote_dir", "absolute path", 11},
        {"rsync_ssh", "host = \"nas\"\nuser = \"u\"\nknown_hosts = \"kh\"\nremote_dir = \"/x\"", "key_file",
         "is required", 5},
        {"rclone", rclone_required + "stats_interval = \"10ms\"", "stats_interval", "at least 100ms", 9},
        {"rclone", "remote = \"nas\"\nconfig_file = \"r.conf\"", "remote", "must name an rclone remote", 7},
        {"rclone", "remote = \"nas:\"", "config_file", "is required", 5},
    };
    for (const auto& c : cases) {
        SECTION(c.kind + " " + c.key + ": " + c.message) {
            load_result r = load_config_text(with_transport(c.kind, c.keys), "syncd.toml", "/etc/labsync");
            INFO(format_errors(r.errors));
            REQUIRE(r.errors.size() == 1);
            const config_error& e = r.errors.front();
            CHECK(e.key == "equipment.a.transport." + c.key);
            CHECK_THAT(e.message, Catch::Contains(c.message));
            CHECK(e.line == c.line);
            CHECK(e.column >= 1);
            CHECK_THAT(e.to_string(), Catch::StartsWith("syncd.toml:" + std::to_string(c.line) + ":"));
        }
    }
}

TEST_CASE("http_put zstd_level defaults to adaptive", "[config]") {
    CHECK(loaded<http_put_config>(with_transport("http_put", "url = \"https://c:1\"")).zstd_level ==
          labsync::verifier::zstd_level_adaptive);
}

TEST_CASE("http_put zstd_level takes 0 (store) and \"adaptive\"", "[config]") {
    CHECK(loaded<http_put_config>(with_transport("http_put", "url = \"https://c:1\"\nzstd_level = 0"))
              .zstd_level == labsync::verifier::zstd_level_store);
    CHECK(loaded<http_put_config>(
              with_transport("http_put", "url = \"https://c:1\"\nzstd_level = \"adaptive\""))
              .zstd_level == labsync::verifier::zstd_level_adaptive);
}

TEST_CASE("a key of one transport kind in another's table says which kinds it belongs to", "[config]") {
    load_result r = load_config_text(
        with_transport("http_put", "url = \"https://c:1\"\ncommand_timeout = \"1m\""), "syncd.toml", "/");
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].key == "equipment.a.transport.command_timeout");
    CHECK_THAT(r.errors[0].message,
               Catch::Contains("it belongs to transport rsync_ssh or rclone, this one is http_put"));
}

TEST_CASE("the driver config's validate() is the rule the loader applies", "[config]") {
    // The same rule object decides for the loader and for a config built in code.
    http_put_config c;
    c.url = "https://c:1";
    c.zstd_level = 20;
    const auto problems = c.validate();
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].key == "zstd_level");
    load_result r = load_config_text(with_transport("http_put", "url = \"https://c:1\"\nzstd_level = 20"),
                                     "syncd.toml", "/");
    REQUIRE(r.errors.size() == 1);
    CHECK_THAT(r.errors[0].message, Catch::Contains(problems[0].message));
}
