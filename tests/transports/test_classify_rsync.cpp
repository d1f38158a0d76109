// One test per row of the rsync/ssh classification tables, plus the stderr refinements.
#include "labsync/transports/classify_rsync.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace labsync::transports;

namespace {
struct exit_case {
    int code;
    error_kind kind;
};
}  // namespace

TEST_CASE("rsync exit codes map to their kind, one row each", "[rsync][classify]") {
    const exit_case cases[] = {
        {0, error_kind::none},
        {1, error_kind::unknown},
        {2, error_kind::unknown},
        {3, error_kind::unknown},
        {4, error_kind::unknown},
        {5, error_kind::network},
        {6, error_kind::unknown},
        {10, error_kind::network},
        {11, error_kind::unknown},
        {12, error_kind::network},
        {13, error_kind::unknown},
        {14, error_kind::unknown},
        {20, error_kind::network},
        {21, error_kind::unknown},
        {22, error_kind::unknown},
        {23, error_kind::unknown},
        {24, error_kind::local_file_vanished},
        {25, error_kind::unknown},
        {30, error_kind::network},
        {35, error_kind::network},
        {127, error_kind::binary_missing},
        {255, error_kind::network},
        {99, error_kind::unknown},  // undocumented
    };
    for (const auto& c : cases) {
        INFO("exit " << c.code);
        CHECK(kind_for_rsync_exit(c.code) == c.kind);
        CHECK(classify_rsync(c.code, "") == c.kind);
    }
    CHECK(rsync_exit_table().size() == 22);
    CHECK(rsync_exit_meaning(24) == "partial transfer due to vanished source files");
    CHECK(rsync_exit_meaning(77) == "undocumented rsync exit code");
}

TEST_CASE("every ssh stderr row classifies a real ssh message", "[rsync][classify]") {
    const std::pair<std::string, error_kind> cases[] = {
        {"labsync-test@127.0.0.1: Permission denied (publickey).", error_kind::auth},
        {"u@h: Permission denied (password,keyboard-interactive).", error_kind::auth},
        {"u@h: Permission denied (keyboard-interactive).", error_kind::auth},
        {"u@h: Permission denied (gssapi-keyex,gssapi-with-mic,publickey).", error_kind::auth},
        {"Permission denied, please try again.", error_kind::auth},
        {"Host key verification failed.", error_kind::auth},
        {"@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @", error_kind::auth},
        {"No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.",
         error_kind::auth},
        {"Received disconnect from 10.0.0.1 port 22:2: Too many authentication failures", error_kind::auth},
        {"Unable to negotiate with 10.0.0.1 port 22: no matching host key type found", error_kind::auth},
        {"no such identity: /k/id: No such file or directory", error_kind::auth},
        {"Warning: Identity file /k/id not accessible: No such file or directory.", error_kind::auth},
        {"Load key \"/k/id\": invalid format", error_kind::auth},
        {"ssh: connect to host 127.0.0.1 port 9: Connection refused", error_kind::network},
        {"ssh: connect to host 10.1.1.1 port 22: Connection timed out", error_kind::network},
        {"ssh: connect to host 10.1.1.1 port 22: Operation timed out", error_kind::network},
        {"Read from remote host h: Connection reset by peer", error_kind::network},
        {"Connection closed by 127.0.0.1 port 22", error_kind::network},
        {"ssh: connect to host 10.1.1.1 port 22: No route to host", error_kind::network},
        {"ssh: connect to host 10.1.1.1 port 22: Network is unreachable", error_kind::network},
        {"ssh: Could not resolve hostname nas: Name or service not known", error_kind::network},
        {"client_loop: send disconnect: Broken pipe", error_kind::network},
        {"kex_exchange_identification: read: Connection reset by peer", error_kind::network},
        {"Timeout, server 10.1.1.1 not responding.", error_kind::network},
        {"write failed: No space left on device", error_kind::network},
    };
    REQUIRE(ssh_stderr_table().size() == std::size(cases));
    for (const auto& [text, kind] : cases) {
        INFO(text);
        CHECK(classify_ssh(255, text) == kind);
        CHECK(classify_rsync(255, text) == kind);
        CHECK(classify_rsync(12, text) == kind);
    }
    // Every table row is exercised by one of the messages above.
    for (const auto& row : ssh_stderr_table()) {
        bool used = false;
        for (const auto& [text, kind] : cases) used = used || text.find(row.needle) != std::string::npos;
        INFO(row.needle);
        CHECK(used);
    }
}

TEST_CASE("rsync stderr rows override the exit code", "[rsync][classify]") {
    CHECK(rsync_stderr_table().size() == 4);
    CHECK(classify_rsync(23, "file has vanished: \"/r/a.bin\"") == error_kind::local_file_vanished);
    CHECK(
        classify_rsync(23, "rsync warning: some files vanished before they could be transferred (code 24)") ==
        error_kind::unknown);  // the warning text alone is not a row; the code 24 is
    CHECK(classify_rsync(24, "rsync warning: some files vanished") == error_kind::local_file_vanished);
    CHECK(classify_rsync(23, "partial transfer due to vanished source files") ==
          error_kind::local_file_vanished);
    CHECK(classify_rsync(11, "rsync: write failed on \"/d/x\": No space left on device (28)") ==
          error_kind::network);
    CHECK(classify_rsync(11, "write failed: Disk quota exceeded (122)") == error_kind::network);
}

TEST_CASE("a file permission error is not an ssh auth failure", "[rsync][classify]") {
    const std::string text = "rsync: [sender] send_files failed to open \"/r/a\": Permission denied (13)";
    CHECK(classify_rsync(23, text) == error_kind::unknown);
    CHECK(classify_rsync(12, text) == error_kind::network);
    CHECK(classify_ssh(1, "mv: cannot move 'a' to 'b': Permission denied") == error_kind::unknown);
    CHECK(classify_ssh(255, "") == error_kind::network);
    CHECK(classify_ssh(127, "sh: 1: rsync: not found") == error_kind::binary_missing);
    CHECK(classify_ssh(0, "Permission denied (publickey)") == error_kind::none);
}
