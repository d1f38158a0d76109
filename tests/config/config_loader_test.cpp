// The config loader: a good file maps onto engine_config; each bad file gives one clear message
// naming file, line, key and why.
#include "labsync/config/config_loader.hpp"
#include "runs_roots.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace labsync::config;
using labsync::engine::kind_of;
using labsync::transports::http_put_config;
using labsync::transports::rclone_config;
using labsync::transports::rsync_ssh_config;

namespace {

const std::string good = R"(
[global]
state_dir = "/var/lib/labsync"
admin_socket = "/run/labsync/syncd.sock"
admin_socket_group = "labsync"
admin_socket_mode = "0660"
metrics_listen = "127.0.0.1:9101"
log_format = "json"
log_level = "debug"
max_parallel = 3
rescan_interval = "2m"
cleanup_interval = "30s"
bandwidth = "08:00,20M 19:00,off"
watchdog_stall = "10m"

[global.backoff]
base = "1s"
cap = "5m"
max_attempts = 7

[equipment.scope-1]
runs_root = "/data/scope-1"
marker = "acq.done"
settle = "45s"
retention = "14d"
min_free = "50G"
min_free_percent = 12.5
max_parallel = 2

[equipment.scope-1.gate]
max_bytes = "2T"
max_files = 100000
meta_json_required = true
external_command = ["/usr/local/bin/check-run", "--strict"]

[equipment.scope-1.transport]
kind = "http_put"
url = "https://collector:8443"
token_file = "secrets/token"
ca_file = "/etc/labsync/ca.pem"
connect_timeout = "5s"

[equipment.seq-2]
runs_root = "/data/seq-2"
cleanup = false
[equipment.seq-2.transport]
kind = "rsync_ssh"
host = "nas.lab"
user = "labsync"
port = 2222
key_file = "/etc/labsync/id_ed25519"
known_hosts = "/etc/labsync/known_hosts"
remote_dir = "/archive/seq-2"
extra_args = ["--bwlimit=10M"]

[equipment.det-3]
runs_root = "/data/det-3"
[equipment.det-3.transport]
kind = "rclone"
remote = "s3:bucket/det-3"
config_file = "/etc/labsync/rclone.conf"
)";

// Loads `text` as "syncd.toml" and returns the single error (the test fails if there are more or none).
config_error only_error(const std::string& text) {
    load_result r = load_config_text(text, "syncd.toml", "/etc/labsync");
    INFO(format_errors(r.errors));
    REQUIRE(r.errors.size() == 1);
    return r.errors.front();
}

std::string minimal(const std::string& global_extra, const std::string& equipment_extra,
                    const std::string& transport_extra = "url = \"https://c:1\"") {
    return "[global]\nstate_dir = \"/s\"\n" + global_extra + "\n[equipment.a]\nruns_root = \"/r\"\n" +
           equipment_extra + "\n[equipment.a.transport]\nkind = \"http_put\"\n" + transport_extra + "\n";
}

}  // namespace

TEST_CASE("a complete config maps onto engine_config", "[config]") {
    load_result r = load_config_text(good, "syncd.toml", "/etc/labsync");
    INFO(format_errors(r.errors));
    REQUIRE(r.ok());
    const auto& e = r.config.engine;
    const auto& d = r.config.daemon;
    CHECK(e.state_dir == "/var/lib/labsync");
    CHECK(e.outbox_dir == "/var/lib/labsync/outbox");
    CHECK(e.quarantine_dir == "/var/lib/labsync/quarantine");
    CHECK(e.max_parallel_global == 3);
    CHECK(e.rescan_interval == std::chrono::minutes(2));
    CHECK(e.cleanup_interval == std::chrono::seconds(30));
    CHECK(e.bandwidth == "08:00,20M 19:00,off");
    CHECK(e.backoff.base == std::chrono::seconds(1));
    CHECK(e.backoff.cap == std::chrono::minutes(5));
    CHECK(e.backoff.max_attempts == 7);
    CHECK(d.admin_socket_mode == 0660);
    CHECK(d.admin_socket_group == "labsync");
    CHECK(d.log_format_value == log_format::json);
    CHECK(d.log_level == "debug");
    CHECK(d.watchdog_stall == std::chrono::minutes(10));
    REQUIRE(e.equipment.size() == 3);
    const auto& s = e.equipment[0];
    CHECK(s.name == "scope-1");
    CHECK(s.marker_name == "acq.done");
    CHECK(s.settle == std::chrono::seconds(45));
    CHECK(s.retention == std::chrono::hours(24 * 14));
    CHECK(s.watermark.min_free_bytes == 50ULL << 30);
    CHECK(s.watermark.min_free_percent == Approx(12.5));
    CHECK(s.max_parallel == 2);
    CHECK(s.gate.max_bytes == 2ULL << 40);
    CHECK(s.gate.max_files == 100000);
    CHECK(s.gate.meta_json_required);
    CHECK(s.gate.external_command == std::vector<std::string>{"/usr/local/bin/check-run", "--strict"});
    REQUIRE(kind_of(s.transport) == labsync::engine::transport_kind::http_put);
    const auto& http = std::get<http_put_config>(s.transport);
    CHECK(http.token_file == "/etc/labsync/secrets/token");  // relative to the file
    CHECK(http.connect_timeout == std::chrono::seconds(5));
    REQUIRE(kind_of(e.equipment[1].transport) == labsync::engine::transport_kind::rsync_ssh);
    CHECK(std::get<rsync_ssh_config>(e.equipment[1].transport).port == 2222);
    CHECK_FALSE(e.equipment[1].cleanup_enabled);
    REQUIRE(kind_of(e.equipment[2].transport) == labsync::engine::transport_kind::rclone);
    CHECK(std::get<rclone_config>(e.equipment[2].transport).remote == "s3:bucket/det-3");
}

TEST_CASE("bad configs: each error names file, line, key and why", "[config]") {
    struct bad {
        std::string name, text, key, message;
        int line;
    };
    const std::vector<bad> cases = {
        {"TOML syntax", "[global\nstate_dir = 1", "", "TOML syntax", 1},
        {"unknown global key", minimal("stat_dir = \"/x\"", ""), "global.stat_dir", "unknown key", 3},
        {"unknown equipment key", minimal("", "markr = \"x\""), "equipment.a.markr", "unknown key", 6},
        {"transport key in the equipment table", minimal("", "url = \"https://x\""), "equipment.a.url",
         "transport settings go in [equipment.a.transport]", 6},
        {"key of another transport", minimal("", "", "url = \"https://c:1\"\nhost = \"nas\""),
         "equipment.a.transport.host", "belongs to transport rsync_ssh", 10},
        {"bad equipment name", "[global]\nstate_dir = \"/s\"\n[equipment.\"scope 1\"]\nruns_root = \"/r\"\n",
         "equipment.scope 1", "may only contain", 3},
        {"equipment named .tmp (the receiver's temp dir)",
         "[global]\nstate_dir = \"/s\"\n[equipment.\".tmp\"]\nruns_root = \"/r\"\n", "equipment..tmp",
         "is reserved", 3},
        {"equipment name with a leading dot",
         "[global]\nstate_dir = \"/s\"\n[equipment.\".scope\"]\nruns_root = \"/r\"\n", "equipment..scope",
         "starts with '.'", 3},
        {"missing state_dir",
         "[global]\n[equipment.a]\nruns_root = \"/r\"\n[equipment.a.transport]\nkind = "
         "\"http_put\"\nurl = \"https://c:1\"\n",
         "global.state_dir", "is required", 1},
        {"missing runs_root",
         "[global]\nstate_dir = \"/s\"\n[equipment.a]\n[equipment.a.transport]\nkind = "
         "\"http_put\"\nurl = \"https://c:1\"\n",
         "equipment.a.runs_root", "is required", 3},
        {"unknown transport kind",
         minimal("", "", "").replace(minimal("", "", "").find("http_put"), 8, "ftp"),
         "equipment.a.transport.kind", "is not a transport", 8},
        {"http url without scheme", minimal("", "", "url = \"collector:8443\""), "equipment.a.transport.url",
         "must start with http:// or https://", 9},
        {"bad duration unit", minimal("", "settle = \"30x\""), "equipment.a.settle", "unknown unit \"x\"", 6},
        {"negative duration", minimal("", "settle = -5"), "equipment.a.settle", "negative", 6},
        {"bad size", minimal("", "min_free = \"50Q\""), "equipment.a.min_free", "unknown unit", 6},
        {"integer out of range", minimal("max_parallel = 0", ""), "global.max_parallel",
         "out of range 1..256", 3},
        {"wrong type", minimal("", "cleanup = \"yes\""), "equipment.a.cleanup", "must be true or false", 6},
        {"bad timetable", minimal("bandwidth = \"08:00,20X\"", ""), "global.bandwidth", "bandwidth timetable",
         3},
        {"bad log format", minimal("log_format = \"xml\"", ""), "global.log_format", "not one of auto, text",
         3},
        {"bad socket mode", minimal("admin_socket_mode = \"0999\"", ""), "global.admin_socket_mode",
         "must be octal", 3},
        {"bad metrics address", minimal("metrics_listen = \"localhost\"", ""), "global.metrics_listen",
         "must be HOST:PORT", 3},
        {"backoff cap below base", minimal("[global.backoff]\nbase = \"10m\"\ncap = \"1m\"", ""),
         "global.backoff.cap", "must not be smaller than base", 5},
        {"client cert without key", minimal("", "", "url = \"https://c:1\"\nclient_cert = \"/c.pem\""),
         "equipment.a.transport.client_cert", "go together", 10},
        {"marker with a slash", minimal("", "marker = \"a/b\""), "equipment.a.marker", "plain file name", 6},
        {"missing transport", "[global]\nstate_dir = \"/s\"\n[equipment.a]\nruns_root = \"/r\"\n",
         "equipment.a.transport", "is required", 3},
        {"percent out of range", minimal("", "min_free_percent = 150"), "equipment.a.min_free_percent",
         "out of range 0..100", 6},
        {"shutdown grace too long", minimal("shutdown_grace = \"60s\"", ""), "global.shutdown_grace",
         "at most 25s", 3},
        {"sub-second settle", minimal("", "settle = \"1500ms\""), "equipment.a.settle", "whole seconds", 6},
    };
    for (const auto& c : cases) {
        SECTION(c.name) {
            config_error e = only_error(c.text);
            INFO(e.to_string());
            CHECK(e.file == "syncd.toml");
            CHECK(e.key == c.key);
            CHECK_THAT(e.message, Catch::Contains(c.message));
            CHECK(e.line == c.line);
            CHECK_THAT(e.to_string(), Catch::StartsWith("syncd.toml:" + std::to_string(c.line) + ":"));
        }
    }
}

TEST_CASE("two equipment with the same runs_root, and nested roots, are refused", "[config]") {
    std::string text = minimal("", "") +
                       "[equipment.b]\nruns_root = \"/r\"\n[equipment.b.transport]\nkind = "
                       "\"rclone\"\nremote = \"x:y\"\nconfig_file = \"/rc.conf\"\n";
    config_error e = only_error(text);
    CHECK(e.key == "equipment.b.runs_root");
    CHECK_THAT(e.message, Catch::Contains("already the runs_root of equipment a"));

    std::string nested = minimal("", "") +
                         "[equipment.b]\nruns_root = \"/r/sub\"\n[equipment.b.transport]\nkind = "
                         "\"rclone\"\nremote = \"x:y\"\nconfig_file = \"/rc.conf\"\n";
    config_error n = only_error(nested);
    CHECK(n.key == "equipment.b.runs_root");
    CHECK_THAT(n.message, Catch::Contains("inside the runs_root of equipment a"));
}

TEST_CASE("runs roots that are one directory through a symlink, or nested through one, are refused",
          "[config]") {
    // Before: compared as spelled, so scope-a on real/ and scope-b on link -> real passed `config
    // check` and every run was stored twice, under two equipment names.
    labsync::test::temp_dir tmp;
    std::filesystem::create_directories(tmp / "real" / "sub");
    std::filesystem::create_directory_symlink(tmp / "real", tmp / "link");
    const auto two = [&](const std::filesystem::path& a, const std::filesystem::path& b) {
        std::string text = "[global]\nstate_dir = \"/s\"\n";
        for (auto [name, root] : {std::pair{"a", a}, std::pair{"b", b}}) {
            text += "[equipment." + std::string(name) + "]\nruns_root = \"" + root.string() + "\"\n";
            text += "[equipment." + std::string(name) +
                    ".transport]\nkind = \"rclone\"\nremote = \"x:" + name +
                    "\"\nconfig_file = \"/rc.conf\"\n";
        }
        return text;
    };
    SECTION("same directory through a symlink") {
        config_error e = only_error(two(tmp / "real", tmp / "link"));
        CHECK(e.key == "equipment.b.runs_root");
        CHECK(e.line == 10);  // b's runs_root (after a's 8 lines: rclone now requires config_file)
        CHECK_THAT(e.message, Catch::Contains("already the runs_root of equipment a"));
    }
    SECTION("same directory through a symlink, declared the other way round") {
        config_error e = only_error(two(tmp / "link", tmp / "real"));
        CHECK(e.key == "equipment.b.runs_root");
        CHECK_THAT(e.message, Catch::Contains("already the runs_root of equipment a"));
    }
    SECTION("same directory spelled with ..") {
        config_error e = only_error(two(tmp / "real", tmp / "real" / "sub" / ".."));
        CHECK_THAT(e.message, Catch::Contains("already the runs_root of equipment a"));
    }
    SECTION("nested through a symlink") {
        config_error e = only_error(two(tmp / "real", tmp / "link" / "sub"));
        CHECK(e.key == "equipment.b.runs_root");
        CHECK_THAT(e.message, Catch::Contains("inside the runs_root of equipment a"));
        CHECK_THAT(e.message, Catch::Contains((tmp / "real" / "sub").string()));
    }
    SECTION("nested through a symlink, not yet created") {
        config_error e = only_error(two(tmp / "link" / "new" / "deeper", tmp / "real" / "new"));
        CHECK(e.key == "equipment.a.runs_root");
        CHECK_THAT(e.message, Catch::Contains("inside the runs_root of equipment b"));
    }
    SECTION("siblings are fine") {
        std::filesystem::create_directories(tmp / "other");
        load_result r = load_config_text(two(tmp / "link" / "sub", tmp / "other"), "syncd.toml", "/");
        INFO(format_errors(r.errors));
        CHECK(r.ok());
    }
}

TEST_CASE("dir_overlap_of: one directory by canonical path or by device and inode (bind mounts)",
          "[config]") {
    using labsync::config::dir_chain;
    using labsync::config::dir_overlap;
    using labsync::config::dir_overlap_of;
    const auto node = [](const char* path, std::uint64_t ino) {
        return labsync::config::dir_node{path, std::pair<std::uint64_t, std::uint64_t>{1, ino}};
    };
    const dir_chain data_x{node("/data/x", 10), node("/data", 2), node("/", 1)};
    const dir_chain mnt_y{node("/mnt/y", 10), node("/mnt", 3), node("/", 1)};  // bind mount of /data/x
    const dir_chain mnt_y_sub{node("/mnt/y/sub", 11), node("/mnt/y", 10), node("/mnt", 3), node("/", 1)};
    const dir_chain other{node("/data/z", 12), node("/data", 2), node("/", 1)};
    const dir_chain missing{
        {"/data/x/new", std::nullopt}, node("/data/x", 10), node("/data", 2), node("/", 1)};
    CHECK(dir_overlap_of(mnt_y, data_x) == dir_overlap::same);
    CHECK(dir_overlap_of(mnt_y_sub, data_x) == dir_overlap::inside);
    CHECK(dir_overlap_of(data_x, mnt_y_sub) == dir_overlap::none);
    CHECK(dir_overlap_of(other, data_x) == dir_overlap::none);
    CHECK(dir_overlap_of(missing, mnt_y) == dir_overlap::inside);
    CHECK(dir_overlap_of(missing, other) == dir_overlap::none);
}

TEST_CASE("several problems are all reported", "[config]") {
    load_result r =
        load_config_text(minimal("bogus = 1\nmax_parallel = -1", "settle = \"x\""), "f.toml", "/");
    CHECK(r.errors.size() == 3);
}

TEST_CASE("an unreadable file is reported with its path", "[config]") {
    load_result r = load_config("/nonexistent/syncd.toml");
    REQUIRE(r.errors.size() == 1);
    CHECK_THAT(r.errors[0].to_string(), Catch::StartsWith("/nonexistent/syncd.toml: cannot read"));
}

TEST_CASE("cleanup_rehash: global default, per-equipment override, unset by default", "[config]") {
    load_result plain = load_config_text(minimal("", ""), "syncd.toml", "/etc/labsync");
    REQUIRE(plain.ok());
    CHECK_FALSE(plain.config.engine.cleanup_rehash);
    CHECK_FALSE(plain.config.engine.equipment[0].cleanup_rehash.has_value());
    load_result global = load_config_text(minimal("cleanup_rehash = true", ""), "syncd.toml", "/etc/labsync");
    REQUIRE(global.ok());
    CHECK(global.config.engine.cleanup_rehash);
    CHECK_FALSE(global.config.engine.equipment[0].cleanup_rehash.has_value());
    load_result own = load_config_text(minimal("cleanup_rehash = true", "cleanup_rehash = false"),
                                       "syncd.toml", "/etc/labsync");
    REQUIRE(own.ok());
    CHECK(own.config.engine.equipment[0].cleanup_rehash == false);
    const auto e = only_error(minimal("", "cleanup_rehash = 1"));
    CHECK(e.key == "equipment.a.cleanup_rehash");
    CHECK_THAT(e.message, Catch::Contains("must be true or false"));
    CHECK(only_error(minimal("cleanup_rehash = \"no\"", "")).key == "global.cleanup_rehash");
}
