// The stat fingerprint of a run; see fingerprint.hpp for the canonical text.
#include "labsync/verifier/fingerprint.hpp"

#include "tree_lines.hpp"

namespace labsync::verifier {
namespace {

class fingerprint_hasher {
public:
    explicit fingerprint_hasher(std::int64_t walk_started_ns) : started_ns_(walk_started_ns) {
        h_.update("labsync-fingerprint 1\n");
    }
    void file(std::string_view path, const stat_fingerprint& st) {
        detail::hash_tree_line(h_,
                               "file " + std::to_string(st.size) + " " + std::to_string(st.mtime_ns) + " " +
                                   std::to_string(st.ctime_ns) + " " + std::to_string(st.inode) + " " +
                                   std::to_string(st.device),
                               path);
        if (st.ctime_ns >= started_ns_) exact_ = false;
    }
    fingerprint_result finish(const std::vector<std::string>& directories,
                              const std::vector<walk_finding>& findings) {
        detail::hash_tree_shape(h_, directories, findings, true);
        fingerprint_result out;
        out.digest = h_.finish();
        out.exact = exact_;
        return out;
    }

private:
    sha256 h_;
    std::int64_t started_ns_;
    bool exact_ = true;
};

}  // namespace

fingerprint_result fingerprint_digest(const build_result& built) {
    if (!built.ok()) return {{}, false, built.error, built.error_path};
    const auto& entries = built.manifest.entries();
    if (built.fingerprints.size() != entries.size()) return {};  // not exact: nothing to record
    fingerprint_hasher h(built.walk_started_ns);
    for (std::size_t i = 0; i < entries.size(); ++i) h.file(entries[i].path, built.fingerprints[i]);
    return h.finish(built.directories, built.findings);
}

fingerprint_result fingerprint_digest(const walk_result& walk) {
    if (walk.error) return {{}, false, walk.error, walk.error_path};
    fingerprint_hasher h(walk.started_ns);
    for (const auto& f : walk.files) h.file(f.path, fingerprint_of(f));
    return h.finish(walk.directories, walk.findings);
}

fingerprint_result fingerprint_run(const std::filesystem::path& run_dir) {
    return fingerprint_digest(walk_run(run_dir));
}

}  // namespace labsync::verifier
