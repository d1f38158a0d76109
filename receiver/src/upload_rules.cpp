#include "labsync/receiver/upload_rules.hpp"

#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>

namespace labsync::receiver {
namespace {

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool is_hex_lower(char c) noexcept {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

std::string to_hex(const unsigned char* data, std::size_t n) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
        out += digits[data[i] >> 4];
        out += digits[data[i] & 0xf];
    }
    return out;
}

}  // namespace

std::optional<bool> parse_sf_boolean(std::string_view text) noexcept {
    text = trim(text);
    if (text == "?1") return true;
    if (text == "?0") return false;
    return std::nullopt;
}

std::optional<std::uint64_t> parse_sf_integer(std::string_view text) noexcept {
    text = trim(text);
    if (text.empty() || text.size() > 15) return std::nullopt;
    std::uint64_t v = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return v;
}

std::optional<std::string> parse_repr_digest(std::string_view text, std::string& why) {
    // Dictionary members separated by commas: `alg=:base64:`; only sha-256 is used.
    while (!text.empty()) {
        auto comma = text.find(',');
        std::string_view member = trim(text.substr(0, comma));
        text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
        auto eq = member.find('=');
        if (eq == std::string_view::npos) continue;
        if (trim(member.substr(0, eq)) != "sha-256") continue;
        std::string_view value = trim(member.substr(eq + 1));
        if (value.size() != 46 || value.front() != ':' || value.back() != ':') {
            why = "Repr-Digest sha-256 must be `sha-256=:<44 base64 characters>:` (RFC 9530)";
            return std::nullopt;
        }
        std::string_view b64 = value.substr(1, 44);
        if (b64.back() != '=' || b64[42] == '=') {
            why = "Repr-Digest sha-256 is not the base64 of 32 bytes";
            return std::nullopt;
        }
        std::array<unsigned char, 36> raw{};
        int n = EVP_DecodeBlock(raw.data(), reinterpret_cast<const unsigned char*>(b64.data()), 44);
        if (n != 33) {
            why = "Repr-Digest sha-256 is not valid base64";
            return std::nullopt;
        }
        return to_hex(raw.data(), 32);
    }
    why = "Repr-Digest has no sha-256 member; send `Repr-Digest: sha-256=:<base64>:` (RFC 9530)";
    return std::nullopt;
}

std::string repr_digest_of(std::string_view sha256_hex) {
    std::array<unsigned char, 32> raw{};
    for (std::size_t i = 0; i < 32 && 2 * i + 1 < sha256_hex.size(); ++i) {
        auto nib = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
        raw[i] = static_cast<unsigned char>(nib(sha256_hex[2 * i]) << 4 | nib(sha256_hex[2 * i + 1]));
    }
    std::array<unsigned char, 48> b64{};
    int n = EVP_EncodeBlock(b64.data(), raw.data(), 32);
    return "sha-256=:" + std::string(reinterpret_cast<const char*>(b64.data()), static_cast<std::size_t>(n)) +
           ":";
}

bool valid_upload_id(std::string_view id) noexcept {
    return id.size() == 32 && std::all_of(id.begin(), id.end(), is_hex_lower);
}

std::optional<std::string_view> upload_target(std::string_view target) noexcept {
    constexpr std::string_view prefix = "/v1/uploads/";
    if (!target.starts_with(prefix)) return std::nullopt;
    target.remove_prefix(prefix.size());
    return target.substr(0, target.find('?'));
}

std::string upload_location(std::string_view id) {
    return "/v1/uploads/" + std::string(id);
}

std::string upload_state_json(const upload_state& s) {
    nlohmann::json j{{"equipment", s.equipment}, {"run", s.run},       {"offset", s.offset},
                     {"complete", s.complete},   {"result", s.result}, {"created", s.created},
                     {"updated", s.updated},     {"sha256", s.sha256}, {"code_commit", s.code_commit},
                     {"client", s.client}};
    j["length"] = s.length ? nlohmann::json(*s.length) : nlohmann::json(nullptr);
    return j.dump() + "\n";
}

std::optional<upload_state> parse_upload_state(std::string_view text) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    try {
        upload_state s;
        s.equipment = j.at("equipment").get<std::string>();
        s.run = j.at("run").get<std::string>();
        if (!j.at("length").is_null()) s.length = j.at("length").get<std::uint64_t>();
        s.offset = j.at("offset").get<std::uint64_t>();
        s.complete = j.at("complete").get<bool>();
        s.result = j.at("result").get<int>();
        s.created = j.at("created").get<std::int64_t>();
        s.updated = j.at("updated").get<std::int64_t>();
        s.sha256 = j.at("sha256").get<std::string>();
        s.code_commit = j.at("code_commit").get<std::string>();
        s.client = j.at("client").get<std::string>();
        return s;
    } catch (const nlohmann::json::exception&) {
        return std::nullopt;
    }
}

std::optional<std::chrono::seconds> parse_expiry(std::string_view text) noexcept {
    if (text.empty()) return std::nullopt;
    std::int64_t unit = 1;
    switch (text.back()) {
        case 's':
            unit = 1;
            break;
        case 'm':
            unit = 60;
            break;
        case 'h':
            unit = 3600;
            break;
        case 'd':
            unit = 86400;
            break;
        default:
            unit = 0;
    }
    if (unit != 0) text.remove_suffix(1);
    auto n = parse_sf_integer(text);
    if (!n || *n == 0 || *n > 100u * 365 * 86400) return std::nullopt;
    return std::chrono::seconds(static_cast<std::int64_t>(*n) * (unit == 0 ? 1 : unit));
}

bool upload_expired(const upload_state& state, std::int64_t now, std::chrono::seconds expiry) noexcept {
    return upload_expires_in(state, now, expiry) <= 0;
}

std::int64_t upload_expires_in(const upload_state& state, std::int64_t now,
                               std::chrono::seconds expiry) noexcept {
    return state.updated + static_cast<std::int64_t>(expiry.count()) - now;
}

std::string upload_limit_value(std::uint64_t max_append, std::optional<std::int64_t> expires_in) {
    std::string out = "max-append-size=" + std::to_string(max_append);
    if (expires_in) out += ", expires=" + std::to_string(std::max<std::int64_t>(*expires_in, 0));
    return out;
}

append_verdict check_append_headers(const append_facts& f, append_request& out) {
    if (f.interop_version && trim(*f.interop_version) != upload_interop_version) {
        return {400, "bad_header",
                "Upload-Draft-Interop-Version " + std::string(*f.interop_version) +
                    " is not supported; this receiver speaks version " + std::string(upload_interop_version) +
                    " (draft-ietf-httpbis-resumable-upload-05)"};
    }
    if (!f.upload_complete) return {400, "bad_header", "Upload-Complete is required (?0 or ?1)"};
    auto complete = parse_sf_boolean(*f.upload_complete);
    if (!complete) return {400, "bad_header", "Upload-Complete must be ?0 or ?1"};
    out.complete = *complete;
    if (!f.creation) {
        if (!f.upload_offset) return {400, "bad_header", "Upload-Offset is required on PATCH"};
        out.offset = parse_sf_integer(*f.upload_offset);
        if (!out.offset) return {400, "bad_header", "Upload-Offset must be a non-negative integer"};
    }
    if (f.upload_length) {
        out.length = parse_sf_integer(*f.upload_length);
        if (!out.length) return {400, "bad_header", "Upload-Length must be a non-negative integer"};
    }
    if (f.repr_digest) {
        std::string why;
        auto sha = parse_repr_digest(*f.repr_digest, why);
        if (!sha) return {400, "bad_header", why};
        out.sha256 = *sha;
    }
    if (f.chunked) {
        return {411, "length_required",
                "chunked bodies are refused; send Content-Length with the size of this part"};
    }
    out.body = f.content_length;
    if (!f.creation && out.body > 0 && (!f.content_type || trim(*f.content_type) != partial_upload_type)) {
        return {415, "unsupported_media_type",
                "a PATCH body must be Content-Type: application/partial-upload"};
    }
    if (out.body > f.max_append) {
        return {413, "too_large",
                "this request's body of " + std::to_string(out.body) + " bytes exceeds max-append-size " +
                    std::to_string(f.max_append) +
                    " (--max-body limits one request, see Upload-Limit); send the upload in smaller parts"};
    }
    if (out.length && out.complete && f.creation && out.body != *out.length) {
        return {400, "inconsistent_length",
                "Upload-Complete: ?1 with a body of " + std::to_string(out.body) +
                    " bytes but Upload-Length " + std::to_string(*out.length)};
    }
    return {};
}

append_verdict check_append_state(const upload_state& s, const append_request& r) {
    if (s.complete) {
        return {400, "upload_completed",
                "the upload is already complete (answered " + std::to_string(s.result) +
                    "); nothing can be appended"};
    }
    if (r.offset && *r.offset != s.offset) {
        return {409, "offset_mismatch",
                "Upload-Offset " + std::to_string(*r.offset) + " does not match the upload's offset " +
                    std::to_string(s.offset) + "; ask with HEAD and resume from there"};
    }
    auto length = r.length ? r.length : s.length;
    if (r.length && s.length && *r.length != *s.length) {
        return {400, "inconsistent_length",
                "Upload-Length " + std::to_string(*r.length) + " differs from the upload's length " +
                    std::to_string(*s.length)};
    }
    const std::uint64_t end = s.offset + r.body;
    if (length && end > *length) {
        return {400, "inconsistent_length",
                "this part ends at byte " + std::to_string(end) + ", past the upload's length " +
                    std::to_string(*length)};
    }
    if (r.complete && length && end != *length) {
        return {400, "inconsistent_length",
                "Upload-Complete: ?1 but the upload would end at byte " + std::to_string(end) +
                    ", not at its length " + std::to_string(*length)};
    }
    if (r.complete && r.sha256.empty() && s.sha256.empty()) {
        return {400, "digest_required",
                "the request that completes an upload must carry the archive's digest: "
                "`Repr-Digest: sha-256=:<base64>:` (RFC 9530)"};
    }
    return {};
}

append_verdict check_space(std::uint64_t needed, std::optional<std::uint64_t> free_bytes,
                           std::uint64_t reserve_bytes) {
    if (free_bytes && needed + reserve_bytes > *free_bytes) {
        return {507, "insufficient_storage",
                "the store has " + std::to_string(*free_bytes) + " bytes free, the upload needs " +
                    std::to_string(needed) + " more (plus --min-free " + std::to_string(reserve_bytes) + ")"};
    }
    return {};
}

}  // namespace labsync::receiver
