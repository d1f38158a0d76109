// Fault campaign: kill -9 of syncd-receiver during a multi-part resumable upload (docs/protocol.md
// "Resumable uploads"), N iterations (LABSYNC_FAULT_ITERATIONS, default 5 here). Each iteration
// uploads a real archive (`syncd pack` of a generated 3 MiB run) in 256 KiB PATCH parts
// (--max-body 256K, curl --limit-rate 8M so an upload takes ~0.4 s); a second thread kills the
// receiver by PID with SIGKILL after a random delay, having scanned the store just before. The
// receiver is restarted on the same store and port, the client HEADs the offset and resumes.
// Checked: the store never shows anything but complete archives and their sidecars under final
// names (before and after the kill), HEAD after the restart reports at least the last offset a 204
// acknowledged and at most what was sent, the resumed upload completes (201, or 200 when the
// kill hit between publication and answer) and the run is stored exactly once, byte-identical.
#include "fault_env.hpp"
#include "upload_client.hpp"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <random>
#include <set>
#include <thread>

using namespace labsync;
using namespace labsync::fault;

namespace {

constexpr std::uint64_t part_size = 256 * 1024;

// Problems with what a reader of the store could see: every visible file (outside .tmp and
// .uploads) must be the archive or sidecar of a run up to `current`, and every archive complete.
std::vector<std::string> store_problems(const fs::path& store, unsigned current,
                                        const std::vector<std::string>& shas) {
    std::vector<std::string> problems;
    for (const auto& f : visible_files(store)) {
        if (f.starts_with(".uploads/")) continue;
        bool known = false;
        for (unsigned k = 0; k <= current && !known; ++k) {
            auto base = "scope-1/run-" + std::to_string(k);
            if (f == base + ".json") known = true;
            if (f == base + ".tar.zst") {
                known = true;
                if (file_sha256(store / f) != shas[k]) problems.push_back("partial archive visible: " + f);
            }
        }
        if (!known) problems.push_back("unexpected file visible: " + f);
    }
    return problems;
}

struct upload_outcome {
    std::uint64_t acked = 0;     // the last Upload-Offset a 204 (or the creation) acknowledged
    std::uint64_t sent_end = 0;  // end of the last part sent
    int final_status = 0;        // 200/201 when completed; 0 when a request failed
};

// PATCHes `archive` from `offset` to the end in parts; stops at the first failed request.
upload_outcome send_parts(test::upload_client& up, const std::string& location, const fs::path& archive,
                          std::uint64_t offset) {
    const auto size = fs::file_size(archive);
    upload_outcome out{offset, offset, 0};
    while (true) {
        auto end = std::min<std::uint64_t>(offset + part_size, size);
        bool complete = end == size;
        std::vector<std::string> extra;
        if (complete) extra.push_back(test::repr_digest_header(archive));
        out.sent_end = end;
        auto r = up.patch(location, archive, offset, end, complete, extra);
        if (!complete && r.status == 204) {
            offset = out.acked = r.offset();
            continue;
        }
        if (complete && (r.status == 201 || r.status == 200)) {
            out.acked = size;
            out.final_status = r.status;
        }
        return out;
    }
}

}  // namespace

TEST_CASE("kill -9 of syncd-receiver during a resumable upload: HEAD, resume, stored once, identical") {
    const unsigned iterations = env_unsigned("LABSYNC_FAULT_ITERATIONS", 5);
    std::mt19937 rng(env_unsigned("LABSYNC_FAULT_SEED", 42));
    test::temp_dir dir;
    receiver rx(dir / "store", {"--max-body", "256K"});
    const std::string url = "http://127.0.0.1:" + std::to_string(rx.port());
    std::vector<std::string> shas;
    int passed = 0, failed = 0, mid_upload = 0, after_complete = 0;
    for (unsigned i = 0; i < iterations; ++i) {
        INFO("iteration " << i);
        const std::string run = "run-" + std::to_string(i);
        const auto archive = dir / "archives" / (run + ".tar.zst");
        make_run(dir / "runs" / run, 3 << 20, 5000 + i);
        fs::create_directories(archive.parent_path());
        auto packed =
            test::run_process({LABSYNC_SYNCD, "pack", (dir / "runs" / run).string(), archive.string()});
        INFO("syncd pack: " << packed.err);
        REQUIRE(packed.exit_code == 0);
        const auto size = fs::file_size(archive);
        shas.push_back(file_sha256(archive));

        test::upload_client up(url, {"--limit-rate", "8M"});
        auto created = up.create("scope-1", run, size);
        REQUIRE(created.status == 201);
        const auto location = created.header("location");
        REQUIRE(location.starts_with("/v1/uploads/"));

        const int delay_ms = std::uniform_int_distribution<int>(0, 450)(rng);
        const int pid = rx.process().pid();
        std::vector<std::string> seen_before_kill;
        std::thread killer([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
            seen_before_kill = store_problems(rx.store(), i, shas);
            ::kill(pid, SIGKILL);
        });
        auto first = send_parts(up, location, archive, 0);
        killer.join();
        rx.process().wait(std::chrono::seconds(10));
        bool ok = seen_before_kill.empty();
        for (const auto& p : seen_before_kill) FAIL_CHECK("before the kill: " << p);
        auto after_kill = store_problems(rx.store(), i, shas);
        for (const auto& p : after_kill) FAIL_CHECK("after the kill: " << p);
        ok = ok && after_kill.empty();

        rx.restart_same_port();
        int final_status = first.final_status;
        if (final_status == 0) {
            ++mid_upload;
            // The durable offset: everything a 204 acknowledged, nothing past what was sent.
            auto head = up.head(location);
            REQUIRE(head.status == 204);
            const auto offset = head.offset();
            INFO("acknowledged " << first.acked << ", sent up to " << first.sent_end << ", HEAD " << offset);
            CHECK(offset >= first.acked);
            CHECK(offset <= first.sent_end);
            ok = ok && offset >= first.acked && offset <= first.sent_end;
            if (head.header("upload-complete") == "?1") {
                // Killed after the completion was recorded, before its answer.
                final_status = fs::exists(rx.archive("scope-1", run)) ? 200 : 0;
            } else {
                final_status = send_parts(up, location, archive, offset).final_status;
            }
        } else {
            ++after_complete;
        }
        CHECK((final_status == 201 || final_status == 200));
        ok = ok && (final_status == 201 || final_status == 200);

        // Stored exactly once, byte-identical, with its sidecar; nothing else visible.
        auto problems = store_problems(rx.store(), i, shas);
        for (const auto& p : problems) FAIL_CHECK("after the resume: " << p);
        std::set<std::string> runs_files;
        for (const auto& f : visible_files(rx.store()))
            if (f.starts_with("scope-1/")) runs_files.insert(f);
        const bool stored =
            fs::exists(rx.archive("scope-1", run)) && file_sha256(rx.archive("scope-1", run)) == shas[i] &&
            fs::exists(rx.store() / "scope-1" / (run + ".json")) && runs_files.size() == 2 * (i + 1);
        CHECK(stored);
        auto sidecar =
            nlohmann::json::parse(test::read_file(rx.store() / "scope-1" / (run + ".json")), nullptr, false);
        const bool sidecar_ok = sidecar.is_object() && sidecar.value("sha256", "") == shas[i];
        CHECK(sidecar_ok);
        ok = ok && problems.empty() && stored && sidecar_ok;
        (ok ? passed : failed)++;
    }
    std::printf(
        "resumable upload kill -9 campaign: %d passed, %d failed (%u iterations, %d killed mid-upload, %d "
        "after completing; checked: only complete archives + sidecars visible before/after the kill, HEAD "
        "offset >= last acknowledged and <= sent after restart, resumed upload completes, run stored "
        "once with the archive's sha256)\n",
        passed, failed, iterations, mid_upload, after_complete);
    CHECK(failed == 0);
}
