#include "labsync/receiver/commit_allowlist.hpp"

#include "labsync/receiver/request_rules.hpp"

#include <algorithm>
#include <cctype>

namespace labsync::receiver {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

}  // namespace

std::optional<commit_allowlist> commit_allowlist::parse(std::string_view text, std::string_view source,
                                                        std::string& error) {
    commit_allowlist out;
    out.source_ = std::string(source);
    std::size_t line_no = 0;
    while (!text.empty()) {
        auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        ++line_no;
        if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) line.remove_prefix(1);
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.remove_suffix(1);
        if (line.empty()) continue;
        if (!valid_commit(line)) {
            error = std::string(source) + ":" + std::to_string(line_no) + ": `" +
                    std::string(line.substr(0, 80)) + "` is not a git commit (7 to 64 hex digits)";
            return std::nullopt;
        }
        out.commits_.push_back(lower(line));
    }
    return out;
}

bool commit_allowlist::allows(std::string_view commit) const noexcept {
    if (!valid_commit(commit)) return false;
    std::string c = lower(commit);
    for (const auto& entry : commits_) {
        std::size_t n = std::min(entry.size(), c.size());
        if (entry.compare(0, n, c, 0, n) == 0) return true;
    }
    return false;
}

}  // namespace labsync::receiver
