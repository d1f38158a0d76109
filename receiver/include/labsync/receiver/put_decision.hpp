#pragma once
// Whether a PUT is accepted, decided from its headers alone, before a byte of the body is read
// (so `Expect: 100-continue` clients are refused without sending it). Pure: the caller gathers
// the facts (headers, auth outcome, free space) and sends what this returns.

#include "labsync/receiver/commit_allowlist.hpp"
#include "labsync/receiver/token_file.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace labsync::receiver {

struct put_facts {
    bool ids_valid = true;
    std::string_view id_error;  // why not (route::id_error), for the 400's message
    auth_outcome auth = auth_outcome::granted;
    bool chunked = false;
    std::optional<std::uint64_t> content_length;
    std::size_t sha_header_count = 0;
    std::string_view sha256;                 // the X-Content-SHA256 value when count == 1
    std::optional<std::string_view> commit;  // X-Code-Commit
    std::uint64_t max_body = 0;
    std::optional<std::uint64_t> free_bytes;  // statvfs of the store; nullopt if unknown
    std::uint64_t reserve_bytes = 0;          // kept free on the store (--min-free)
    // Size and free space are judged later: with `Expect: 100-continue` a run already stored is
    // answered (200 same, 409 different) without its body, whatever its size.
    bool size_pending = false;
};

struct put_verdict {
    int status = 0;  // 0: accepted, read the body; otherwise the final status to send
    std::string error;
    std::string message;
    bool accepted() const noexcept { return status == 0; }
};

// Order of checks: ids (400) → auth (401/403) → length (411) → sha header (400) → commit
// format (400) → allow-list (412) → size (413) → free space (507); the last two not while
// `size_pending`.
put_verdict decide_put(const put_facts& facts, const commit_allowlist* allowed);

}  // namespace labsync::receiver
