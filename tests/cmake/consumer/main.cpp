// Reads a syncd.toml with labsync::load_config, opens an engine from it, enqueues nothing, closes
// it: proves the headers, the exported targets (labsync::common and labsync::config among them)
// and their dependencies are consumable from the installed labsync package.
#include <labsync/common/ids.hpp>
#include <labsync/config/config_loader.hpp>
#include <labsync/engine/engine.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

int main(int argc, char** argv) {
    if (argc < 2) return 2;
    const std::filesystem::path dir = argv[1];
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "syncd.toml") << "[global]\nstate_dir = \"state\"\n"
                                         "[equipment.consumer-eq]\nruns_root = \"runs\"\n"
                                         "[equipment.consumer-eq.transport]\nkind = \"http_put\"\n"
                                         "url = \"http://127.0.0.1:9\"\n";
    // labsync::config is installed and linked like every module; paths resolve against the file.
    labsync::config::load_result loaded = labsync::load_config(dir / "syncd.toml");
    if (!loaded.ok()) {
        std::fprintf(stderr, "load_config failed:\n%s",
                     labsync::config::format_errors(loaded.errors).c_str());
        return 1;
    }
    const labsync::engine::engine_config& config = loaded.config.engine;
    const auto& e = config.equipment.at(0);
    // labsync::common is installed and linked like every module.
    if (!labsync::common::valid_equipment_id(e.name) || labsync::common::valid_equipment_id(".tmp")) {
        std::fprintf(stderr, "labsync::common id rule is not the installed one\n");
        return 1;
    }
    if (config.outbox_dir != (std::filesystem::absolute(dir) / "state" / "outbox").lexically_normal()) {
        std::fprintf(stderr, "outbox_dir %s is not below the file's state_dir\n", config.outbox_dir.c_str());
        return 1;
    }
    boost::asio::io_context io;
    labsync::engine::engine engine(io, config);
    if (auto err = engine.open()) {
        std::fprintf(stderr, "open failed: %s\n", err.message.c_str());
        return 1;
    }
    boost::asio::co_spawn(io, engine.async_run(), boost::asio::detached);
    std::thread t([&] { io.run(); });
    engine.close();
    t.join();
    std::printf("consumer ok: %zu jobs\n", engine.list().size());
    return 0;
}
