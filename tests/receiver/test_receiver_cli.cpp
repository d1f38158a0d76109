// The receiver's command line and --config file: refusals name what is wrong; a TOML config
// applies like the options.
#include "notify_listener.hpp"
#include "receiver_client.hpp"

#include <catch2/catch.hpp>

#include <csignal>

using namespace labsync::test;
using namespace std::chrono_literals;

namespace {

run_result receiver(std::vector<std::string> args) {
    args.insert(args.begin(), receiver_fixture::default_binary());
    process_options o;
    o.timeout = 10s;
    return run_process(args, o);
}

}  // namespace

TEST_CASE("the receiver refuses to start without credentials or with bad files", "[receiver][cli]") {
    temp_dir tmp;
    auto store = (tmp / "store").string();
    auto r = receiver({"--listen", "127.0.0.1:0", "--store", store});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("no --tokens given") != std::string::npos);
    write_file(tmp / "tokens", "# ok\nshort eq1\n");
    r = receiver({"--listen", "127.0.0.1:0", "--store", store, "--tokens", (tmp / "tokens").string()});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("tokens:2: token is shorter") != std::string::npos);
    r = receiver({"--listen", "127.0.0.1:0", "--store", store, "--tokens", (tmp / "missing").string()});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("missing: cannot read: No such file or directory") != std::string::npos);
    r = receiver(
        {"--listen", "127.0.0.1:0", "--store", store, "--insecure-no-auth", "--check-threads", "10"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--check-threads: `10` is not between 1 and 9") != std::string::npos);
    r = receiver(
        {"--listen", "127.0.0.1:0", "--store", store, "--insecure-no-auth", "--check-memory", "lots"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--check-memory: `lots` is not a byte count") != std::string::npos);
    // An unreadable --config says why (the OS's reason), not only that it could not be opened.
    r = receiver({"--config", (tmp / "absent.toml").string(), "--store", store});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("absent.toml: cannot read: No such file or directory") != std::string::npos);
    write_file(tmp / "commits", "v1.0\n");
    r = receiver({"--listen", "127.0.0.1:0", "--store", store, "--insecure-no-auth", "--allowed-commits",
                  (tmp / "commits").string()});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("commits:1: `v1.0` is not a git commit") != std::string::npos);
    r = receiver({"--listen", "nohost", "--store", store, "--insecure-no-auth"});
    CHECK(r.exit_code == 2);
    r = receiver({"--listen", "127.0.0.1:0", "--store", store, "--insecure-no-auth", "--max-body", "lots"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--max-body") != std::string::npos);
    r = receiver({"--listen", "127.0.0.1:0", "--store", store, "--insecure-no-auth", "--tls-cert", "x.pem"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("go together") != std::string::npos);
    write_file(tmp / "bad.toml", "bogus = 1\n");
    r = receiver({"--config", (tmp / "bad.toml").string(), "--store", store});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("unknown key `bogus`") != std::string::npos);
    for (const char* action : {"help = true\n", "version = true\n", "config = \"other.toml\"\n"}) {
        write_file(tmp / "action.toml", action);
        r = receiver({"--config", (tmp / "action.toml").string(), "--store", store, "--insecure-no-auth"});
        CHECK(r.exit_code == 2);
        CHECK(r.err.find("is a command-line action, not a setting") != std::string::npos);
    }
    write_file(tmp / "broken.toml", "listen = \n");
    r = receiver({"--config", (tmp / "broken.toml").string(), "--store", store});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("broken.toml:1") != std::string::npos);
}

TEST_CASE("a --tokens file others can read is warned about, one others can write is refused",
          "[receiver][cli]") {
    // Before: accepted silently whatever its mode. Like ssh with a private key: group/world-readable
    // warns at start, group/world-writable (anyone could grant themselves every equipment) refuses.
    temp_dir tmp;
    const auto tokens = tmp / "tokens";
    write_secret_file(tokens, std::string(receiver_options::eq1_token) + " eq1\n");
    const auto store = (tmp / "store").string();

    std::filesystem::permissions(tokens, std::filesystem::perms(0666));
    auto r = receiver({"--listen", "127.0.0.1:0", "--store", store, "--tokens", tokens.string()});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains(tokens.string() + " (mode 0666) is writable by group and others"));
    CHECK_THAT(r.err, Catch::Contains("refusing to start"));
    CHECK_THAT(r.err, Catch::Contains("chmod 600"));
    std::filesystem::permissions(tokens, std::filesystem::perms(0620));
    r = receiver({"--listen", "127.0.0.1:0", "--store", store, "--tokens", tokens.string()});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("(mode 0620) is writable by group"));

    for (auto [mode, warned] : {std::pair{0644, true}, std::pair{0640, true}, std::pair{0600, false}}) {
        INFO("mode " << std::oct << mode);
        std::filesystem::permissions(tokens, std::filesystem::perms(mode));
        child_process rx({receiver_fixture::default_binary(), "--listen", "127.0.0.1:0", "--store", store,
                          "--tokens", tokens.string()});
        auto line = rx.wait_for_line("listening on");
        REQUIRE(line);
        // Serving (so its SIGTERM handler is installed) before it is stopped.
        const int port = std::stoi(line->substr(line->rfind(':') + 1));
        CHECK(raw_status(port, "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n") == 200);
        const auto err = rx.stderr_text();
        CHECK((err.find(tokens.string() + " (mode") != std::string::npos) == warned);
        if (warned) CHECK_THAT(err, Catch::Contains("is readable by group") && Catch::Contains("warn"));
        auto stopped = rx.stop(SIGTERM);
        REQUIRE(stopped);
        CHECK(stopped->exit_code == 0);
    }
}

TEST_CASE("a TOML config file (--config) sets the same options", "[receiver][cli]") {
    temp_dir tmp;
    write_file(tmp / "tokens", std::string(receiver_options::eq1_token) + " eq1\n");
    write_file(tmp / "rx.toml", "listen = \"127.0.0.1:0\"\nstore = \"" + (tmp / "store").string() +
                                    "\"\ntokens = \"" + (tmp / "tokens").string() +
                                    "\"\nmax-body = \"1K\"\nno-member-check = true\nheader-timeout = 5\n");
    child_process rx({receiver_fixture::default_binary(), "--config", (tmp / "rx.toml").string()});
    auto line = rx.wait_for_line("listening on ");
    REQUIRE(line);
    int port = std::stoi(line->substr(line->rfind(':') + 1));
    std::string url = "http://127.0.0.1:" + std::to_string(port) + "/v1/runs/eq1/r1";
    auto small = make_blob(tmp / "small", 1000, 1);
    auto big = make_blob(tmp / "big", 2000, 2);
    auto put = [&](const std::filesystem::path& f) {
        return curl(url, {"-T", f.string(), "-H", "X-Content-SHA256: " + sha256_of_file(f), "-H",
                          "Authorization: Bearer " + std::string(receiver_options::eq1_token)});
    };
    CHECK(put(big).status == 413);    // max-body from the file
    CHECK(put(small).status == 201);  // a blob passes: no-member-check from the file
    auto end = rx.stop(SIGTERM, 10s);
    REQUIRE(end);
    CHECK(end->exit_code == 0);
}

TEST_CASE("Expect: 100-continue on a stored run is answered without the body", "[receiver][cli]") {
    receiver_fixture rx(blob_options());
    temp_dir tmp;
    auto blob = make_blob(tmp / "a", 5000, 3);
    auto sha = sha256_of_file(blob);
    REQUIRE(curl_put(rx, "eq1", "r1", blob).status == 201);
    for (auto [claimed, expected] :
         {std::pair{sha, "HTTP/1.1 200"}, std::pair{std::string(64, 'b'), "HTTP/1.1 409"}}) {
        raw_conn c(rx.port());
        c.send("PUT /v1/runs/eq1/r1 HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + rx.token() +
               "\r\nX-Content-SHA256: " + claimed +
               "\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n");
        auto got = c.read_until("\r\n\r\n");
        CHECK(got.starts_with(expected));
    }
}

TEST_CASE("Expect: 100-continue on a stored run over --max-body: 200 or 409 from the record, not 413",
          "[receiver][cli]") {
    // A sender that crashed after its resumable upload completed re-ships the run with one PUT
    // (it finds the run stored): the receiver must answer from the stored copy, whatever its size.
    temp_dir tmp;
    auto blob = make_blob(tmp / "a", 5000, 3);
    auto sha = sha256_of_file(blob);
    auto options = blob_options();
    options.store = tmp / "store";
    {
        receiver_fixture first(options);
        REQUIRE(curl_put(first, "eq1", "r1", blob).status == 201);
    }
    options.extra_args.insert(options.extra_args.end(), {"--max-body", "1K"});
    receiver_fixture rx(options);
    for (auto [claimed, expected] :
         {std::pair{sha, "HTTP/1.1 200"}, std::pair{std::string(64, 'b'), "HTTP/1.1 409"},
          std::pair{std::string(64, 'c'), "HTTP/1.1 409"}}) {
        raw_conn c(rx.port());
        c.send("PUT /v1/runs/eq1/r1 HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + rx.token() +
               "\r\nX-Content-SHA256: " + claimed +
               "\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n");
        CHECK(c.read_until("\r\n\r\n").starts_with(expected));
    }
    // A run not stored yet is still refused before its body.
    raw_conn c(rx.port());
    c.send("PUT /v1/runs/eq1/r2 HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + rx.token() +
           "\r\nX-Content-SHA256: " + sha + "\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n");
    CHECK(c.read_until("\r\n\r\n").starts_with("HTTP/1.1 413"));
}

TEST_CASE("under systemd the receiver sends READY, WATCHDOG and STOPPING", "[receiver][cli][watchdog]") {
    temp_dir tmp;
    notify_listener notify(tmp / "notify.sock");
    process_options o;
    o.env = {{"NOTIFY_SOCKET", notify.path().string()}, {"WATCHDOG_USEC", "200000"}};
    child_process p({receiver_fixture::default_binary(), "--listen", "127.0.0.1:0", "--store",
                     (tmp / "store").string(), "--insecure-no-auth"},
                    o);
    REQUIRE(p.wait_for_line("listening on", 10s));
    auto ready = notify.wait_for("READY=1", 5s);
    REQUIRE(ready);
    // Two pings after READY: they come from the running event loop, not once at start.
    auto first = notify.wait_for("WATCHDOG=1", 3s, ready->at);
    REQUIRE(first);
    REQUIRE(notify.wait_for("WATCHDOG=1", 3s, first->at + 1ms));
    auto stopped = p.stop(SIGTERM, 10s);
    REQUIRE(stopped);
    CHECK(stopped->exit_code == 0);
    CHECK(notify.wait_for("STOPPING=1", 3s));
}

TEST_CASE("under systemd, SIGTERM does not wait for the watchdog's next ping", "[receiver][cli][watchdog]") {
    // WATCHDOG_USEC 60 s: the watchdog waits 30 s between pings. Its wait ends with the listener;
    // the detached watchdog loop of old kept the event loop (and the process) alive until then.
    temp_dir tmp;
    notify_listener notify(tmp / "notify.sock");
    process_options o;
    o.env = {{"NOTIFY_SOCKET", notify.path().string()}, {"WATCHDOG_USEC", "60000000"}};
    child_process p({receiver_fixture::default_binary(), "--listen", "127.0.0.1:0", "--store",
                     (tmp / "store").string(), "--insecure-no-auth"},
                    o);
    REQUIRE(p.wait_for_line("listening on", 10s));
    REQUIRE(notify.wait_for("WATCHDOG=1", 5s));  // the first ping; the next is 30 s away
    auto t0 = std::chrono::steady_clock::now();
    auto stopped = p.stop(SIGTERM, 15s);
    REQUIRE(stopped);
    CHECK(stopped->exit_code == 0);
    CHECK(std::chrono::steady_clock::now() - t0 < 5s);
}

TEST_CASE("SIGTERM right after `listening on` is a clean stop (exit 0)", "[receiver][cli]") {
    // The signal handler is registered before the line is printed; it used to be registered
    // only once the event loop ran, so an early SIGTERM killed the receiver by default action.
    for (int i = 0; i < 20; ++i) {
        receiver_fixture rx(blob_options());
        auto end = rx.stop(std::chrono::seconds(10));
        REQUIRE(end);
        CHECK(end->exit_code == 0);
    }
}
