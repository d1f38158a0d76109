// Fuzzes the receiver's two operator-written files: the bearer tokens file and the allowed-commits
// list. Input: "<file text>\xff<Authorization header>\xff<equipment or commit>". Parsing must never
// crash; a parsed file must answer any header without crashing; a grant implies the header was a
// well-formed Bearer token.
#include "labsync/receiver/commit_allowlist.hpp"
#include "labsync/receiver/token_file.hpp"

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

// "Bearer " in any case after optional leading blanks (RFC 7235: the scheme is case-insensitive).
bool bearer_scheme(std::string_view header) {
    while (!header.empty() && (header.front() == ' ' || header.front() == '\t')) header.remove_prefix(1);
    if (header.size() < 7) return false;
    for (std::size_t i = 0; i < 7; ++i)
        if (std::tolower(static_cast<unsigned char>(header[i])) != "bearer "[i]) return false;
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace labsync::receiver;
    std::string_view all(reinterpret_cast<const char*>(data), size);
    std::string_view file = all, header, subject;
    if (auto a = all.find('\xff'); a != std::string_view::npos) {
        file = all.substr(0, a);
        std::string_view rest = all.substr(a + 1);
        auto b = rest.find('\xff');
        header = rest.substr(0, b);
        subject = b == std::string_view::npos ? std::string_view{} : rest.substr(b + 1);
    }

    std::string error;
    if (auto tokens = token_file::parse(file, "fuzz.tokens", error)) {
        auth_decision d = tokens->check(header, subject);
        if (d.outcome == auth_outcome::granted && (!bearer_scheme(header) || d.principal.empty()))
            std::abort();
        (void)tokens->check(std::nullopt, subject);
        (void)authorize(&*tokens, false, header, {std::string(subject)}, subject);
    } else if (error.empty()) {
        std::abort();  // a refused file must say why
    }

    error.clear();
    if (auto commits = commit_allowlist::parse(file, "fuzz.commits", error)) {
        bool allowed = commits->allows(subject);
        if (allowed && subject.size() < 7) std::abort();
    } else if (error.empty()) {
        std::abort();
    }
    return 0;
}
