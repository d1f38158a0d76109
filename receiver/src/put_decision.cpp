#include "labsync/receiver/put_decision.hpp"

#include "labsync/receiver/request_rules.hpp"

namespace labsync::receiver {

put_verdict decide_put(const put_facts& f, const commit_allowlist* allowed) {
    if (!f.ids_valid) {
        return {400, "bad_id",
                f.id_error.empty() ? std::string("equipment must match [A-Za-z0-9._-]{1,64} and run "
                                                 "[A-Za-z0-9._-]{1,128}, neither starting with `.`")
                                   : std::string(f.id_error)};
    }
    switch (f.auth) {
        case auth_outcome::granted:
            break;
        case auth_outcome::missing:
            return {401, "unauthorized",
                    "send `Authorization: Bearer <token>` or a client certificate for this equipment"};
        case auth_outcome::malformed:
            return {401, "unauthorized", "Authorization must be `Bearer <token>`"};
        case auth_outcome::unknown:
            return {401, "unauthorized", "the bearer token is not known to this receiver"};
        case auth_outcome::forbidden:
            return {403, "forbidden", "the credentials presented do not grant this equipment"};
    }
    if (f.chunked) {
        return {411, "length_required",
                "chunked bodies are refused; send Content-Length with the archive size"};
    }
    if (!f.content_length) return {411, "length_required", "Content-Length is required"};
    if (f.sha_header_count == 0) return {400, "bad_header", "X-Content-SHA256 is required"};
    if (f.sha_header_count > 1) return {400, "bad_header", "X-Content-SHA256 appears more than once"};
    if (!valid_sha256_hex(f.sha256)) {
        return {400, "bad_header", "X-Content-SHA256 must be exactly 64 lowercase hex digits"};
    }
    if (f.commit && !valid_commit(*f.commit)) {
        return {400, "bad_header", "X-Code-Commit must be a git commit id of 7 to 64 hex digits"};
    }
    if (allowed != nullptr) {
        if (!f.commit) {
            return {412, "commit_not_allowed",
                    "this receiver only accepts uploads from allowed code commits: send X-Code-Commit, or "
                    "ask the "
                    "operator to run without --allowed-commits"};
        }
        if (!allowed->allows(*f.commit)) {
            return {
                412, "commit_not_allowed",
                "code commit " + std::string(*f.commit) + " is not in the receiver's allow-list (" +
                    allowed->source() +
                    "); deploy an allowed build on the sender, or add this commit to that file and restart "
                    "the receiver"};
        }
    }
    if (f.size_pending) return {};
    if (*f.content_length > f.max_body) {
        return {413, "too_large",
                "body of " + std::to_string(*f.content_length) + " bytes exceeds this receiver's limit of " +
                    std::to_string(f.max_body) + " bytes (--max-body)"};
    }
    if (f.free_bytes && *f.content_length + f.reserve_bytes > *f.free_bytes) {
        return {507, "insufficient_storage",
                "the store has " + std::to_string(*f.free_bytes) + " bytes free, the upload needs " +
                    std::to_string(*f.content_length + f.reserve_bytes)};
    }
    return {};
}

}  // namespace labsync::receiver
