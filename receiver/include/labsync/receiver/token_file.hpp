#pragma once
// Bearer tokens and the equipment each may write (--tokens FILE).
//
// File format, one grant a line: `<token> <equipment-pattern> [name]`; `#` starts a comment,
// blank lines are ignored. The pattern is an fnmatch(3) glob over equipment names (`*` for all,
// `scope-*`). `name` (optional) is what the sidecar records as the client; without it the client
// is `token@<line>` so a token never reaches the store or the logs. Tokens are kept only as
// SHA-256 digests and compared in constant time against every entry.

#include "labsync/verifier/sha256.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace labsync::receiver {

enum class auth_outcome {
    granted,
    missing,    // 401: no Authorization header (and no certificate binding)
    malformed,  // 401: Authorization is not "Bearer <token>"
    unknown,    // 401: the token is not in the file
    forbidden,  // 403: the token is known but its pattern does not cover this equipment
};

struct auth_decision {
    auth_outcome outcome = auth_outcome::missing;
    std::string principal;  // who was granted (for the sidecar's "client"), empty otherwise
};

class token_file {
public:
    // Parses the text of a tokens file; on failure returns nullopt and sets `error` to a message
    // naming `source` and the line.
    static std::optional<token_file> parse(std::string_view text, std::string_view source,
                                           std::string& error);

    // `authorization` is the raw header value, if any.
    auth_decision check(std::optional<std::string_view> authorization, std::string_view equipment) const;

    std::size_t size() const noexcept { return entries_.size(); }

private:
    struct entry {
        verifier::sha256_digest digest;
        std::string pattern;
        std::string name;
    };
    std::vector<entry> entries_;
};

// The whole access decision: tokens (when configured), then a verified client certificate whose
// CN or DNS SAN equals the equipment name, then --insecure-no-auth.
auth_decision authorize(const token_file* tokens, bool insecure_no_auth,
                        std::optional<std::string_view> authorization,
                        const std::vector<std::string>& client_cert_names, std::string_view equipment);

int status_for(auth_outcome outcome) noexcept;

}  // namespace labsync::receiver
