// An acquisition server that embeds the labsync engine: it "acquires" a few runs like an
// instrument would (data files, then the done.marker), and the engine - configured in code -
// notices them, ships them to a syncd-receiver, proves them identical there and frees the disk.
//
//   acquisition_server <receiver-url> <work-dir> [runs] [token-file]
//
// The io_context runs on its own thread; the "instrument" (main thread) knows nothing about Asio
// and talks to the engine through its thread-safe API. Prints one line per finished run and
// exits 0 when every run was cleaned, 1 otherwise.

#include "labsync/engine/engine.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace {

void write_file(const std::filesystem::path& path, const std::string& content) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << content;
}

// What an instrument does: data first, the marker last.
void acquire_run(const std::filesystem::path& run, int index) {
    std::string frame(256 * 1024, '\0');
    for (std::size_t i = 0; i < frame.size(); ++i) frame[i] = static_cast<char>((i * 31 + index) % 256);
    write_file(run / "frames/frame-0001.raw", frame);
    write_file(run / "frames/frame-0002.raw", frame.substr(0, 1000));
    write_file(run / "meta.json",
               "{\"sample\": \"S-" + std::to_string(index) + "\", \"operator\": \"demo\"}\n");
    write_file(run / "done.marker", "");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::cerr << "usage: acquisition_server <receiver-url> <work-dir> [runs] [token-file]\n";
        return 2;
    }
    const std::string url = argv[1];
    const std::filesystem::path work = argv[2];
    const int runs = argc > 3 ? std::stoi(argv[3]) : 3;

    labsync::engine::engine_config config;
    config.state_dir = work / "state";
    config.outbox_dir = work / "outbox";
    config.quarantine_dir = work / "quarantine";
    config.rescan_interval = std::chrono::seconds(60);
    config.backoff = {std::chrono::milliseconds(200), std::chrono::seconds(5), 20};
    labsync::engine::equipment_config scope;
    scope.name = "lab-microscope";
    scope.runs_root = work / "runs";
    scope.settle = std::chrono::seconds(0);     // the marker is written last: the run is complete
    scope.retention = std::chrono::seconds(0);  // free the disk as soon as the copy is proven
    scope.gate.meta_json_required = true;
    std::get<labsync::transports::http_put_config>(scope.transport).url = url;
    if (argc > 4) std::get<labsync::transports::http_put_config>(scope.transport).token_file = argv[4];
    config.equipment.push_back(scope);

    std::mutex mutex;
    std::condition_variable changed;
    std::map<std::string, labsync::queue::job_state> states;
    labsync::engine::engine_deps deps;
    deps.log = [](labsync::common::log_level level, std::string_view line) {
        if (level >= labsync::common::log_level::warning)
            std::cerr << labsync::common::to_string(level) << ": " << line << "\n";
    };
    deps.on_job_changed = [&](const labsync::queue::job& job) {
        std::lock_guard lock(mutex);
        states[job.run_id] = job.state;
        changed.notify_all();
    };

    boost::asio::io_context io;
    labsync::engine::engine engine(io, config, std::move(deps));
    if (auto err = engine.open()) {
        std::cerr << "cannot start the engine: " << err.message << "\n";
        return 1;
    }
    boost::asio::co_spawn(io, engine.async_run(), boost::asio::detached);
    std::thread io_thread([&] { io.run(); });

    for (int i = 1; i <= runs; ++i) {
        char name[32];
        std::snprintf(name, sizeof name, "run-%03d", i);
        acquire_run(scope.runs_root / name, i);  // the engine's watcher sees the marker
    }

    using labsync::queue::job_state;
    const auto final_state = [](job_state s) {
        return s == job_state::cleaned || s == job_state::failed || s == job_state::blocked_by_validation;
    };
    bool all_done = false;
    {
        std::unique_lock lock(mutex);
        all_done = changed.wait_for(lock, std::chrono::seconds(120), [&] {
            if (static_cast<int>(states.size()) < runs) return false;
            for (const auto& [run, state] : states)
                if (!final_state(state)) return false;
            return true;
        });
    }
    engine.close();  // checkpoints the job store and stops the workers
    io_thread.join();

    int cleaned = 0;
    for (const auto& [run, state] : states) {
        std::cout << run << " " << labsync::queue::to_string(state) << "\n";
        cleaned += state == job_state::cleaned;
    }
    std::cout << cleaned << " of " << runs << " runs shipped, verified and cleaned" << std::endl;
    return all_done && cleaned == runs ? 0 : 1;
}
