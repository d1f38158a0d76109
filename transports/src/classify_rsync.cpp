// The rsync/ssh classification tables (see classify_rsync.hpp for the decisions).
#include "labsync/transports/classify_rsync.hpp"

#include <array>

namespace labsync::transports {
namespace {

constexpr std::array<exit_code_row, 22> rsync_exits{{
    {0, error_kind::none, "success"},
    {1, error_kind::unknown, "syntax or usage error"},
    {2, error_kind::unknown, "protocol incompatibility"},
    {3, error_kind::unknown, "errors selecting input/output files, dirs"},
    {4, error_kind::unknown, "requested action not supported"},
    {5, error_kind::network, "error starting client-server protocol"},
    {6, error_kind::unknown, "daemon unable to append to log-file"},
    {10, error_kind::network, "error in socket I/O"},
    {11, error_kind::unknown, "error in file I/O"},
    {12, error_kind::network, "error in rsync protocol data stream"},
    {13, error_kind::unknown, "errors with program diagnostics"},
    {14, error_kind::unknown, "error in IPC code"},
    {20, error_kind::network, "received SIGUSR1 or SIGINT"},
    {21, error_kind::unknown, "some error returned by waitpid()"},
    {22, error_kind::unknown, "error allocating core memory buffers"},
    {23, error_kind::unknown, "partial transfer due to error"},
    {24, error_kind::local_file_vanished, "partial transfer due to vanished source files"},
    {25, error_kind::unknown, "the --max-delete limit stopped deletions"},
    {30, error_kind::network, "timeout in data send/receive"},
    {35, error_kind::network, "timeout waiting for daemon connection"},
    {127, error_kind::binary_missing, "rsync not found on the remote host (shell exit 127)"},
    {255, error_kind::network, "ssh failed (connection layer)"},
}};

// ssh prints "Permission denied (publickey,password)." (the methods the server offers); rsync
// prints "Permission denied (13)" for files, hence the method names in the needles.
constexpr std::array<text_pattern_row, 25> ssh_patterns{{
    {"Permission denied (publickey", error_kind::auth},
    {"Permission denied (password", error_kind::auth},
    {"Permission denied (keyboard-interactive", error_kind::auth},
    {"Permission denied (gssapi", error_kind::auth},
    {"Permission denied, please try again", error_kind::auth},
    {"Host key verification failed", error_kind::auth},
    {"REMOTE HOST IDENTIFICATION HAS CHANGED", error_kind::auth},
    {"host key is known for", error_kind::auth},
    {"Too many authentication failures", error_kind::auth},
    {"Unable to negotiate", error_kind::auth},
    {"no such identity", error_kind::auth},
    {"not accessible: No such file", error_kind::auth},
    {"Load key", error_kind::auth},
    {"Connection refused", error_kind::network},
    {"Connection timed out", error_kind::network},
    {"Operation timed out", error_kind::network},
    {"Connection reset", error_kind::network},
    {"Connection closed", error_kind::network},
    {"No route to host", error_kind::network},
    {"Network is unreachable", error_kind::network},
    {"Could not resolve", error_kind::network},
    {"Broken pipe", error_kind::network},
    {"kex_exchange_identification", error_kind::network},
    {"Timeout, server", error_kind::network},
    {"No space left on device", error_kind::network},
}};

constexpr std::array<text_pattern_row, 4> rsync_patterns{{
    {"file has vanished", error_kind::local_file_vanished},
    {"vanished source files", error_kind::local_file_vanished},
    {"No space left on device", error_kind::network},
    {"Disk quota exceeded", error_kind::network},
}};

bool connection_layer(int rsync_exit) noexcept {
    return rsync_exit == 5 || rsync_exit == 10 || rsync_exit == 12 || rsync_exit == 255;
}

}  // namespace

std::span<const exit_code_row> rsync_exit_table() noexcept {
    return rsync_exits;
}
std::span<const text_pattern_row> ssh_stderr_table() noexcept {
    return ssh_patterns;
}
std::span<const text_pattern_row> rsync_stderr_table() noexcept {
    return rsync_patterns;
}

error_kind kind_for_rsync_exit(int code) noexcept {
    for (const auto& row : rsync_exits)
        if (row.code == code) return row.kind;
    return error_kind::unknown;
}

std::string_view rsync_exit_meaning(int code) noexcept {
    for (const auto& row : rsync_exits)
        if (row.code == code) return row.meaning;
    return "undocumented rsync exit code";
}

std::optional<error_kind> match_patterns(std::span<const text_pattern_row> table,
                                         std::string_view text) noexcept {
    for (const auto& row : table)
        if (text.find(row.needle) != std::string_view::npos) return row.kind;
    return std::nullopt;
}

error_kind classify_rsync(int exit_code, std::string_view stderr_text) noexcept {
    if (exit_code == 0) return error_kind::none;
    if (connection_layer(exit_code))
        if (auto kind = match_patterns(ssh_patterns, stderr_text)) return *kind;
    if (auto kind = match_patterns(rsync_patterns, stderr_text)) return *kind;
    return kind_for_rsync_exit(exit_code);
}

error_kind classify_ssh(int exit_code, std::string_view stderr_text) noexcept {
    if (exit_code == 0) return error_kind::none;
    if (exit_code == 255) return match_patterns(ssh_patterns, stderr_text).value_or(error_kind::network);
    if (exit_code == 127) return error_kind::binary_missing;
    if (auto kind = match_patterns(rsync_patterns, stderr_text)) return *kind;
    return error_kind::unknown;
}

}  // namespace labsync::transports
