#include "labsync/receiver/request_rules.hpp"

#include "labsync/common/ids.hpp"

#include <nlohmann/json.hpp>

#include <charconv>

namespace labsync::receiver {
namespace {

bool lower_hex(char c) noexcept {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

}  // namespace

bool valid_sha256_hex(std::string_view hex) noexcept {
    if (hex.size() != 64) return false;
    for (char c : hex) {
        if (!lower_hex(c)) return false;
    }
    return true;
}

bool valid_commit(std::string_view commit) noexcept {
    if (commit.size() < 7 || commit.size() > 64) return false;
    for (char c : commit) {
        if (!lower_hex(c) && !(c >= 'A' && c <= 'F')) return false;
    }
    return true;
}

route parse_route(std::string_view target) {
    route r;
    std::optional<std::string_view> ping_equipment;
    if (auto q = target.find('?'); q != std::string_view::npos) {
        std::string_view query = target.substr(q + 1);
        target = target.substr(0, q);
        while (!query.empty()) {
            auto amp = query.find('&');
            const auto param = query.substr(0, amp);
            if (param == "verify=1") r.verify = true;
            if (param.starts_with("equipment=")) ping_equipment = param.substr(10);
            query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        }
    }
    if (target == "/healthz") {
        r.kind = route_kind::healthz;
    } else if (target == "/metrics") {
        r.kind = route_kind::metrics;
    } else if (target == "/v1/ping") {
        r.kind = route_kind::ping;
        if (ping_equipment) {  // "may these credentials write this equipment?"
            r.id_error = common::id_refusal_reason(common::id_kind::equipment, *ping_equipment);
            r.ids_valid = r.id_error.empty();
            r.equipment = std::string(ping_equipment->substr(0, common::max_equipment_id_length));
        }
    } else if (target.starts_with("/v1/runs/")) {
        std::string_view rest = target.substr(9);
        auto slash = rest.find('/');
        if (slash == std::string_view::npos) return r;  // "/v1/runs/e": no such resource
        std::string_view equipment = rest.substr(0, slash);
        std::string_view run = rest.substr(slash + 1);
        // Extra segments ("/v1/runs/e/r/x") cannot name a run; report them as bad ids rather
        // than 404 so a client bug that builds wrong paths is told why.
        r.kind = route_kind::run;
        r.id_error = common::ids_refusal_reason(equipment, run);
        r.ids_valid = r.id_error.empty();
        r.equipment = std::string(equipment.substr(0, common::max_equipment_id_length));
        r.run = std::string(run.substr(0, common::max_run_id_length));
    }
    return r;
}

std::optional<std::uint64_t> parse_byte_size(std::string_view text) noexcept {
    if (text.empty()) return std::nullopt;
    std::uint64_t mult = 1;
    switch (text.back()) {
        case 'K':
        case 'k':
            mult = 1ULL << 10;
            break;
        case 'M':
        case 'm':
            mult = 1ULL << 20;
            break;
        case 'G':
        case 'g':
            mult = 1ULL << 30;
            break;
        case 'T':
        case 't':
            mult = 1ULL << 40;
            break;
        default:
            break;
    }
    if (mult != 1) text.remove_suffix(1);
    std::uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
    if (value > UINT64_MAX / mult) return std::nullopt;
    return value * mult;
}

std::string error_json(std::string_view error, std::string_view message) {
    nlohmann::json j{{"error", std::string(error)}, {"message", std::string(message)}};
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace labsync::receiver
