#pragma once
// The http_put classification (SPEC §6, §7): which error_kind a receiver's answer or a failed
// exchange maps to. Pure functions so every row is unit-tested; the driver only feeds them.
//
// Decisions beyond the SPEC table:
// - 413 (body larger than the receiver's --max-body) and 411 (no Content-Length, e.g. a proxy
//   that re-chunks the body) → misconfigured (SPEC §6): the receiver's settings and this sender
//   disagree; that is no verdict on the run. Terminal `failed` with a fix hint
//   (put_status_hint), never quarantined: after the fix, `syncd retry` ships it.
// - A server certificate that fails our verification (unknown CA, wrong host name, expired), or a
//   client certificate the server refuses (missing, unknown CA, expired), → auth: it is a
//   terminal misconfiguration of trust, like a wrong token; retrying every few minutes would only
//   hide it. Other TLS failures (truncated stream, protocol noise) → network.
// - Timeouts, refused connections, resets, resolve failures, 5xx incl. 507 → network.
// - Any other status (3xx, 404 on PUT, 1xx out of place, …) → unknown.
// - 409 to the probe's verify GET (`stored_bytes_mismatch`: the stored bytes no longer match
//   their record) → hash_mismatch: re-ship once, never delete.

#include "labsync/transports/error_kind.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace labsync::transports {

// What went wrong below HTTP, as the driver saw it.
enum class http_failure {
    resolve_failed,           // the host name did not resolve
    connect_refused,          // nothing listens there (ECONNREFUSED, EHOSTUNREACH, …)
    connect_timeout,          // connect or TLS handshake did not finish in time
    io_timeout,               // a read or write was idle longer than its timeout
    connection_reset,         // reset, broken pipe, EOF in the middle of an exchange
    tls_server_untrusted,     // the server's certificate failed our verification
    tls_client_cert_refused,  // the server refused our client certificate (or its absence)
    tls_other,                // any other TLS error
    protocol_error,           // the response could not be parsed as HTTP
    local_io_error,           // reading the outbox file failed
};

std::string_view to_string(http_failure failure) noexcept;
// The failure in words with its detail ("STEP: system text"), saying nothing twice: a system text
// that only repeats the summary is left out ("connection refused (connecting)", not
// "connection refused (connecting: Connection refused)").
std::string describe_http_failure(http_failure failure, std::string_view detail);

// The kind for a complete HTTP response status to a PUT of a run (201/200 → none: verify next).
error_kind kind_for_put_status(int status) noexcept;
// What the operator should change when a PUT is answered with `status`; "" when there is no
// configuration fix (only 411 and 413 have one). `bytes` is the size of the archive sent.
std::string put_status_hint(int status, std::uint64_t bytes);
// The kind for the probe's GET (200 → none, 404 → none: "not present" is an answer; 409 →
// hash_mismatch).
error_kind kind_for_probe_status(int status) noexcept;
// How long to wait for the response to a request that makes the receiver read a stored archive
// of about `bytes` first (the verify GET; a PUT over a stored copy): io_timeout plus the bytes at
// a slow 16 MiB/s; io_timeout plus one hour when the size is not known.
std::chrono::milliseconds stored_read_timeout(std::chrono::milliseconds io_timeout,
                                              std::optional<std::uint64_t> bytes) noexcept;
// The kind for a failure below HTTP.
error_kind kind_for_failure(http_failure failure) noexcept;
// Which http_failure an OpenSSL reason code (ERR_GET_REASON) of a TLS error stands for.
http_failure failure_for_tls_reason(int reason) noexcept;

// The "sha256" a receiver's JSON answer names (the 201/200 sidecar of a PUT, a verify answer),
// when it is a valid sha256 in hex; nullopt otherwise.
std::optional<std::string> stated_sha256(std::string_view body);

// A response body shortened to one printable line for messages (at most `limit` bytes).
std::string body_excerpt(std::string_view body, std::size_t limit = 300);

}  // namespace labsync::transports
