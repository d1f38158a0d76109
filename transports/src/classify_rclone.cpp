// The rclone classification tables (see classify_rclone.hpp for the decisions).
#include "labsync/transports/classify_rclone.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>

namespace labsync::transports {
namespace {

constexpr std::array<exit_code_row, 10> rclone_exits{{
    {0, error_kind::none, "success"},
    {1, error_kind::unknown, "syntax or usage error"},
    {2, error_kind::unknown, "error not otherwise categorised"},
    {3, error_kind::local_file_vanished, "directory not found"},
    {4, error_kind::local_file_vanished, "file not found"},
    {5, error_kind::network, "temporary error (more retries might fix it)"},
    {6, error_kind::unknown, "less serious error (NoRetry)"},
    {7, error_kind::auth, "fatal error (more retries won't fix it)"},
    {8, error_kind::network, "transfer limit (--max-transfer) reached"},
    {9, error_kind::none, "no files transferred (--error-on-no-transfer)"},
}};

// Lower-case needles; messages are lower-cased before matching.
constexpr std::array<text_pattern_row, 26> rclone_messages{{
    {"unable to authenticate", error_kind::auth},
    {"knownhosts: key is unknown", error_kind::auth},
    {"knownhosts: key mismatch", error_kind::auth},
    {"host key mismatch", error_kind::auth},
    {"failed to parse private key", error_kind::auth},
    {"couldn't read ssh key", error_kind::auth},
    {"failed to read private key", error_kind::auth},
    {"accessdenied", error_kind::auth},
    {"invalidaccesskeyid", error_kind::auth},
    {"signaturedoesnotmatch", error_kind::auth},
    {"expiredtoken", error_kind::auth},
    {"invalid_grant", error_kind::auth},
    {"401 unauthorized", error_kind::auth},
    {"source file is being updated", error_kind::local_file_vanished},
    {"can't copy - source file", error_kind::local_file_vanished},
    {"connection refused", error_kind::network},
    {"i/o timeout", error_kind::network},
    {"connection reset", error_kind::network},
    {"broken pipe", error_kind::network},
    {"no such host", error_kind::network},
    {"no route to host", error_kind::network},
    {"network is unreachable", error_kind::network},
    {"tls handshake timeout", error_kind::network},
    {"context deadline exceeded", error_kind::network},
    {"unexpected eof", error_kind::network},
    {"no space left on device", error_kind::network},
}};

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

}  // namespace

std::span<const exit_code_row> rclone_exit_table() noexcept {
    return rclone_exits;
}
std::span<const text_pattern_row> rclone_message_table() noexcept {
    return rclone_messages;
}

error_kind kind_for_rclone_exit(int code) noexcept {
    for (const auto& row : rclone_exits)
        if (row.code == code) return row.kind;
    return error_kind::unknown;
}

std::vector<std::string> rclone_error_messages(std::string_view stderr_text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < stderr_text.size()) {
        std::size_t end = stderr_text.find('\n', start);
        if (end == std::string_view::npos) end = stderr_text.size();
        std::string_view line = stderr_text.substr(start, end - start);
        start = end + 1;
        if (line.empty()) continue;
        if (line.front() != '{') {
            out.emplace_back(line);
            continue;
        }
        auto json = nlohmann::json::parse(line, nullptr, false);
        if (json.is_discarded() || !json.is_object()) {
            out.emplace_back(line);
            continue;
        }
        const std::string level = json.value("level", "");
        if (level == "error" || level == "critical" || level == "fatal")
            out.push_back(json.value("msg", std::string(line)));
    }
    return out;
}

namespace {

// Table order across all messages: an auth failure anywhere outranks the network noise that
// usually follows it.
std::optional<error_kind> kind_of_messages(std::vector<std::string> messages) {
    for (auto& message : messages) message = lower(message);
    for (const auto& row : rclone_messages)
        for (const auto& text : messages)
            if (text.find(row.needle) != std::string::npos) return row.kind;
    return std::nullopt;
}

}  // namespace

error_kind classify_rclone(int exit_code, std::string_view stderr_text) {
    if (exit_code == 0) return error_kind::none;
    if (auto kind = kind_of_messages(rclone_error_messages(stderr_text))) return *kind;
    return kind_for_rclone_exit(exit_code);
}

error_kind classify_rclone_rc(int http_status, std::string_view error_text) {
    if (auto kind = kind_of_messages({std::string(error_text)})) return *kind;
    const std::string text = lower(error_text);
    if (http_status == 404 || text.find("directory not found") != std::string::npos ||
        text.find("object not found") != std::string::npos)
        return error_kind::local_file_vanished;
    return error_kind::unknown;
}

}  // namespace labsync::transports
