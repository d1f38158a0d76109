#include "labsync/receiver/token_file.hpp"

#include <fnmatch.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>

namespace labsync::receiver {
namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

std::vector<std::string_view> fields(std::string_view line) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        std::size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
        if (i > start) out.push_back(line.substr(start, i - start));
    }
    return out;
}

bool pattern_char_ok(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == '*' || c == '?' || c == '[' || c == ']' || c == '!';
}

}  // namespace

std::optional<token_file> token_file::parse(std::string_view text, std::string_view source,
                                            std::string& error) {
    token_file out;
    std::size_t line_no = 0;
    while (!text.empty()) {
        auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        ++line_no;
        if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
        line = trim(line);
        if (line.empty()) continue;
        auto f = fields(line);
        auto where = std::string(source) + ":" + std::to_string(line_no) + ": ";
        if (f.size() < 2 || f.size() > 3) {
            error = where + "expected `<token> <equipment-pattern> [name]`, found " +
                    std::to_string(f.size()) + " field(s)";
            return std::nullopt;
        }
        if (f[0].size() < 16) {
            error = where + "token is shorter than 16 characters; use e.g. `openssl rand -hex 32`";
            return std::nullopt;
        }
        if (!std::all_of(f[1].begin(), f[1].end(), pattern_char_ok)) {
            error = where + "equipment pattern `" + std::string(f[1]) +
                    "` has characters outside [A-Za-z0-9._-] and the glob characters *?[]!";
            return std::nullopt;
        }
        entry e{verifier::sha256::of(f[0]), std::string(f[1]),
                f.size() == 3 ? std::string(f[2]) : "token@" + std::to_string(line_no)};
        out.entries_.push_back(std::move(e));
    }
    if (out.entries_.empty()) {
        error = std::string(source) + ": no tokens (every line is blank or a comment)";
        return std::nullopt;
    }
    return out;
}

auth_decision token_file::check(std::optional<std::string_view> authorization,
                                std::string_view equipment) const {
    if (!authorization) return {auth_outcome::missing, {}};
    std::string_view value = trim(*authorization);
    constexpr std::string_view scheme = "Bearer ";
    if (value.size() <= scheme.size() ||
        !std::equal(scheme.begin(), scheme.end(), value.begin(), [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        })) {
        return {auth_outcome::malformed, {}};
    }
    std::string_view token = trim(value.substr(scheme.size()));
    auto digest = verifier::sha256::of(token);
    // Every entry is compared, equal lengths always, so the time taken says nothing about which
    // entry (or how much of a token) matched.
    const entry* match = nullptr;
    for (const auto& e : entries_) {
        if (CRYPTO_memcmp(e.digest.data(), digest.data(), digest.size()) == 0 && match == nullptr) match = &e;
    }
    if (match == nullptr) return {auth_outcome::unknown, {}};
    std::string eq(equipment);
    if (fnmatch(match->pattern.c_str(), eq.c_str(), 0) != 0) return {auth_outcome::forbidden, {}};
    return {auth_outcome::granted, match->name};
}

auth_decision authorize(const token_file* tokens, bool insecure_no_auth,
                        std::optional<std::string_view> authorization,
                        const std::vector<std::string>& client_cert_names, std::string_view equipment) {
    auth_decision by_token{auth_outcome::missing, {}};
    if (tokens != nullptr) {
        by_token = tokens->check(authorization, equipment);
        if (by_token.outcome == auth_outcome::granted) return by_token;
    }
    for (const auto& name : client_cert_names) {
        if (name == equipment) return {auth_outcome::granted, "cert:" + name};
    }
    if (tokens == nullptr && insecure_no_auth) return {auth_outcome::granted, "anonymous"};
    // A certificate for another equipment is not a reason to hide a wrong token's 403.
    if (by_token.outcome == auth_outcome::missing && !client_cert_names.empty()) {
        return {auth_outcome::forbidden, {}};
    }
    return by_token;
}

int status_for(auth_outcome outcome) noexcept {
    switch (outcome) {
        case auth_outcome::granted:
            return 200;
        case auth_outcome::forbidden:
            return 403;
        case auth_outcome::missing:
        case auth_outcome::malformed:
        case auth_outcome::unknown:
            return 401;
    }
    return 401;
}

}  // namespace labsync::receiver
