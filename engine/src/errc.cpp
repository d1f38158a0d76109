#include "labsync/engine/errc.hpp"
#include "labsync/engine/engine_config.hpp"
#include "labsync/engine/gate_finding.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace labsync::engine {
namespace {

class category final : public std::error_category {
public:
    const char* name() const noexcept override { return "labsync.engine"; }
    std::string message(int value) const override {
        switch (static_cast<errc>(value)) {
            case errc::invalid_config:
                return "invalid engine configuration";
            case errc::unknown_equipment:
                return "run path is not below any configured runs root";
            case errc::invalid_run_path:
                return "invalid run path";
            case errc::no_job:
                return "no job for this run";
            case errc::wrong_state:
                return "operation does not apply to the job's state";
            case errc::store_failed:
                return "job store failure";
            case errc::not_open:
                return "engine not open";
            case errc::closed:
                return "engine closed";
            case errc::bad_timetable:
                return "bad bandwidth timetable";
        }
        return "unknown engine error";
    }
};

}  // namespace

const std::error_category& engine_category() noexcept {
    static const category instance;
    return instance;
}

std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), engine_category()};
}

std::string_view to_string(transport_kind kind) noexcept {
    switch (kind) {
        case transport_kind::http_put:
            return "http_put";
        case transport_kind::rsync_ssh:
            return "rsync_ssh";
        case transport_kind::rclone:
            return "rclone";
    }
    return "unknown";
}

std::string_view to_string(severity s) noexcept {
    return s == severity::hard ? "hard" : "soft";
}

std::string describe_blocking(const std::vector<gate_finding>& findings, std::size_t max_findings) {
    constexpr std::size_t max_message = 200;
    std::string out;
    std::size_t shown = 0, hard = 0;
    for (const auto& f : findings) {
        if (f.level != severity::hard) continue;
        ++hard;
        if (shown == max_findings) continue;
        ++shown;
        std::string message = f.message;
        if (!f.path.empty() && message.find(f.path) == std::string::npos) message = f.path + ": " + message;
        if (message.size() > max_message) message = message.substr(0, max_message - 3) + "...";
        if (!out.empty()) out += "; ";
        out += fmt::format("[{}] {}", f.code, message);
    }
    if (hard > shown) out += fmt::format("; (+{} more: syncd show RUN)", hard - shown);
    return out;
}

std::string to_json(const std::vector<gate_finding>& findings) {
    auto array = nlohmann::json::array();
    for (const auto& f : findings)
        array.push_back(
            {{"severity", to_string(f.level)}, {"code", f.code}, {"message", f.message}, {"path", f.path}});
    return array.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::vector<gate_finding> findings_from_event(std::string_view message) {
    constexpr std::string_view marker = " findings=";
    const auto at = message.rfind(marker);
    if (at == std::string_view::npos) return {};
    const auto array = nlohmann::json::parse(message.substr(at + marker.size()), nullptr, false);
    std::vector<gate_finding> out;
    if (!array.is_array()) return out;
    for (const auto& f : array) {
        if (!f.is_object()) continue;
        gate_finding g;
        g.level = f.value("severity", "hard") == "soft" ? severity::soft : severity::hard;
        g.code = f.value("code", "");
        g.message = f.value("message", "");
        g.path = f.value("path", "");
        out.push_back(std::move(g));
    }
    return out;
}

}  // namespace labsync::engine
