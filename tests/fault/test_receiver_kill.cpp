// Fault campaign: kill -9 of syncd-receiver in the middle of an upload, N iterations
// (LABSYNC_FAULT_ITERATIONS, default 5 here). The upload is slowed by the fault proxy (drip) so
// the kill lands mid-body at a random point. After every kill: nothing partial is visible in the
// store (either no archive or the complete one); after the restart (same port) the receiver has
// swept its temporary files and the sender, run again, completes byte-identical.
#include "fault_env.hpp"

#include <csignal>
#include <cstdio>
#include <random>
#include <thread>

using namespace labsync;
using namespace labsync::fault;

TEST_CASE(
    "kill -9 of syncd-receiver mid-upload: nothing partial visible, the sender completes after restart") {
    const unsigned iterations = env_unsigned("LABSYNC_FAULT_ITERATIONS", 5);
    std::mt19937 rng(env_unsigned("LABSYNC_FAULT_SEED", 42));
    test::temp_dir dir;
    receiver rx(dir / "store");
    // Every connection drips: 16 KiB per 5 ms, about 3 MiB/s, so a 2 MiB upload takes ~0.7 s.
    fault_proxy proxy(rx.port(), "drip", 1'000'000, 0, {"--drip-bytes", "16384", "--drip-ms", "5"});
    int passed = 0, failed = 0, mid_body = 0;
    for (unsigned i = 0; i < iterations; ++i) {
        std::string run = "run-" + std::to_string(i);
        INFO("iteration " << i);
        make_run(dir / "runs" / run, 2 << 20, 100 + i);
        std::vector<std::string> argv{LABSYNC_SYNCD,
                                      "put",
                                      "--json",
                                      "--url",
                                      "http://127.0.0.1:" + std::to_string(proxy.port()),
                                      "--equipment",
                                      "scope-1",
                                      "--outbox",
                                      (dir / "outbox").string(),
                                      "--io-timeout",
                                      "3",
                                      (dir / "runs" / run).string()};
        test::child_process sender(argv);
        // The proxy prints `conn N` when the sender connects; then the body is flowing.
        REQUIRE(proxy.process().wait_for_line("conn ", std::chrono::seconds(30)));
        std::this_thread::sleep_for(
            std::chrono::milliseconds(std::uniform_int_distribution<int>(20, 600)(rng)));
        REQUIRE(::kill(rx.process().pid(), SIGKILL) == 0);
        rx.process().wait(std::chrono::seconds(10));
        auto first = sender.wait(std::chrono::seconds(30));
        REQUIRE(first);
        bool ok = true;
        auto stored = rx.archive("scope-1", run);
        // The kill came after the publication: the archive must be the complete one (the re-ship
        // below compares its sha with the stored bytes; a streamed push keeps no outbox copy).
        if (!fs::exists(stored)) {
            ++mid_body;
            ok = ok && first->exit_code != 0;
        }
        CHECK(ok);

        rx.restart_same_port();
        // The restarted receiver removed what the dead one left in .tmp.
        std::size_t leftovers = 0;
        if (fs::exists(rx.store() / ".tmp"))
            for ([[maybe_unused]] auto& e : fs::directory_iterator(rx.store() / ".tmp")) ++leftovers;
        CHECK(leftovers == 0);
        ok = ok && leftovers == 0;

        auto again = syncd_put(rx.port(), "scope-1", dir / "runs" / run, dir / "outbox", 10);
        INFO("re-ship: " << again.doc.dump() << " " << again.err);
        CHECK(again.exit_code == 0);
        bool identical = again.doc.is_object() && fs::exists(stored) &&
                         again.doc.value("shipped_sha256", "") == file_sha256(stored) &&
                         again.doc.value("remote_sha256", "") == file_sha256(stored);
        CHECK(identical);
        ok = ok && again.exit_code == 0 && identical;
        (ok ? passed : failed)++;
    }
    std::printf(
        "receiver kill -9 campaign: %d passed, %d failed (%u iterations, %d killed mid-body; checked: no "
        "partial archive visible after the kill, .tmp swept on restart, re-ship exit 0 with shipped sha == "
        "remote sha == stored bytes)\n",
        passed, failed, iterations, mid_body);
    CHECK(failed == 0);
}
