// `syncd enqueue --dry-run PATH [--config F] [--json]`: what `enqueue` would do, decided here from
// the configuration without the daemon: the equipment, the pre-sync gate's findings (SPEC §9, as for
// an enqueue by API: a missing marker is soft) and what would ship (files, bytes). Nothing is
// written and the daemon is not asked. Exit 0 when the run would be queued, 1 when the gate would
// block it, 2 when the config is invalid or PATH is not a run of any equipment.
#include "cli/commands.hpp"
#include "daemon_config.hpp"
#include "labsync/common/ids.hpp"
#include "labsync/engine/gate.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace labsync::apps {

load_result load_and_validate(const std::filesystem::path& path);  // cmd_config.cpp

int enqueue_dry_run(const std::filesystem::path& run, const std::string& config_path, bool json) {
    load_result loaded = load_and_validate(config_path);
    if (!loaded.ok()) {
        fmt::print(stderr, "{}syncd enqueue --dry-run: {} is not valid\n", format_errors(loaded.errors),
                   config_path);
        return exit_usage;
    }
    const engine::equipment_config* eq = nullptr;
    for (const auto& e : loaded.config.engine.equipment)
        if (e.runs_root.lexically_normal() == run.parent_path()) eq = &e;
    std::string why = common::id_refusal_reason(common::id_kind::run, run.filename().string());
    if (!eq || !why.empty()) {
        fmt::print(stderr, "syncd enqueue --dry-run: {}\n",
                   eq ? fmt::format("{}: {}", run.string(), why)
                      : fmt::format("'{}' is not directly below the runs root of any equipment in {}",
                                    run.string(), config_path));
        return exit_usage;
    }
    const engine::gate_inputs inputs = engine::collect_gate_inputs(run, *eq);
    const engine::gate_outcome gate = engine::evaluate_gate(inputs, *eq, false);
    const auto now = std::chrono::system_clock::now();
    const std::string settle = gate.settled_at > now
                                   ? engine::describe_settle_wait(gate.newest_mtime, gate.settled_at, now)
                                   : "settled";
    if (json) {
        nlohmann::json out{{"dry_run", true},
                           {"equipment", eq->name},
                           {"run_id", run.filename().string()},
                           {"would_be", gate.blocked() ? "blocked_by_validation" : "queued"},
                           {"settle", settle},
                           {"files", gate.file_count},
                           {"bytes", gate.total_bytes},
                           {"findings", nlohmann::json::array()},
                           {"ship", nlohmann::json::array()}};
        for (const auto& f : gate.findings)
            out["findings"].push_back({{"severity", engine::to_string(f.level)},
                                       {"code", f.code},
                                       {"message", f.message},
                                       {"path", f.path}});
        for (const auto& f : inputs.walk.files) out["ship"].push_back({{"path", f.path}, {"bytes", f.size}});
        fmt::print("{}\n", out.dump(2));
    } else {
        fmt::print("dry run (nothing written): {}/{} would be {} ({})\n", eq->name, run.filename().string(),
                   gate.blocked() ? "blocked_by_validation" : "queued", settle);
        fmt::print("would ship {} files, {} bytes via {}\n", gate.file_count, gate.total_bytes,
                   engine::to_string(engine::kind_of(eq->transport)));
        for (const auto& f : inputs.walk.files) fmt::print("  {:>14}  {}\n", f.size, f.path);
        fmt::print("findings ({}):\n", gate.findings.size());
        for (const auto& f : gate.findings)
            fmt::print("  {} {} {}: {}\n", engine::to_string(f.level), f.code,
                       f.path.empty() ? "(run)" : f.path, f.message);
    }
    return gate.blocked() ? exit_failed : exit_ok;
}

}  // namespace labsync::apps
