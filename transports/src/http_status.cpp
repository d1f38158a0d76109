// The http_put status and failure classification; see http_status.hpp for the decisions.
#include "labsync/transports/http_status.hpp"

#include "labsync/verifier/sha256.hpp"

#include <fmt/format.h>
#include <openssl/sslerr.h>
#include <cctype>
#include <nlohmann/json.hpp>

namespace labsync::transports {

std::string_view to_string(http_failure failure) noexcept {
    switch (failure) {
        case http_failure::resolve_failed:
            return "host name did not resolve";
        case http_failure::connect_refused:
            return "connection refused";
        case http_failure::connect_timeout:
            return "connect/TLS handshake timed out";
        case http_failure::io_timeout:
            return "read/write idle timeout";
        case http_failure::connection_reset:
            return "connection reset or closed early";
        case http_failure::tls_server_untrusted:
            return "server certificate not trusted";
        case http_failure::tls_client_cert_refused:
            return "server refused our client certificate";
        case http_failure::tls_other:
            return "TLS error";
        case http_failure::protocol_error:
            return "malformed HTTP response";
        case http_failure::local_io_error:
            return "local read error";
    }
    return "unknown failure";
}

namespace {

std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

}  // namespace

std::string describe_http_failure(http_failure failure, std::string_view detail) {
    const std::string summary(to_string(failure));
    if (detail.empty()) return summary;
    const auto colon = detail.rfind(": ");
    const std::string cause = lower(colon == std::string_view::npos ? detail : detail.substr(colon + 2));
    const std::string said = lower(summary);
    if (cause.find(said) != std::string::npos || said.find(cause) != std::string::npos)
        return colon == std::string_view::npos ? summary
                                               : fmt::format("{} ({})", summary, detail.substr(0, colon));
    return fmt::format("{} ({})", summary, detail);
}

error_kind kind_for_put_status(int status) noexcept {
    switch (status) {
        case 200:  // already stored with the same sha
        case 201:  // stored now
            return error_kind::none;
        case 409:
            return error_kind::conflict;
        case 401:
        case 403:
            return error_kind::auth;
        case 400:  // bad id or header: this request will never be accepted
        case 412:  // code commit not in the allow-list
            return error_kind::rejected;
        case 411:  // no Content-Length (a proxy re-chunked the body)
        case 413:  // larger than the receiver's --max-body
            return error_kind::misconfigured;
        case 422:
            return error_kind::hash_mismatch;
        default:
            break;
    }
    if (status >= 500 && status <= 599) return error_kind::network;  // incl. 507 no space
    return error_kind::unknown;
}

std::string put_status_hint(int status, std::uint64_t bytes) {
    if (status == 413)
        return fmt::format(
            "fix: start the receiver with --max-body of at least {} bytes (the archive's size), then "
            "`syncd retry` this run",
            bytes);
    if (status == 411)
        return "fix: the receiver got no Content-Length; a proxy between sender and receiver must pass "
               "the request body unchanged (no re-chunking), then `syncd retry` this run";
    return {};
}

error_kind kind_for_probe_status(int status) noexcept {
    if (status == 200 || status == 404) return error_kind::none;
    if (status == 401 || status == 403) return error_kind::auth;
    if (status == 409) return error_kind::hash_mismatch;
    if (status >= 500 && status <= 599) return error_kind::network;
    return error_kind::unknown;
}

std::chrono::milliseconds stored_read_timeout(std::chrono::milliseconds io_timeout,
                                              std::optional<std::uint64_t> bytes) noexcept {
    constexpr std::uint64_t slow_bytes_per_ms = (16u << 20) / 1000;
    if (!bytes) return io_timeout + std::chrono::hours(1);
    return io_timeout + std::chrono::milliseconds(*bytes / slow_bytes_per_ms);
}

error_kind kind_for_failure(http_failure failure) noexcept {
    switch (failure) {
        case http_failure::tls_server_untrusted:
        case http_failure::tls_client_cert_refused:
            return error_kind::auth;
        case http_failure::resolve_failed:
        case http_failure::connect_refused:
        case http_failure::connect_timeout:
        case http_failure::io_timeout:
        case http_failure::connection_reset:
        case http_failure::tls_other:
            return error_kind::network;
        case http_failure::protocol_error:
        case http_failure::local_io_error:
            return error_kind::unknown;
    }
    return error_kind::unknown;
}

http_failure failure_for_tls_reason(int reason) noexcept {
    switch (reason) {
        case SSL_R_CERTIFICATE_VERIFY_FAILED:
            return http_failure::tls_server_untrusted;
        // Alerts the server sends about our certificate (TLS 1.3 sends them after the
        // client's handshake finished, so they surface on the first read).
        case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
        case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
        case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
        case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
        case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
        case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
        case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
        case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
        case SSL_R_TLSV1_ALERT_DECRYPT_ERROR:
        case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
            return http_failure::tls_client_cert_refused;
        case SSL_R_UNEXPECTED_EOF_WHILE_READING:
            return http_failure::connection_reset;
        default:
            return http_failure::tls_other;
    }
}

std::string body_excerpt(std::string_view body, std::size_t limit) {
    std::string out;
    for (unsigned char c : body) {
        if (out.size() >= limit) {
            out += "…";
            break;
        }
        if (c == '\n' || c == '\r' || c == '\t')
            out.push_back(' ');
        else if (c < 0x20 || c == 0x7f)
            out.push_back('?');
        else
            out.push_back(static_cast<char>(c));
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

std::optional<std::string> stated_sha256(std::string_view body) {
    auto doc = nlohmann::json::parse(body, nullptr, false);
    if (!doc.is_object() || !doc.contains("sha256") || !doc["sha256"].is_string()) return std::nullopt;
    auto sha = doc["sha256"].get<std::string>();
    if (!verifier::digest_from_hex(sha)) return std::nullopt;
    return sha;
}

}  // namespace labsync::transports
