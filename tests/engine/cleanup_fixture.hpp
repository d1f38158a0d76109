#pragma once
// The engine cleanup tests' fixture (test_engine_cleanup*.cpp): one http_put-configured equipment
// `seq-2` on a fake remote, a manual clock, a fake disk, the engine's log kept for awaiting a line.

#include "engine_harness.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace labsync::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct cleanup_fixture {
    test::temp_dir dir;
    std::shared_ptr<test::fake_remote> remote = std::make_shared<test::fake_remote>();
    std::shared_ptr<test::manual_clock> clock = std::make_shared<test::manual_clock>();
    std::atomic<std::uint64_t> free_bytes{1ull << 40};
    // When set, replaces free_bytes (read on the engine's thread; set it before start()).
    std::function<std::uint64_t()> free_space;
    // Messages the engine logged, for awaiting one.
    std::mutex log_mutex;
    std::condition_variable logged;
    std::vector<std::string> log_lines;

    engine::engine_config config(std::chrono::seconds retention) {
        auto c = test::engine_config_under(dir.path());
        c.backoff = {1000ms, 8000ms, 3};
        c.cleanup_interval = std::chrono::seconds(3600);
        c.rescan_interval = std::chrono::seconds(0);
        engine::equipment_config e;
        e.name = "seq-2";
        e.runs_root = dir / "runs";
        e.settle = 0s;
        e.watch = false;
        e.retention = retention;
        e.watermark.min_free_bytes = 1ull << 30;
        std::get<transports::http_put_config>(e.transport).url = "http://127.0.0.1:1";
        c.equipment.push_back(e);
        return c;
    }
    engine::engine_deps deps() {
        auto d = test::fake_transport_deps(remote, clock);
        d.random_unit = [] { return 0.0; };
        d.disk_space_of = [this](const fs::path&) {
            return engine::disk_space{free_space ? free_space() : free_bytes.load(), 1ull << 41};
        };
        d.log = [this](common::log_level, std::string_view m) {
            std::lock_guard lock(log_mutex);
            log_lines.emplace_back(m);
            logged.notify_all();
        };
        return d;
    }
    bool wait_log(std::string_view text, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
        std::unique_lock lock(log_mutex);
        return logged.wait_for(lock, timeout, [&] {
            return std::any_of(log_lines.begin(), log_lines.end(),
                               [&](const std::string& l) { return l.find(text) != std::string::npos; });
        });
    }
    fs::path make_run(const std::string& name) {
        const auto run = dir / "runs" / name;
        test::write_file(run / "data/a.bin", "alpha-" + name);
        test::write_file(run / "done.marker", "");
        return run;
    }
    std::unique_ptr<engine_runner> start(std::chrono::seconds retention) { return start(config(retention)); }
    std::unique_ptr<engine_runner> start(engine::engine_config c) {
        auto r = std::make_unique<engine_runner>(std::move(c), deps());
        REQUIRE_FALSE(r->open());
        r->start();
        return r;
    }
};

inline bool has_event(engine::engine& e, std::int64_t id, std::string_view text) {
    auto ev = e.events(id);
    return std::any_of(ev.begin(), ev.end(),
                       [&](const auto& x) { return x.message.find(text) != std::string::npos; });
}

}  // namespace labsync::test
