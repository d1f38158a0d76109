// explain_access (doctor_checks.hpp): what the receiver's answer to `POST /v1/ping?equipment=E`,
// or the failure to get one, means for the operator, and what to change. Pure.
#include "doctor/doctor_checks.hpp"

#include <fmt/format.h>

namespace labsync::apps {
namespace {

std::string credentials_of(const transports::http_put_config& p) {
    if (!p.token_file.empty()) return fmt::format("the token in {}", p.token_file.string());
    if (!p.client_cert.empty()) return fmt::format("the client certificate {}", p.client_cert.string());
    return "no credentials (neither token_file nor client_cert is set)";
}

}  // namespace

access_explanation explain_access(const transports::access_answer& a, const std::string& equipment,
                                  const transports::http_put_config& p) {
    using transports::http_failure;
    const bool tls = p.url.starts_with("https://");
    if (a.setup_failed)
        return {a.detail,
                fmt::format("fix the file or the url named above in [equipment.{}.transport]", equipment)};
    if (a.answered) {
        const std::string status = fmt::format("HTTP {}", a.status);
        switch (a.status / 100 == 2 ? 200 : a.status) {
            case 200:
                return {fmt::format("{}: the credentials may write equipment {}", status, equipment), ""};
            case 403:
                return {
                    fmt::format("{}: the receiver knows {} but it does not grant equipment {}", status,
                                credentials_of(p), equipment),
                    fmt::format("this is the credential of another equipment: give {} a token whose line in "
                                "the receiver's --tokens file matches it (`<token> {}`), or a client "
                                "certificate with CN {}",
                                equipment, equipment, equipment)};
            case 401:
                return {
                    fmt::format("{}: the receiver does not accept {}", status, credentials_of(p)),
                    "add the token to the receiver's --tokens file (`<token> <equipment-pattern>`) or fix "
                    "token_file; with client certificates: is the receiver's --client-ca the CA that "
                    "signed client_cert?"};
            case 404:
            case 405:
                return {
                    fmt::format("{}: {} is not a syncd-receiver (or url has a wrong path)", status, p.url),
                    "url is the receiver's base, https://HOST:PORT, without /v1/..."};
            default:
                return {fmt::format("{}: {}", status, a.body),
                        "the receiver answered but not with 2xx: check its log"};
        }
    }
    const std::string detail = a.detail.empty() ? "no answer" : a.detail;
    switch (a.failure.value_or(http_failure::protocol_error)) {
        case http_failure::resolve_failed:
            return {detail, "the host name in url does not resolve: fix url or DNS (/etc/hosts)"};
        case http_failure::connect_refused:
            return {detail,
                    fmt::format("nothing listens at {}: is syncd-receiver running there (systemctl status "
                                "syncd-receiver) and is the port in url its --listen port?",
                                p.url)};
        case http_failure::connect_timeout:
        case http_failure::io_timeout:
            return {detail, "no answer in time: a firewall dropping packets, or the wrong host/port in url"};
        case http_failure::tls_server_untrusted:
            return {detail,
                    p.ca_file.empty()
                        ? "the receiver's certificate is not signed by a CA this host trusts: set "
                          "ca_file to the CA that signed it (and check that url's host name is in it)"
                        : fmt::format("the receiver's certificate is not signed by the CA in {} (unknown "
                                      "CA), or url's host name is not in it: set ca_file to the CA that "
                                      "signed the receiver's certificate",
                                      p.ca_file.string())};
        case http_failure::tls_client_cert_refused:
            return {detail,
                    "the receiver refuses this client certificate (or wants one): set client_cert and "
                    "client_key to a certificate signed by the receiver's --client-ca"};
        case http_failure::tls_other:
            return {detail,
                    tls ? "TLS failed: if the receiver serves plain HTTP (no --tls-cert), the url must "
                          "start with http://"
                        : "TLS failed"};
        case http_failure::connection_reset:
        case http_failure::protocol_error:
            return {detail,
                    tls ? "the receiver closed the connection or did not answer HTTP: is url's port the "
                          "receiver's?"
                        : "the receiver closed the connection or did not answer plain HTTP: if it serves "
                          "TLS (--tls-cert), the url must start with https:// (and ca_file name its CA)"};
        case http_failure::local_io_error:
            break;
    }
    return {detail, "check the receiver's log"};
}

}  // namespace labsync::apps
