// The job store refuses a write for a transient reason (here: the disk holding the state dir is
// full, a real 2 MiB tmpfs): the engine retries the transition with backoff and the job goes on
// by itself once space is back, without a restart. Needs root (mount); otherwise SKIPPED.
#include "engine_harness.hpp"
#include "skip.hpp"

#include "labsync/verifier/manifest_builder.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <string>
#include <vector>

using namespace labsync;
using namespace std::chrono_literals;
using queue::job_state;
using test::engine_runner;
namespace fs = std::filesystem;

namespace {

// A tmpfs of `size` at `dir`, unmounted (lazily) when the guard dies.
struct small_tmpfs {
    fs::path dir;
    bool mounted = false;
    small_tmpfs(fs::path d, const std::string& size) : dir(std::move(d)) {
        fs::create_directories(dir);
        mounted = ::mount("none", dir.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
    }
    ~small_tmpfs() {
        if (mounted) ::umount2(dir.c_str(), MNT_DETACH);
    }
};

// Writes `path` until the file system refuses with ENOSPC; true when it did.
bool fill(const fs::path& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return false;
    const std::string block(4096, 'f');
    bool full = false;
    for (;;) {
        const ssize_t n = ::write(fd, block.data(), block.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            full = errno == ENOSPC;
            break;
        }
    }
    ::close(fd);
    return full;
}

struct log_capture {
    std::mutex mutex;
    std::condition_variable cv;
    std::vector<std::string> lines;

    void add(common::log_level level, std::string_view text) {
        std::lock_guard lock(mutex);
        lines.push_back(std::string(common::to_string(level)) + ": " + std::string(text));
        cv.notify_all();
    }
    bool wait_for(std::string_view needle, std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex);
        return cv.wait_for(lock, timeout, [&] {
            for (const auto& l : lines)
                if (l.find(needle) != std::string::npos) return true;
            return false;
        });
    }
};

}  // namespace

TEST_CASE(
    "store faults: the state dir's disk full refuses a transition, the job goes on once space "
    "returns without a restart",
    "[engine][store]") {
    test::temp_dir dir;
    small_tmpfs state(dir / "state", "2m");
    if (!state.mounted) test::skip_test("cannot mount a tmpfs (needs root or CAP_SYS_ADMIN)");

    auto remote = std::make_shared<test::fake_remote>();
    auto cfg = test::engine_config_under(dir.path());
    cfg.rescan_interval = 0s;
    engine::equipment_config e;
    e.name = "scope-1";
    e.runs_root = dir / "runs";
    e.settle = 0s;
    e.watch = false;
    e.retention = std::chrono::hours(1);
    std::get<transports::http_put_config>(e.transport).url = "http://127.0.0.1:1";
    cfg.equipment.push_back(e);

    // The manifest build (the job is `running` by then) waits until the disk is full.
    std::promise<void> disk_full;
    auto disk_full_seen = disk_full.get_future().share();
    auto logs = std::make_shared<log_capture>();
    auto deps = test::fake_transport_deps(remote);
    deps.build_manifest = [disk_full_seen](const fs::path& run, const verifier::build_options& options) {
        disk_full_seen.wait();
        return verifier::build_manifest(run, options);
    };
    deps.log = [logs](common::log_level level, std::string_view text) { logs->add(level, text); };

    test::write_file(dir / "runs/run-1/data.bin", "payload");
    test::write_file(dir / "runs/run-1/done.marker", "");
    engine_runner r(cfg, std::move(deps));
    REQUIRE_FALSE(r.open());
    r.start();
    auto res = r->enqueue(dir / "runs/run-1");
    REQUIRE_FALSE(res.error);
    REQUIRE(r.observer.wait_for(res.job_id, job_state::running, 20s));

    const auto filler = state.dir / "filler";
    REQUIRE(fill(filler));
    disk_full.set_value();
    // running -> awaiting_verify cannot be written while the disk is full.
    REQUIRE(logs->wait_for("transition to awaiting_verify refused", 20s));
    CHECK_FALSE(r.observer.wait_for(res.job_id, job_state::awaiting_verify, 300ms));

    fs::remove(filler);
    auto verified = r.observer.wait_for(res.job_id, job_state::verified, 20s);
    REQUIRE(verified);
    CHECK(verified->attempts == 1);
    CHECK(logs->wait_for("warning: job " + std::to_string(res.job_id) + ": transition to awaiting_verify",
                         0ms));
    r.stop();  // closes the store before the tmpfs goes
}
