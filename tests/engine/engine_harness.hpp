#pragma once
// Runs a labsync engine on its own io_context thread for component tests, with a manual wall
// clock and an observer that lets a test await "job N reached state S" without sleeping.

#include "labsync/engine/engine.hpp"

#include "fake_transport.hpp"
#include "temp_dir.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <thread>

namespace labsync::test {

class manual_clock {
public:
    queue::time_point now() const {
        std::lock_guard lock(mutex_);
        return now_;
    }
    void advance(std::chrono::milliseconds d) {
        std::lock_guard lock(mutex_);
        now_ += d;
    }

private:
    mutable std::mutex mutex_;
    // An hour ahead of real time: files the test writes (real mtimes) count as settled at once.
    queue::time_point now_ = std::chrono::time_point_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now() + std::chrono::hours(1));
};

class job_observer {
public:
    void on_change(const queue::job& j) {
        std::lock_guard lock(mutex_);
        latest_[j.id] = j;
        history_.push_back(j);
        cv_.notify_all();
    }
    // Waits until job `id` is in `state` (or any job of `run_id` when id == 0).
    std::optional<queue::job> wait_for(std::int64_t id, queue::job_state state,
                                       std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
        std::unique_lock lock(mutex_);
        std::optional<queue::job> found;
        cv_.wait_for(lock, timeout, [&] {
            auto it = latest_.find(id);
            if (it != latest_.end() && it->second.state == state) found = it->second;
            return found.has_value();
        });
        return found;
    }
    std::optional<queue::job> wait_run(const std::string& run_id, queue::job_state state,
                                       std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
        std::unique_lock lock(mutex_);
        std::optional<queue::job> found;
        cv_.wait_for(lock, timeout, [&] {
            for (auto& [id, j] : latest_)
                if (j.run_id == run_id && j.state == state) found = j;
            return found.has_value();
        });
        return found;
    }
    // Waits until job `id` has entered `state` at least `times` times.
    bool wait_entries(std::int64_t id, queue::job_state state, int times,
                      std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
        std::unique_lock lock(mutex_);
        return cv_.wait_for(lock, timeout, [&] {
            int n = 0;
            for (auto& j : history_)
                if (j.id == id && j.state == state) ++n;
            return n >= times;
        });
    }
    // Number of times job `id` entered `state`.
    int entries(std::int64_t id, queue::job_state state) {
        std::lock_guard lock(mutex_);
        int n = 0;
        for (auto& j : history_)
            if (j.id == id && j.state == state) ++n;
        return n;
    }
    // The jobs that entered `state`, in the order they did.
    std::vector<std::int64_t> entered(queue::job_state state) {
        std::lock_guard lock(mutex_);
        std::vector<std::int64_t> ids;
        for (auto& j : history_)
            if (j.state == state) ids.push_back(j.id);
        return ids;
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::map<std::int64_t, queue::job> latest_;
    std::vector<queue::job> history_;
};

// One engine on one io thread. Destroying it closes the engine (checkpoint) and joins the thread.
class engine_runner {
public:
    engine_runner(engine::engine_config config, engine::engine_deps deps) {
        deps.on_job_changed = [this](const queue::job& j) { observer.on_change(j); };
        if (std::getenv("LABSYNC_TEST_LOG") && !deps.log)
            deps.log = [](common::log_level l, std::string_view m) {
                std::fprintf(stderr, "[%s] %.*s\n", std::string(common::to_string(l)).c_str(),
                             static_cast<int>(m.size()), m.data());
            };
        engine_ = std::make_unique<engine::engine>(io_, std::move(config), std::move(deps));
    }
    engine::engine_error open() { return engine_->open(); }
    void start() {
        boost::asio::co_spawn(io_, engine_->async_run(), boost::asio::detached);
        thread_ = std::thread([this] { io_.run(); });
    }
    // Simulated crash: stop the engine without letting anything finish (jobs stay as they are).
    void stop() {
        if (!engine_) return;
        engine_->close();
        engine_.reset();
        if (thread_.joinable()) thread_.join();
    }
    ~engine_runner() { stop(); }
    engine::engine& operator*() { return *engine_; }
    engine::engine* operator->() { return engine_.get(); }

    job_observer observer;

private:
    boost::asio::io_context io_;
    std::unique_ptr<engine::engine> engine_;
    std::thread thread_;
};

// The engine directories (state, outbox, quarantine) under `dir` and two CPU threads; each test
// adds its equipment and timing.
inline engine::engine_config engine_config_under(const std::filesystem::path& dir) {
    engine::engine_config c;
    c.state_dir = dir / "state";
    c.outbox_dir = dir / "outbox";
    c.quarantine_dir = dir / "quarantine";
    c.cpu_threads = 2;
    return c;
}

// Every equipment ships through a fake_transport on `remote`; `clock`, when given, is the wall clock.
inline engine::engine_deps fake_transport_deps(std::shared_ptr<fake_remote> remote,
                                               std::shared_ptr<manual_clock> clock = nullptr) {
    engine::engine_deps d;
    d.transports = [remote](const engine::equipment_config&, const engine::transport_context& ctx,
                            std::string&) {
        return std::make_unique<fake_transport>(remote, ctx.outbox_dir);
    };
    if (clock) d.clock = [clock] { return clock->now(); };
    return d;
}

}  // namespace labsync::test
