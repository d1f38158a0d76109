// One bandwidth budget for every transfer (SPEC §10), end to end: the engine with real rclone
// (a local-directory remote) and real rsync over the private sshd, two equipment x two jobs each
// under one global limit. What the four transfers move together, measured by the growth of the
// destination, stays within the limit. Before, each rsync/rclone process got the whole limit
// as its own --bwlimit (four times the budget) and its bytes never debited the budget.
#include "engine_harness.hpp"
#include "sshd_fixture.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

using namespace labsync;
using namespace std::chrono_literals;
using queue::job_state;
using test::engine_runner;
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t limit = 1u << 20;  // 1 MiB/s for everything
constexpr std::size_t run_bytes = 8u << 20;

// Bytes of every regular file below `root` (rsync's hidden temp files and partial files too).
std::uint64_t tree_bytes(const fs::path& root) {
    std::uint64_t total = 0;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
        struct stat st {};
        if (::lstat(it->path().c_str(), &st) == 0 && S_ISREG(st.st_mode))
            total += static_cast<std::uint64_t>(st.st_size);
    }
    return total;
}

void write_noise(const fs::path& path, std::size_t bytes, std::uint64_t seed) {
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    std::uint64_t x = 0x9E3779B97F4A7C15ull * (seed + 1);
    std::string buf(1 << 16, '\0');
    for (std::size_t done = 0; done < bytes; done += buf.size()) {
        for (auto& c : buf) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            c = static_cast<char>(x);
        }
        out.write(buf.data(), static_cast<std::streamsize>(std::min(buf.size(), bytes - done)));
    }
}

// Which jobs have moved bytes (the engine's progress events), awaitable.
struct progress_seen {
    std::mutex mutex;
    std::condition_variable cv;
    std::set<std::int64_t> moving;

    engine::engine_deps deps() {
        engine::engine_deps d;
        d.on_progress = [this](const engine::progress_event& e) {
            if (e.done == 0) return;
            std::lock_guard lock(mutex);
            moving.insert(e.job_id);
            cv.notify_all();
        };
        return d;
    }
    bool wait_all(std::size_t n, std::chrono::seconds timeout) {
        std::unique_lock lock(mutex);
        return cv.wait_for(lock, timeout, [&] { return moving.size() >= n; });
    }
};

struct budget_case {
    test::temp_dir dir;
    progress_seen progress;

    engine::engine_config config(const std::function<void(engine::equipment_config&)>& transport) {
        auto c = test::engine_config_under(dir.path());
        c.rescan_interval = 0s;
        c.bandwidth = "1M";  // all day
        for (const auto* name : {"lab-a", "lab-b"}) {
            engine::equipment_config e;
            e.name = name;
            e.runs_root = dir / "runs" / name;
            e.settle = 0s;
            e.watch = false;
            e.max_parallel = 2;
            e.retention = std::chrono::hours(1);
            transport(e);
            c.equipment.push_back(e);
        }
        return c;
    }

    // Enqueues two big runs per equipment, then samples `dest` while they ship: the bytes moved
    // in the 10 s after all four transfers have moved bytes and their shares settled (1 s).
    std::uint64_t moved_in_ten_seconds(engine_runner& r, const fs::path& dest) {
        std::uint64_t seed = 1;
        for (const auto* eq : {"lab-a", "lab-b"})
            for (const auto* run : {"run-1", "run-2"}) {
                const auto p = dir / "runs" / eq / run;
                write_noise(p / "data.bin", run_bytes, seed++);
                test::write_file(p / "done.marker", "");
                auto res = r->enqueue(p);
                REQUIRE_FALSE(res.error);
            }
        REQUIRE(progress.wait_all(4, 60s));
        // Sampling over time is the measurement itself.
        std::this_thread::sleep_for(1s);
        const auto before = tree_bytes(dest);
        std::this_thread::sleep_for(10s);
        const auto after = tree_bytes(dest);
        REQUIRE(after >= before);
        return after - before;
    }
};

}  // namespace

TEST_CASE("budget: two equipment x two rclone jobs share one global limit", "[engine][bandwidth][rclone]") {
    budget_case t;
    test::write_file(t.dir / "rclone.conf", "[store]\ntype = local\n");
    const auto dest = t.dir / "store";
    fs::create_directories(dest);
    engine_runner r(t.config([&](engine::equipment_config& e) {
        auto& rclone = e.transport.emplace<transports::rclone_config>();
        rclone.remote = "store:" + dest.string();
        rclone.config_file = t.dir / "rclone.conf";
    }),
                    t.progress.deps());
    REQUIRE_FALSE(r.open());
    r.start();
    const auto moved = t.moved_in_ten_seconds(r, dest);
    INFO("moved " << moved << " bytes in 10 s under a limit of " << limit << " bytes/s");
    CHECK(moved <= 11 * limit);  // 1.1 x the limit
    CHECK(moved >= 5 * limit);   // and the budget is used, not starved
}

TEST_CASE("budget: two equipment x two rsync jobs share one global limit", "[engine][bandwidth][rsync]") {
    auto& sshd = test::shared_sshd();
    budget_case t;
    const auto dest = sshd.make_dest("budget");
    engine_runner r(t.config([&](engine::equipment_config& e) {
        auto& p = e.transport.emplace<transports::rsync_ssh_config>();
        p.host = sshd.host();
        p.port = sshd.port();
        p.user = sshd.user();
        p.identity_file = sshd.client_key();
        p.known_hosts = sshd.known_hosts();
        p.dest = dest.string();
    }),
                    t.progress.deps());
    REQUIRE_FALSE(r.open());
    r.start();
    const auto moved = t.moved_in_ten_seconds(r, dest);
    INFO("moved " << moved << " bytes in 10 s under a limit of " << limit << " bytes/s");
    CHECK(moved <= 11 * limit);
    CHECK(moved >= 5 * limit);
}
