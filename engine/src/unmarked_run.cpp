// Runs without their marker; see unmarked_run.hpp.
#include "labsync/engine/unmarked_run.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <cctype>

namespace labsync::engine {
namespace {

// Lower case, letters and digits only, without leading dots and without an extension:
// "Run_Complete.txt" and ".run-complete" both become "runcomplete".
std::string normal_form(std::string_view name) {
    while (!name.empty() && name.front() == '.') name.remove_prefix(1);
    if (auto dot = name.rfind('.'); dot != std::string_view::npos && dot > 0) name = name.substr(0, dot);
    std::string out;
    for (char c : name)
        if (std::isalnum(static_cast<unsigned char>(c)))
            out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = up;
        }
    }
    return row[b.size()];
}

bool usual_marker(const std::string& n) {
    static constexpr std::array<std::string_view, 8> words{"done",  "complete", "completed", "finished",
                                                           "ready", "finish",   "end",       "eof"};
    if (std::find(words.begin(), words.end(), n) != words.end()) return true;
    return n.find("complete") != std::string::npos || n.find("done") != std::string::npos ||
           n.find("finished") != std::string::npos;
}

}  // namespace

std::vector<std::string> marker_like_names(std::string_view marker, const std::vector<std::string>& names) {
    const std::string want = normal_form(marker);
    std::vector<std::string> out;
    for (const auto& name : names) {
        const std::string n = normal_form(name);
        if (n.empty()) continue;
        const bool same_shape = n == want;
        // Short names are close to many words: one edit below 8 letters, two from 8.
        const bool typo = want.size() >= 4 && edit_distance(n, want) <= (want.size() < 8 ? 1u : 2u);
        if (same_shape || typo || usual_marker(n)) out.push_back(name);
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::string> find_marker_like(const std::filesystem::path& run_dir, std::string_view marker) {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(run_dir, ec))
        names.push_back(entry.path().filename().string());
    return marker_like_names(marker, names);
}

std::string describe_unmarked(const unmarked_run& run) {
    if (run.marker_like.empty()) return fmt::format("no marker {} yet", run.expected_marker);
    return fmt::format("no marker {}; found {} (a different marker name?)", run.expected_marker,
                       fmt::join(run.marker_like, ", "));
}

}  // namespace labsync::engine
