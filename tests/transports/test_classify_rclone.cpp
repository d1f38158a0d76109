// One test per row of the rclone classification tables.
#include "labsync/transports/classify_rclone.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace labsync::transports;

namespace {
std::string json_error(const std::string& msg) {
    return R"({"level":"error","msg":")" + msg + R"(","source":"x.go:1","time":"2026-01-01T00:00:00Z"})" +
           "\n";
}
}  // namespace

TEST_CASE("rclone exit codes 0-9 map to their kind", "[rclone][classify]") {
    const std::pair<int, error_kind> cases[] = {
        {0, error_kind::none},
        {1, error_kind::unknown},
        {2, error_kind::unknown},
        {3, error_kind::local_file_vanished},
        {4, error_kind::local_file_vanished},
        {5, error_kind::network},
        {6, error_kind::unknown},
        {7, error_kind::auth},
        {8, error_kind::network},
        {9, error_kind::none},
        {42, error_kind::unknown},
    };
    REQUIRE(rclone_exit_table().size() == 10);
    for (const auto& [code, kind] : cases) {
        INFO("exit " << code);
        CHECK(kind_for_rclone_exit(code) == kind);
        CHECK(classify_rclone(code, "") == kind);
    }
}

TEST_CASE("every rclone message row classifies a real log line", "[rclone][classify]") {
    const std::pair<std::string, error_kind> cases[] = {
        {"couldn't connect SSH: ssh: handshake failed: ssh: unable to authenticate, attempted methods [none "
         "publickey]",
         error_kind::auth},
        {"ssh: handshake failed: knownhosts: key is unknown", error_kind::auth},
        {"ssh: handshake failed: knownhosts: key mismatch", error_kind::auth},
        {"host key mismatch for 10.0.0.1", error_kind::auth},
        {"failed to parse private key file: ssh: no key found", error_kind::auth},
        {"couldn't read ssh key file: open /k: no such file", error_kind::auth},
        {"failed to read private key file", error_kind::auth},
        {"AccessDenied: Access Denied status code: 403", error_kind::auth},
        {"InvalidAccessKeyId: The AWS Access Key Id you provided does not exist", error_kind::auth},
        {"SignatureDoesNotMatch: The request signature we calculated does not match", error_kind::auth},
        {"ExpiredToken: The provided token has expired", error_kind::auth},
        {"oauth2: cannot fetch token: invalid_grant", error_kind::auth},
        {"HTTP error 401 Unauthorized returned body", error_kind::auth},
        {"a.bin: Failed to copy: can't copy - source file is being updated (size changed from 1 to 2)",
         error_kind::local_file_vanished},
        {"can't copy - source file is being updated", error_kind::local_file_vanished},
        {"dial tcp 127.0.0.1:9: connect: connection refused", error_kind::network},
        {"dial tcp 10.0.0.1:22: i/o timeout", error_kind::network},
        {"read tcp: connection reset by peer", error_kind::network},
        {"write tcp: broken pipe", error_kind::network},
        {"dial tcp: lookup nas: no such host", error_kind::network},
        {"connect: no route to host", error_kind::network},
        {"connect: network is unreachable", error_kind::network},
        {"net/http: TLS handshake timeout", error_kind::network},
        {"context deadline exceeded", error_kind::network},
        {"unexpected EOF", error_kind::network},
        {"Failed to copy: write: no space left on device", error_kind::network},
    };
    REQUIRE(rclone_message_table().size() == std::size(cases));
    std::size_t i = 0;
    for (const auto& [text, kind] : cases) {
        INFO(text);
        CHECK(classify_rclone(2, json_error(text)) == kind);
        CHECK(classify_rclone(1, text) == kind);  // plain stderr lines count too
        // The row this case was written for matches it.
        CHECK(rclone_message_table()[i].kind == kind);
        ++i;
    }
}

TEST_CASE("rclone messages: auth outranks network noise, info lines are ignored", "[rclone][classify]") {
    const std::string text =
        json_error("dial tcp: connection reset by peer") + json_error("ssh: unable to authenticate");
    CHECK(classify_rclone(2, text) == error_kind::auth);
    const std::string info = R"({"level":"info","msg":"connection refused earlier, retrying","source":"x"})"
                             "\n";
    CHECK(classify_rclone(5, info) == error_kind::network);
    CHECK(classify_rclone(6, info) == error_kind::unknown);
    auto msgs = rclone_error_messages(info + json_error("boom") + "plain line\n{not json\n");
    REQUIRE(msgs.size() == 3);
    CHECK(msgs[0] == "boom");
    CHECK(msgs[1] == "plain line");
    CHECK(msgs[2] == "{not json");
}
