#pragma once
// A curl-driven client of the receiver's resumable uploads (docs/protocol.md "Resumable
// uploads") for the integration tests: each call is one real curl process; the final response's
// status, headers and body are returned.

#include "receiver_client.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace labsync::test {

struct upload_reply {
    int status = 0;
    std::map<std::string, std::string> headers;  // the final response's, names in lower case
    std::string body;
    std::string header(const std::string& lower_name) const;
    std::uint64_t offset() const;  // Upload-Offset (throws when absent)
};

class upload_client {
public:
    explicit upload_client(const receiver_fixture& rx, std::string token = receiver_options::eq1_token);
    // Any receiver at `base_url` ("http://127.0.0.1:PORT"); `curl_args` go on every request
    // (e.g. --limit-rate; no Authorization unless given here).
    upload_client(std::string base_url, std::vector<std::string> curl_args)
        : url_(std::move(base_url)), curl_args_(std::move(curl_args)) {}

    // POST /v1/runs/E/R with Upload-Complete: ?0 (and Upload-Length when given), no body.
    upload_reply create(const std::string& equipment, const std::string& run,
                        std::optional<std::uint64_t> length = std::nullopt,
                        std::vector<std::string> extra = {});
    upload_reply head(const std::string& location);
    // PATCH bytes [from, to) of `file` at Upload-Offset `offset` (default: from).
    upload_reply patch(const std::string& location, const std::filesystem::path& file, std::uint64_t from,
                       std::uint64_t to, bool complete, std::vector<std::string> extra = {},
                       std::optional<std::uint64_t> offset = std::nullopt);
    upload_reply del(const std::string& location);
    // Any request; `body`: a file to send as the body.
    upload_reply request(const std::string& method, const std::string& location,
                         std::vector<std::string> headers,
                         const std::optional<std::filesystem::path>& body = std::nullopt);

private:
    std::string url_;
    std::vector<std::string> curl_args_;  // TLS, authorization, …
    temp_dir tmp_;
    int parts_ = 0;
};

// `Repr-Digest: sha-256=:…:` of a file.
std::string repr_digest_header(const std::filesystem::path& file);

}  // namespace labsync::test
