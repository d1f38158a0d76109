#pragma once
// Pure request rules of the receiver protocol (docs/protocol.md): header formats and the routing
// of request targets. No I/O, so every rule has a unit test. The identifier rule is the one of
// every module, labsync/common/ids.hpp.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace labsync::receiver {

// X-Content-SHA256: exactly 64 lowercase hex digits (one spelling, so sidecars compare as text).
bool valid_sha256_hex(std::string_view hex) noexcept;
// X-Code-Commit: 7 to 64 hex digits (a git commit, abbreviated or full, SHA-1 or SHA-256).
bool valid_commit(std::string_view commit) noexcept;

enum class route_kind { run, ping, healthz, metrics, not_found };

struct route {
    route_kind kind = route_kind::not_found;
    bool ids_valid = true;  // for route_kind::run: both ids pass common::check_id; ping: the equipment
    std::string id_error;   // why not, naming the id (common::id_refusal_reason)
    std::string equipment;  // ping: the `equipment=E` query (empty: any equipment)
    std::string run;
    bool verify = false;  // the query holds `verify=1`: re-hash the stored bytes (GET of a run)
};

// Maps a request target ("/v1/runs/e/r?verify=1") to a route. The query string only sets
// `verify` and a ping's `equipment`; other parameters are ignored. Percent escapes are never
// decoded (no valid id contains '%'), so an escaped id is simply invalid.
route parse_route(std::string_view target);

// Parses a decimal byte count with an optional K/M/G/T (binary) suffix: "1048576", "512M", "2G".
std::optional<std::uint64_t> parse_byte_size(std::string_view text) noexcept;

// The body of every error response: {"error": code, "message": text}.
std::string error_json(std::string_view error, std::string_view message);

}  // namespace labsync::receiver
