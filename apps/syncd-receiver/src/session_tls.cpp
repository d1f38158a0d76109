#include "session_impl.hpp"
#include "session_kinds.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/beast/ssl.hpp>

namespace labsync::receiver {
namespace {

// The client certificate's names (CN and DNS SANs) when it verified, for --client-ca identities.
std::vector<std::string> peer_names(SSL* ssl) {
    std::vector<std::string> names;
    X509* cert = SSL_get0_peer_certificate(ssl);
    if (cert == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return names;
    char cn[256];
    int len = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    if (len > 0) names.emplace_back(cn, static_cast<std::size_t>(len));
    auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    if (sans != nullptr) {
        for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
            const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
            if (gn->type != GEN_DNS) continue;
            const auto* data = ASN1_STRING_get0_data(gn->d.dNSName);
            names.emplace_back(reinterpret_cast<const char*>(data),
                               static_cast<std::size_t>(ASN1_STRING_length(gn->d.dNSName)));
        }
        GENERAL_NAMES_free(sans);
    }
    return names;
}

}  // namespace

awaitable<void> serve_tls(receiver_context& ctx, beast::tcp_stream tcp, std::string peer,
                          std::shared_ptr<connection_control> control) {
    beast::ssl_stream<beast::tcp_stream> tls(std::move(tcp), *ctx.tls);
    control->stream = &beast::get_lowest_layer(tls);
    beast::get_lowest_layer(tls).expires_after(ctx.config.header_timeout);
    auto [ec] = co_await tls.async_handshake(asio::ssl::stream_base::server, use_tuple);
    if (ec) {
        ctx.log->info("{}: TLS handshake failed: {}", peer, ec.message());
        co_return;
    }
    session<beast::ssl_stream<beast::tcp_stream>> s(ctx, tls, peer, peer_names(tls.native_handle()),
                                                    std::move(control));
    co_await s.run();
}

}  // namespace labsync::receiver
