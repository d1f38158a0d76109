// Opens an engine from the installed labsync package, enqueues nothing, closes it: proves the
// headers, the exported targets (labsync::common among them) and their dependencies are
// consumable.
#include <labsync/common/ids.hpp>
#include <labsync/engine/engine.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdio>
#include <filesystem>
#include <thread>

int main(int argc, char** argv) {
    if (argc < 2) return 2;
    const std::filesystem::path dir = argv[1];
    labsync::engine::engine_config config;
    config.state_dir = dir / "state";
    config.outbox_dir = dir / "outbox";
    config.quarantine_dir = dir / "quarantine";
    labsync::engine::equipment_config e;
    e.name = "consumer-eq";
    // labsync::common is installed and linked like every module.
    if (!labsync::common::valid_equipment_id(e.name) || labsync::common::valid_equipment_id(".tmp")) {
        std::fprintf(stderr, "labsync::common id rule is not the installed one\n");
        return 1;
    }
    e.runs_root = dir / "runs";
    e.transport.http_put.url = "http://127.0.0.1:9";
    config.equipment.push_back(e);
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
