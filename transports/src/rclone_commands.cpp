// Paths, argv and parsers for the rclone driver (see rclone_commands.hpp).
#include "labsync/transports/rclone_commands.hpp"

#include "labsync/common/ids.hpp"

#include <nlohmann/json.hpp>

namespace labsync::transports {

rclone_paths make_rclone_paths(std::string_view remote, std::string_view equipment, std::string_view run) {
    std::string base(remote);
    while (!base.empty() && base.back() == '/') base.pop_back();
    if (!base.empty() && base.back() != ':') base += '/';
    rclone_paths p;
    p.equipment_dir = base + std::string(equipment);
    p.final_dir = p.equipment_dir + "/" + std::string(run);
    p.staging_dir = p.equipment_dir + "/" + std::string(common::remote_staging_dir) + "/" + std::string(run);
    return p;
}

std::vector<std::string> rclone_argv(const rclone_config& config, std::vector<std::string> args) {
    std::vector<std::string> argv{config.rclone_binary};
    argv.insert(argv.end(), std::make_move_iterator(args.begin()), std::make_move_iterator(args.end()));
    // --retries 1: the engine owns the retry policy (§7); rclone's own whole-command retries would
    // triple the time to report a refused connection. Low-level retries stay (they resume chunks).
    argv.insert(argv.end(),
                {"--config", config.config_file.string(), "--use-json-log", "--retries", "1", "--contimeout",
                 std::to_string(config.connect_timeout.count()) + "s", "--ask-password=false"});
    argv.insert(argv.end(), config.extra_args.begin(), config.extra_args.end());
    return argv;
}

std::optional<bool> features_have_sha256(std::string_view features_json) {
    auto json = nlohmann::json::parse(features_json, nullptr, false);
    if (json.is_discarded() || !json.is_object() || !json.contains("Hashes") || !json["Hashes"].is_array())
        return std::nullopt;
    for (const auto& h : json["Hashes"])
        if (h.is_string() && h.get<std::string>() == "sha256") return true;
    return false;
}

std::string rclone_bwlimit(std::uint64_t bytes_per_second) {
    if (bytes_per_second == 0) return "off";
    // rclone reads a plain number as KiB/s; "B" makes the unit explicit and exact.
    return std::to_string(bytes_per_second) + "B";
}

std::vector<std::string> rclone_rc_serve_flags() {
    return {"--rc", "--rc-addr", "127.0.0.1:0"};
}

std::optional<std::string> parse_rclone_rc_url(std::string_view line) {
    constexpr std::string_view announce = "Serving remote control on ";
    if (line.find(announce) == std::string_view::npos) return std::nullopt;
    auto json = nlohmann::json::parse(line, nullptr, false);
    if (json.is_discarded() || !json.is_object() || !json.contains("msg") || !json["msg"].is_string())
        return std::nullopt;
    const auto msg = json["msg"].get<std::string>();
    const auto at = msg.find(announce);
    if (at == std::string::npos) return std::nullopt;
    std::string url = msg.substr(at + announce.size());
    while (!url.empty() && (url.back() == '\n' || url.back() == ' ')) url.pop_back();
    // Only our own loopback server: never send credentials anywhere else.
    if (url.rfind("http://127.0.0.1:", 0) != 0) return std::nullopt;
    return url;
}

std::vector<std::string> rclone_rc_bwlimit_argv(const rclone_config& config, const std::string& url,
                                                std::uint64_t bytes_per_second) {
    return {config.rclone_binary,
            "rc",
            "--url",
            url,
            "--config",
            config.config_file.string(),
            "core/bwlimit",
            "rate=" + rclone_bwlimit(bytes_per_second)};
}

}  // namespace labsync::transports
