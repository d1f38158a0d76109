#include "labsync/engine/gate.hpp"

#include "labsync/engine/external_check.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace labsync::engine {
namespace {

gate_finding hard(std::string code, std::string message, std::string path = {}) {
    return {severity::hard, std::move(code), std::move(message), std::move(path)};
}
gate_finding soft(std::string code, std::string message, std::string path = {}) {
    return {severity::soft, std::move(code), std::move(message), std::move(path)};
}

std::string read_small_file_at(int dir_fd, const char* name, std::optional<std::string>& error) {
    const int fd = ::openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT) error = std::strerror(errno);
        return {};
    }
    std::string out;
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            error = std::strerror(errno);
            break;
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
        if (out.size() > (16u << 20)) {
            error = "larger than 16 MiB";
            break;
        }
    }
    ::close(fd);
    return out;
}

}  // namespace

bool symlink_escapes(std::string_view link_path, std::string_view target) {
    if (target.empty() || target.front() == '/') return true;
    // Depth of the directory holding the link, then walk the target's components.
    int depth = static_cast<int>(std::count(link_path.begin(), link_path.end(), '/'));
    std::size_t i = 0;
    while (i <= target.size()) {
        auto j = target.find('/', i);
        if (j == std::string_view::npos) j = target.size();
        const auto part = target.substr(i, j - i);
        if (part == "..") {
            if (--depth < 0) return true;
        } else if (!part.empty() && part != ".") {
            ++depth;
        }
        i = j + 1;
    }
    return false;
}

gate_outcome evaluate_gate(const gate_inputs& in, const equipment_config& eq, bool marker_required) {
    gate_outcome out;
    auto& f = out.findings;
    if (in.walk.error) {
        f.push_back(
            hard("walk_failed",
                 fmt::format("cannot walk the run at '{}': {}", in.walk.error_path, in.walk.error.message()),
                 in.walk.error_path));
    }
    if (!in.marker_present) {
        if (marker_required)
            f.push_back(
                hard("marker_missing", fmt::format("marker file '{}' is not present", eq.marker_name)));
        else
            f.push_back(soft(
                "marker_missing",
                fmt::format("marker file '{}' is not present (run enqueued by API call)", eq.marker_name)));
    }
    for (const auto& w : in.walk.findings) {
        switch (w.kind) {
            case verifier::finding_kind::symlink: {
                const auto it = std::find_if(in.symlinks.begin(), in.symlinks.end(),
                                             [&](const symlink_info& s) { return s.path == w.path; });
                if (it == in.symlinks.end())
                    f.push_back(hard("symlink_unreadable",
                                     fmt::format("symlink '{}' could not be read", w.path), w.path));
                else if (symlink_escapes(it->path, it->target))
                    f.push_back(
                        hard("symlink_escape",
                             fmt::format("symlink '{}' points outside the run (-> '{}')", w.path, it->target),
                             w.path));
                else
                    f.push_back(
                        soft("symlink",
                             fmt::format("symlink '{}' (-> '{}') stays inside the run but is not shipped",
                                         w.path, it->target),
                             w.path));
                break;
            }
            case verifier::finding_kind::device:
            case verifier::finding_kind::socket:
            case verifier::finding_kind::fifo:
                f.push_back(hard("special_file",
                                 fmt::format("'{}' is a {} and cannot be shipped: {}", w.path,
                                             verifier::to_string(w.kind), w.message),
                                 w.path));
                break;
            case verifier::finding_kind::unreadable:
                f.push_back(
                    hard("unreadable", fmt::format("'{}' is unreadable: {}", w.path, w.message), w.path));
                break;
            case verifier::finding_kind::other:
                f.push_back(hard("special_file", fmt::format("'{}' cannot be shipped: {}", w.path, w.message),
                                 w.path));
                break;
        }
    }
    for (const auto& file : in.walk.files) out.total_bytes += file.size;
    out.file_count = in.walk.files.size();
    out.newest_mtime = newest_mtime(in.walk);
    // Saturating: a newest mtime near the end of the representable range must not wrap around.
    const auto settle = std::chrono::duration_cast<std::chrono::system_clock::duration>(eq.settle);
    out.settled_at = out.newest_mtime > std::chrono::system_clock::time_point::max() - settle
                         ? std::chrono::system_clock::time_point::max()
                         : out.newest_mtime + settle;
    if (eq.gate.max_bytes != 0 && out.total_bytes > eq.gate.max_bytes)
        f.push_back(
            hard("too_large", fmt::format("run holds {} bytes, over the limit of {} bytes (gate.max_bytes)",
                                          out.total_bytes, eq.gate.max_bytes)));
    if (eq.gate.max_files != 0 && out.file_count > eq.gate.max_files)
        f.push_back(
            hard("too_many_files", fmt::format("run holds {} files, over the limit of {} (gate.max_files)",
                                               out.file_count, eq.gate.max_files)));
    // meta.json
    const auto meta_finding = [&](std::string code, std::string message) {
        f.push_back(eq.gate.meta_json_required ? hard(std::move(code), std::move(message), "meta.json")
                                               : soft(std::move(code), std::move(message), "meta.json"));
    };
    if (in.meta_json_error) {
        meta_finding("meta_json_invalid", fmt::format("meta.json cannot be read: {}", *in.meta_json_error));
    } else if (!in.meta_json) {
        if (eq.gate.meta_json_required)
            f.push_back(hard("meta_json_missing", "meta.json is required but absent", "meta.json"));
    } else {
        try {
            const auto j = nlohmann::json::parse(*in.meta_json);
            if (!j.is_object())
                meta_finding("meta_json_invalid", "meta.json is valid JSON but not an object");
        } catch (const nlohmann::json::parse_error& e) {
            meta_finding("meta_json_invalid",
                         fmt::format("meta.json is not well-formed JSON at byte {}: {}", e.byte, e.what()));
        }
    }
    f.insert(f.end(), in.external.begin(), in.external.end());
    return out;
}

std::chrono::system_clock::time_point newest_mtime(const verifier::walk_result& walk) {
    std::int64_t newest_ns = 0;
    for (const auto& file : walk.files) newest_ns = std::max(newest_ns, file.mtime_ns);
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(newest_ns)));
}

std::string human_span(std::chrono::system_clock::duration span) {
    using namespace std::chrono;
    const auto s = std::max<std::int64_t>(1, duration_cast<seconds>(span).count());
    const auto unit = [s](std::int64_t size, const char* name) {
        const auto n = std::max<std::int64_t>(1, (s + size / 2) / size);  // rounded
        return fmt::format("{} {}{}", n, name, n == 1 ? "" : "s");
    };
    if (s < 90) return unit(1, "second");
    if (s < 90 * 60) return unit(60, "minute");
    if (s < 22 * 3600) return unit(3600, "hour");
    if (s < 2 * 365 * 86400) return unit(86400, "day");
    return unit(365 * 86400 + 86400 / 4, "year");
}

std::string describe_settle_wait(std::chrono::system_clock::time_point newest_mtime,
                                 std::chrono::system_clock::time_point settled_at,
                                 std::chrono::system_clock::time_point now) {
    if (newest_mtime > now)
        return fmt::format("mtime {} in the future, waiting", human_span(newest_mtime - now));
    if (settled_at > now) return fmt::format("settling, ships in {}", human_span(settled_at - now));
    return "settled, about to be queued";
}

gate_inputs collect_gate_inputs(const std::filesystem::path& run_path, const equipment_config& eq) {
    gate_inputs in;
    std::error_code ec;
    auto dir = verifier::open_run_dir(run_path, ec);
    if (!dir) {
        in.walk.error = ec ? ec : std::make_error_code(std::errc::not_a_directory);
        return in;
    }
    in.walk = verifier::walk_run(dir.get());
    struct stat st {};
    in.marker_present =
        ::fstatat(dir.get(), eq.marker_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
    for (const auto& w : in.walk.findings) {
        if (w.kind != verifier::finding_kind::symlink) continue;
        char buf[4096];
        const ssize_t n = ::readlinkat(dir.get(), w.path.c_str(), buf, sizeof buf);
        if (n >= 0) in.symlinks.push_back({w.path, std::string(buf, static_cast<std::size_t>(n))});
    }
    std::optional<std::string> meta_error;
    auto meta = read_small_file_at(dir.get(), "meta.json", meta_error);
    if (meta_error)
        in.meta_json_error = meta_error;
    else if (::fstatat(dir.get(), "meta.json", &st, AT_SYMLINK_NOFOLLOW) == 0)
        in.meta_json = std::move(meta);
    if (!eq.gate.external_command.empty())
        in.external = run_external_check(eq.gate.external_command, run_path, eq.gate.external_timeout);
    return in;
}

}  // namespace labsync::engine
