#pragma once
// Helpers shared by the rsync_ssh and rclone driver tests: run one awaitable to completion,
// a fixed rate limiter, run directories and local manifests.

#include "labsync/transports/transport.hpp"
#include "labsync/verifier/manifest_builder.hpp"

#include "temp_dir.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace labsync::test {

template <class F>
auto drive(F&& make_awaitable) {
    boost::asio::io_context io;
    auto fut = boost::asio::co_spawn(io, make_awaitable(), boost::asio::use_future);
    io.run();
    return fut.get();
}

// A budget whose every transfer gets `bytes_per_second`; set() changes the share of the running
// transfers (their watchers are told, as the engine's scheduler does). Counts transfers.
class fixed_limit final : public transports::rate_limiter {
public:
    explicit fixed_limit(std::uint64_t bytes_per_second) : state_(std::make_shared<state>()) {
        state_->rate = bytes_per_second;
    }
    std::unique_ptr<transports::bandwidth_lease> begin_transfer() override {
        std::lock_guard lock(state_->mutex);
        ++state_->transfers;
        auto l = std::make_unique<lease>(state_);
        state_->running.push_back(l.get());
        return l;
    }
    void set(std::uint64_t bytes_per_second) {
        std::lock_guard lock(state_->mutex);
        state_->rate = bytes_per_second;
        for (auto* l : state_->running)
            if (l->watcher) l->watcher(bytes_per_second);
    }
    int transfers() const {
        std::lock_guard lock(state_->mutex);
        return state_->transfers;
    }
    int running() const {
        std::lock_guard lock(state_->mutex);
        return static_cast<int>(state_->running.size());
    }

private:
    class lease;
    struct state {
        mutable std::mutex mutex;
        std::uint64_t rate = 0;
        int transfers = 0;
        std::vector<lease*> running;
    };
    class lease final : public transports::bandwidth_lease {
    public:
        explicit lease(std::shared_ptr<state> s) : state_(std::move(s)) {}
        ~lease() override {
            std::lock_guard lock(state_->mutex);
            std::erase(state_->running, this);
        }
        std::chrono::nanoseconds reserve(std::uint64_t) override { return {}; }
        std::uint64_t rate() const override {
            std::lock_guard lock(state_->mutex);
            return state_->rate;
        }
        void on_change(std::function<void(std::uint64_t)> fn) override {
            std::lock_guard lock(state_->mutex);
            watcher = std::move(fn);
        }
        std::function<void(std::uint64_t)> watcher;

    private:
        std::shared_ptr<state> state_;
    };
    std::shared_ptr<state> state_;
};

inline verifier::manifest local_manifest(const std::filesystem::path& run) {
    auto r = verifier::build_manifest(run);
    if (!r.ok()) throw std::runtime_error("build_manifest " + run.string() + ": " + r.error.message());
    return r.manifest;
}

// A file of `bytes` pseudo-random bytes (incompressible, distinct per seed).
inline void write_random(const std::filesystem::path& path, std::size_t bytes, unsigned seed) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    std::uint64_t x = 0x9E3779B97F4A7C15ull * (seed + 1);
    std::string buf(1 << 16, '\0');
    for (std::size_t done = 0; done < bytes;) {
        for (auto& c : buf) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c = static_cast<char>(x);
        }
        const std::size_t n = std::min(buf.size(), bytes - done);
        out.write(buf.data(), static_cast<std::streamsize>(n));
        done += n;
    }
}

// A push of `run` (its directory name is the run id) for `equipment`, without a local manifest.
inline transports::push_request push_request_for(const std::filesystem::path& run,
                                                 const std::string& equipment) {
    transports::push_request r;
    r.equipment = equipment;
    r.run_id = run.filename().string();
    r.run_path = run;
    return r;
}

// A small run with a nested directory, a name with a space and an empty file.
inline std::filesystem::path make_run(const temp_dir& dir, const std::string& name) {
    const auto run = dir / name;
    write_file(run / "meta.json", "{\"sample\":\"" + name + "\"}\n");
    write_file(run / "images/frame 0001.raw", std::string(70000, 'x') + name);
    write_file(run / "images/frame-0002.raw", std::string(1000, 'y'));
    write_file(run / "empty.txt", "");
    write_file(run / "done.marker", "");
    return run;
}

// Processes whose command line contains `needle` (to prove a process group was killed).
inline int processes_mentioning(const std::string& needle) {
    int count = 0;
    DIR* d = ::opendir("/proc");
    if (!d) return 0;
    while (auto* e = ::readdir(d)) {
        const std::string pid = e->d_name;
        if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream in("/proc/" + pid + "/cmdline", std::ios::binary);
        std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        std::ifstream st("/proc/" + pid + "/stat");
        std::string p, comm, state;
        st >> p >> comm >> state;
        if (state != "Z" && cmd.find(needle) != std::string::npos) ++count;
    }
    ::closedir(d);
    return count;
}

}  // namespace labsync::test
