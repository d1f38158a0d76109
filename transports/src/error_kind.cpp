#include "labsync/transports/error_kind.hpp"
#include "labsync/transports/transport_result.hpp"
#include "labsync/verifier/errc.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <utility>

namespace labsync::transports {
namespace {

constexpr std::array<std::pair<error_kind, std::string_view>, 10> names{{
    {error_kind::none, "none"},
    {error_kind::network, "network"},
    {error_kind::auth, "auth"},
    {error_kind::hash_mismatch, "hash_mismatch"},
    {error_kind::local_file_vanished, "local_file_vanished"},
    {error_kind::conflict, "conflict"},
    {error_kind::rejected, "rejected"},
    {error_kind::misconfigured, "misconfigured"},
    {error_kind::binary_missing, "binary_missing"},
    {error_kind::unknown, "unknown"},
}};

}  // namespace

std::string_view to_string(error_kind kind) noexcept {
    for (const auto& [k, n] : names)
        if (k == kind) return n;
    return "unknown";
}

std::optional<error_kind> error_kind_from_string(std::string_view text) noexcept {
    for (const auto& [k, n] : names)
        if (n == text) return k;
    return std::nullopt;
}

std::string to_json(const transport_result& result) {
    nlohmann::json j{{"ok", result.ok},
                     {"error_kind", to_string(result.kind)},
                     {"returncode", result.returncode},
                     {"message", result.message},
                     {"stdout", result.stdout_text},
                     {"stderr", result.stderr_text}};
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

error_kind kind_of_local_error(const std::error_code& ec) noexcept {
    if (ec == verifier::errc::local_file_vanished || ec == verifier::errc::local_file_changed ||
        ec == verifier::errc::not_a_directory || ec == std::errc::no_such_file_or_directory)
        return error_kind::local_file_vanished;
    return error_kind::unknown;
}

}  // namespace labsync::transports
