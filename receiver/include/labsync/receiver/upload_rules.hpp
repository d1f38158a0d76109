#pragma once
// Pure rules of the resumable-upload protocol (draft-ietf-httpbis-resumable-upload-05, the
// version tus-js-client 4.x calls `ietf-draft-05`, interop version 6; docs/protocol.md
// "Resumable uploads"): structured-field headers, the upload's durable state and its JSON form,
// and every decision taken on a request before or after the store is asked. No I/O.
//
// An upload resource is `/v1/uploads/<id>`, created by `POST /v1/runs/<equipment>/<run>`; its
// state (upload_state) is a JSON file in the store, so any receiver sharing the store can serve it.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace labsync::receiver {

// The draft interop version tus-js-client 4.x sends in `ietf-draft-05` mode.
inline constexpr std::string_view upload_interop_version = "6";
inline constexpr std::string_view partial_upload_type = "application/partial-upload";

// Structured-field boolean (RFC 8941): "?1" / "?0".
std::optional<bool> parse_sf_boolean(std::string_view text) noexcept;
// Structured-field integer restricted to 0..999999999999999 (at most 15 digits, RFC 8941).
std::optional<std::uint64_t> parse_sf_integer(std::string_view text) noexcept;
// RFC 9530 `Repr-Digest`: a dictionary of byte sequences; returns the `sha-256` member as 64
// lowercase hex digits. nullopt (with `why`) when it is malformed or has no sha-256 member.
std::optional<std::string> parse_repr_digest(std::string_view text, std::string& why);
// The value of `Repr-Digest` for a sha-256 given in hex (for clients and tests).
std::string repr_digest_of(std::string_view sha256_hex);

// Upload ids: 32 lowercase hex digits (128 random bits).
bool valid_upload_id(std::string_view id) noexcept;
// "/v1/uploads/<id>" → id (possibly invalid, so the caller answers 404); nullopt for other targets.
std::optional<std::string_view> upload_target(std::string_view target) noexcept;
std::string upload_location(std::string_view id);

// What the store keeps for one upload (`.uploads/<id>/state.json`).
struct upload_state {
    std::string equipment;
    std::string run;
    std::optional<std::uint64_t> length;  // Upload-Length, once the client said it
    std::uint64_t offset = 0;             // bytes fsynced and acknowledged
    bool complete = false;                // completed (published or refused); data released
    int result = 0;                       // the completing answer's status (complete only)
    std::int64_t created = 0;             // unix seconds
    std::int64_t updated = 0;             // unix seconds of the last change: expiry counts from it
    std::string sha256;                   // Repr-Digest given at creation ("" if none)
    std::string code_commit;
    std::string client;
};

std::string upload_state_json(const upload_state& state);
std::optional<upload_state> parse_upload_state(std::string_view text);

// --upload-expiry: a positive count with s/m/h/d (or none: seconds), e.g. "7d", "90s".
std::optional<std::chrono::seconds> parse_expiry(std::string_view text) noexcept;

// Expiry: an upload untouched for `expiry` is abandoned; its space is released.
bool upload_expired(const upload_state& state, std::int64_t now, std::chrono::seconds expiry) noexcept;
std::int64_t upload_expires_in(const upload_state& state, std::int64_t now,
                               std::chrono::seconds expiry) noexcept;
// `Upload-Limit: max-append-size=N, expires=S` (S: seconds left; omitted once complete).
std::string upload_limit_value(std::uint64_t max_append, std::optional<std::int64_t> expires_in);

// Headers of a creation (POST) or append (PATCH) request, gathered by the session.
struct append_facts {
    bool creation = false;  // POST on a run (otherwise PATCH on an upload)
    std::optional<std::string_view> interop_version;
    std::optional<std::string_view> upload_complete;  // raw field values, validated here
    std::optional<std::string_view> upload_offset;
    std::optional<std::string_view> upload_length;
    std::optional<std::string_view> repr_digest;
    std::optional<std::string_view> content_type;
    bool chunked = false;
    std::uint64_t content_length = 0;
    std::uint64_t max_append = 0;  // --max-body
};

struct append_verdict {
    int status = 0;  // 0: go on
    std::string error;
    std::string message;
    bool accepted() const noexcept { return status == 0; }
};

// The header values once valid.
struct append_request {
    bool complete = false;
    std::optional<std::uint64_t> offset;  // PATCH only
    std::optional<std::uint64_t> length;
    std::string sha256;  // from Repr-Digest, "" if none
    std::uint64_t body = 0;
};

// Header checks (before the store): 400 malformed/missing fields, 411 chunked, 413 body above
// --max-body, 415 a PATCH body that is not application/partial-upload.
append_verdict check_append_headers(const append_facts& facts, append_request& out);

// Checks against the stored state (after it was read under the upload's lock): 400 completed
// upload or inconsistent length, 409 offset mismatch, 400 completing without a digest.
// `state.offset` is the current offset named in the 409's message and Upload-Offset.
append_verdict check_append_state(const upload_state& state, const append_request& request);

// 507 when `needed` bytes (plus --min-free) do not fit in `free_bytes` (unknown: fits).
append_verdict check_space(std::uint64_t needed, std::optional<std::uint64_t> free_bytes,
                           std::uint64_t reserve_bytes);

}  // namespace labsync::receiver
