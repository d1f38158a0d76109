#pragma once
// The code commits allowed to upload (--allowed-commits FILE): one git commit (7–64 hex digits)
// a line, `#` comments. A request's X-Code-Commit matches an entry when one is a prefix of the
// other and the shorter has at least 7 digits, so abbreviated and full ids both work.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace labsync::receiver {

class commit_allowlist {
public:
    static std::optional<commit_allowlist> parse(std::string_view text, std::string_view source,
                                                 std::string& error);

    bool allows(std::string_view commit) const noexcept;
    const std::string& source() const noexcept { return source_; }
    std::size_t size() const noexcept { return commits_.size(); }

private:
    std::vector<std::string> commits_;  // lowercase
    std::string source_;
};

}  // namespace labsync::receiver
