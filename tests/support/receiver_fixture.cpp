#include "receiver_fixture.hpp"

#include <csignal>
#include <stdexcept>

namespace labsync::test {
namespace fs = std::filesystem;
namespace {

// EC P-256 keys keep generation fast. The expired certificate needs explicit dates, which only
// `openssl ca` takes on OpenSSL 3.0, hence the tiny CA database.
constexpr const char* pki_script = R"SH(set -e
k() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
k ca.key; openssl req -x509 -new -key ca.key -subj "/CN=labsync test CA" -days 2 -out ca.pem
k other-ca.key; openssl req -x509 -new -key other-ca.key -subj "/CN=other CA" -days 2 -out other-ca.pem
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > server.ext
k server.key; openssl req -new -key server.key -subj "/CN=localhost" -out server.csr
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext -out server.pem
printf 'extendedKeyUsage=clientAuth\n' > client.ext
k client.key; openssl req -new -key client.key -subj "/CN=$1" -out client.csr
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile client.ext -out client.pem
k foreign.key; openssl req -new -key foreign.key -subj "/CN=$1" -out foreign.csr
openssl x509 -req -in foreign.csr -CA other-ca.pem -CAkey other-ca.key -CAcreateserial -days 2 -extfile client.ext -out foreign.pem
k expired.key; openssl req -new -key expired.key -subj "/CN=$1" -out expired.csr
mkdir -p ca.db; : > ca.db/index; echo 01 > ca.db/serial
cat > ca.cnf <<CNF
[ca]
default_ca = d
[d]
database = ca.db/index
serial = ca.db/serial
new_certs_dir = ca.db
default_md = sha256
policy = p
copy_extensions = none
unique_subject = no
[p]
commonName = supplied
CNF
openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr -startdate 20200101000000Z -enddate 20200102000000Z -extfile client.ext -out expired.pem
)SH";

}  // namespace

test_pki make_test_pki(const fs::path& dir, const std::string& client_equipment) {
    fs::create_directories(dir);
    process_options opts;
    opts.cwd = dir;
    auto r = run_process({"bash", "-c", pki_script, "pki", client_equipment}, opts);
    if (r.exit_code != 0) throw std::runtime_error("make_test_pki: openssl failed: " + r.err);
    test_pki p;
    p.ca_cert = dir / "ca.pem";
    p.server_cert = dir / "server.pem";
    p.server_key = dir / "server.key";
    p.client_cert = dir / "client.pem";
    p.client_key = dir / "client.key";
    p.expired_cert = dir / "expired.pem";
    p.expired_key = dir / "expired.key";
    p.foreign_cert = dir / "foreign.pem";
    p.foreign_key = dir / "foreign.key";
    p.foreign_ca_cert = dir / "other-ca.pem";
    return p;
}

receiver_fixture::receiver_fixture(receiver_options options, std::string receiver_binary) {
    store_ = options.store.value_or(temp_.path() / "store");
    tls_ = options.tls || options.require_client_cert;
    std::vector<std::string> argv{receiver_binary, "--listen", "127.0.0.1:0", "--store", store_.string()};
    if (tls_) {
        pki_ = make_test_pki(temp_.path() / "pki", options.client_equipment);
        argv.insert(argv.end(), {"--tls-cert", pki_->server_cert.string(), "--tls-key",
                                 pki_->server_key.string(), "--client-ca", pki_->ca_cert.string()});
        if (options.require_client_cert) argv.push_back("--require-client-cert");
    }
    if (!options.tokens.empty()) {
        std::string text = "# test tokens\n";
        for (const auto& [token, pattern] : options.tokens) text += token + " " + pattern + "\n";
        write_secret_file(tokens_file(), text);
        argv.insert(argv.end(), {"--tokens", tokens_file().string()});
    }
    if (options.insecure_no_auth) argv.push_back("--insecure-no-auth");
    if (options.allowed_commits) {
        std::string text;
        for (const auto& c : *options.allowed_commits) text += c + "\n";
        write_file(temp_.path() / "allowed-commits", text);
        argv.insert(argv.end(), {"--allowed-commits", (temp_.path() / "allowed-commits").string()});
    }
    if (!options.member_check) argv.push_back("--no-member-check");
    argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());
    process_ = std::make_unique<child_process>(argv);
    auto line = process_->wait_for_line("listening on ", std::chrono::seconds(20));
    if (!line) {
        auto err = process_->stderr_text();
        process_->stop(SIGKILL, std::chrono::seconds(5));
        stopped_ = true;
        throw std::runtime_error("syncd-receiver (" + receiver_binary + ") did not start: " + err);
    }
    port_ = std::stoi(line->substr(line->rfind(':') + 1));
}

receiver_fixture::~receiver_fixture() {
    if (!stopped_ && process_) process_->stop(SIGTERM, std::chrono::seconds(10));
}

std::optional<run_result> receiver_fixture::stop(std::chrono::milliseconds timeout) {
    stopped_ = true;
    return process_->stop(SIGTERM, timeout);
}

std::string receiver_fixture::url() const {
    return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
}

std::string receiver_fixture::run_url(const std::string& equipment, const std::string& run) const {
    return url() + "/v1/runs/" + equipment + "/" + run;
}

const test_pki& receiver_fixture::pki() const {
    if (!pki_) throw std::logic_error("receiver_fixture: no certificates without tls");
    return *pki_;
}

}  // namespace labsync::test
