// An acquisition server that embeds the labsync engine: it "acquires" a few runs like an
// instrument would (data files, then the marker), and the engine - configured by a syncd.toml read
// with labsync::load_config() - notices them, ships them, proves them identical at the remote and
// frees the disk. Built against the installed package (find_package(labsync)); see
// docs/embedding.md.
//
//   acquisition_server <syncd.toml> [runs]
//
// The runs go to the first equipment of the file. The engine runs on the main thread
// (engine::run(), blocking); the "instrument" is a second thread that knows nothing about Asio
// and talks to the engine through its thread-safe API, then close()s it. Prints one line per
// run and exits 0 when every run was cleaned, 1 otherwise, 2 on a usage or configuration error.

#include <labsync/config/config_loader.hpp>
#include <labsync/engine/engine.hpp>

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

using labsync::queue::job_state;

void write_file(const std::filesystem::path& path, const std::string& content) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << content;
}

// What an instrument does: data first, the marker last.
void acquire_run(const std::filesystem::path& run, const std::string& marker, int index) {
    std::string frame(256 * 1024, '\0');
    for (std::size_t i = 0; i < frame.size(); ++i) frame[i] = static_cast<char>((i * 31 + index) % 256);
    write_file(run / "frames/frame-0001.raw", frame);
    write_file(run / "frames/frame-0002.raw", frame.substr(0, 1000));
    write_file(run / "meta.json",
               "{\"sample\": \"S-" + std::to_string(index) + "\", \"operator\": \"demo\"}\n");
    write_file(run / marker, "");
}

bool final_state(job_state s) {
    return s == job_state::cleaned || s == job_state::failed || s == job_state::blocked_by_validation;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: acquisition_server <syncd.toml> [runs]\n";
        return 2;
    }
    const int runs = argc > 2 ? std::stoi(argv[2]) : 3;
    // The same file, keys and checks as `syncd run --config` (docs/configuration.md).
    labsync::config::load_result loaded = labsync::load_config(argv[1]);
    if (!loaded.ok() || loaded.config.engine.equipment.empty()) {
        std::cerr << labsync::config::format_errors(loaded.errors) << argv[1] << ": not usable"
                  << (loaded.ok() ? " (no equipment)" : "") << "\n";
        return 2;
    }
    const labsync::engine::engine_config& config = loaded.config.engine;
    const labsync::engine::equipment_config& instrument = config.equipment.front();

    std::mutex mutex;
    std::condition_variable changed;
    std::map<std::string, job_state> states;
    labsync::engine::engine_deps deps;
    deps.log = [](labsync::common::log_level level, std::string_view line) {
        if (level >= labsync::common::log_level::warning)
            std::cerr << labsync::common::to_string(level) << ": " << line << "\n";
    };
    deps.on_job_changed = [&](const labsync::queue::job& job) {  // on the engine's thread
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

    bool all_done = false;
    std::thread instrument_thread([&] {
        for (int i = 1; i <= runs; ++i) {
            char name[32];
            std::snprintf(name, sizeof name, "run-%03d", i);
            acquire_run(instrument.runs_root / name, instrument.marker_name, i);  // the watcher sees it
        }
        {
            std::unique_lock lock(mutex);
            all_done = changed.wait_for(lock, std::chrono::seconds(120), [&] {
                if (static_cast<int>(states.size()) < runs) return false;
                for (const auto& [run, state] : states)
                    if (!final_state(state)) return false;
                return true;
            });
        }
        engine.close();  // stops the engine (run() returns) and checkpoints the job store
    });
    auto err = engine.run();  // blocks until close()
    instrument_thread.join();
    if (err) std::cerr << "engine: " << err.message << "\n";

    int cleaned = 0;
    for (const auto& [run, state] : states) {
        std::cout << run << " " << labsync::queue::to_string(state) << "\n";
        cleaned += state == job_state::cleaned;
    }
    std::cout << cleaned << " of " << runs << " runs shipped, verified and cleaned" << std::endl;
    return all_done && cleaned == runs ? 0 : 1;
}
