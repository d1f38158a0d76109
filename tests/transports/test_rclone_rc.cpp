// The pure half of driving `rclone rcd`: argv, call bodies, answer parsers, and the
// classification of error answers.
#include "labsync/transports/classify_rclone.hpp"
#include "labsync/transports/rclone_rc.hpp"

#include <nlohmann/json.hpp>

#include <catch2/catch.hpp>

#include <algorithm>

using namespace labsync::transports;
using json = nlohmann::json;

TEST_CASE("rclone rcd argv: loopback port 0, no write timeout, credentials never on argv", "[rclone][rc]") {
    rclone_config c;
    c.config_file = "/etc/x.conf";
    c.extra_args = {"--sftp-foo"};
    const auto argv = rclone_rcd_argv(c);
    auto at = [&](const std::string& v) { return std::find(argv.begin(), argv.end(), v); };
    CHECK(argv[0] == "rclone");
    CHECK(argv[1] == "rcd");
    REQUIRE(at("--rc-addr") != argv.end());
    CHECK(*(at("--rc-addr") + 1) == "127.0.0.1:0");
    REQUIRE(at("--rc-server-write-timeout") != argv.end());
    CHECK(*(at("--rc-server-write-timeout") + 1) == "0s");
    CHECK(at("/etc/x.conf") != argv.end());
    CHECK(at("--sftp-foo") != argv.end());
    CHECK(at("--rc") == argv.end());  // rcd refuses --rc
    for (const auto& a : argv) {
        CHECK(a.find("--rc-pass") == std::string::npos);
        CHECK(a.find("--rc-user") == std::string::npos);
    }
    CHECK(rc_url_port("http://127.0.0.1:40911/") == "40911");
    CHECK_FALSE(rc_url_port("http://10.0.0.1:1/"));
    CHECK_FALSE(rc_url_port("http://127.0.0.1:/"));
    CHECK_FALSE(rc_url_port("http://127.0.0.1:12x/"));
}

TEST_CASE("rclone rc bodies", "[rclone][rc]") {
    auto list = json::parse(rc_list_body("nas:base/eq/r1", false));
    CHECK(list["fs"] == "nas:base/eq/r1");
    CHECK(list["remote"] == "");
    CHECK(list["_config"]["LowLevelRetries"] == 1);  // fail fast, as --low-level-retries 1
    CHECK_FALSE(list["opt"].contains("recurse"));
    auto hashed = json::parse(rc_list_body("nas:base/eq/r1", true));
    CHECK(hashed["opt"]["recurse"] == true);
    CHECK(hashed["opt"]["showHash"] == true);
    CHECK(hashed["opt"]["hashTypes"] == json::array({"sha256"}));
    CHECK_FALSE(hashed.contains("_config"));
    auto sync = json::parse(rc_sync_body("/runs/r1", "nas:eq/.labsync-staging/r1", "labsync-ab"));
    CHECK(sync["srcFs"] == "/runs/r1");
    CHECK(sync["dstFs"] == "nas:eq/.labsync-staging/r1");
    CHECK(sync["_group"] == "labsync-ab");
    CHECK_FALSE(sync.contains("_config"));  // the transfer keeps its low-level retries
    auto move = json::parse(rc_move_body("nas:a", "nas:b"));
    CHECK(move["srcFs"] == "nas:a");
    CHECK(move["dstFs"] == "nas:b");
    CHECK(move["deleteEmptySrcDirs"] == true);
    CHECK(json::parse(rc_bwlimit_body(0))["rate"] == "off");
    CHECK(json::parse(rc_bwlimit_body(4096))["rate"] == "4096B");
    CHECK(json::parse(rc_group_body("g"))["group"] == "g");
    CHECK(json::parse(rc_fsinfo_body("nas:"))["fs"] == "nas:");
}

TEST_CASE("rclone rc answers are parsed", "[rclone][rc]") {
    CHECK(rc_error_text(R"({"error":"error in ListJSON: directory not found","status":404})") ==
          "error in ListJSON: directory not found");
    CHECK(rc_error_text("Unauthorized\n") == "Unauthorized");
    CHECK(rc_error_text("") == "empty answer");
    auto s = parse_rc_stats(R"({"bytes":6,"totalBytes":10,"errors":0})");
    REQUIRE(s);
    CHECK(s->bytes == 6);
    CHECK(s->total_bytes == 10);
    CHECK_FALSE(parse_rc_stats("{}"));
    CHECK_FALSE(parse_rc_stats("nope"));
    CHECK(rc_list_nonempty(R"({"list":[]})") == false);
    CHECK(rc_list_nonempty(R"({"list":[{"Path":"a"}]})") == true);
    CHECK_FALSE(rc_list_nonempty("{}").has_value());
}

TEST_CASE("rclone rc hash listing becomes a manifest, strictly", "[rclone][rc]") {
    const std::string h(64, 'a');
    std::error_code ec;
    std::string why;
    auto m = parse_rc_hash_list(
        R"({"list":[{"Path":"sub/b","Size":3,"IsDir":false,"Hashes":{"sha256":")" + h +
            R"("}},{"Path":"sub","IsDir":true},{"Path":"a b","Size":0,"Hashes":{"sha256":")" + h + R"("}}]})",
        ec, &why);
    REQUIRE_FALSE(ec);
    REQUIRE(m.entries().size() == 2);
    CHECK(m.entries()[0].path == "a b");  // sorted by bytes
    CHECK(m.entries()[1].path == "sub/b");
    CHECK(m.entries()[1].size == 3);
    CHECK(m.to_sha256sum() == h + "  a b\n" + h + "  sub/b\n");
    parse_rc_hash_list(R"({"list":[{"Path":"x","Size":1,"Hashes":{}}]})", ec, &why);
    CHECK(ec);
    CHECK(why.find("no SHA-256 for 'x'") != std::string::npos);
    parse_rc_hash_list(R"({"list":[{"Path":"../x","Hashes":{"sha256":")" + h + R"("}}]})", ec, &why);
    CHECK(ec);
    parse_rc_hash_list(R"({"list":[{"Path":"x","Hashes":{"sha256":")" + h +
                           R"("}},{"Path":"x","Hashes":{"sha256":")" + h + R"("}}]})",
                       ec, &why);
    CHECK(ec);
    CHECK(why.find("duplicate") != std::string::npos);
    parse_rc_hash_list("[]", ec, &why);
    CHECK(ec);
    auto empty = parse_rc_hash_list(R"({"list":[]})", ec, &why);
    CHECK_FALSE(ec);
    CHECK(empty.entries().empty());
}

TEST_CASE("rclone rc error answers map to their kind", "[rclone][rc][classify]") {
    const std::tuple<int, std::string, error_kind> cases[] = {
        {500,
         "couldn't connect SSH: ssh: handshake failed: ssh: unable to authenticate, attempted methods [none "
         "publickey], no supported methods remain",
         error_kind::auth},
        {500, "couldn't connect SSH: ssh: handshake failed: knownhosts: key is unknown", error_kind::auth},
        {500, "couldn't connect SSH: dial tcp 127.0.0.1:1: connect: connection refused", error_kind::network},
        {0, "directory not found", error_kind::local_file_vanished},
        {0, "object not found", error_kind::local_file_vanished},
        {404, "error in ListJSON: directory not found", error_kind::local_file_vanished},
        {0, "write /d/x: no space left on device", error_kind::network},
        {400, "Didn't find key \"srcFs\" in input", error_kind::unknown},
        {500, "something else", error_kind::unknown},
    };
    for (const auto& [status, text, kind] : cases) {
        INFO(status << " " << text);
        CHECK(classify_rclone_rc(status, text) == kind);
    }
}
