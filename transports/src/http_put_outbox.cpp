// Outbox reuse and re-pack decisions of http_put; see http_put_outbox.hpp.
#include "labsync/transports/http_put_outbox.hpp"

#include "labsync/common/ids.hpp"
#include "labsync/verifier/errc.hpp"
#include "labsync/verifier/manifest_diff.hpp"

#include <fmt/format.h>

namespace fs = std::filesystem;

namespace labsync::transports {
fs::path outbox_archive_path(const fs::path& outbox, std::string_view equipment, std::string_view run) {
    return outbox / std::string(equipment) / (std::string(run) + ".tar.zst");
}

fs::path upload_sidecar_path(const fs::path& archive) {
    return fs::path(archive.string() + ".upload");
}

std::string remove_outbox_archive(const fs::path& outbox, std::string_view equipment, std::string_view run) {
    if (auto refused = common::ids_refusal_reason(equipment, run); !refused.empty()) return refused;
    const auto path = outbox_archive_path(outbox, equipment, run);
    for (const auto& p : {path, fs::path(path.string() + ".partial"), upload_sidecar_path(path)}) {
        std::error_code ec;
        fs::remove(p, ec);
        if (ec) return "cannot remove outbox file " + p.string() + ": " + ec.message();
    }
    return {};
}

std::vector<fs::path> sweep_outbox(const fs::path& outbox, const wanted_fn& is_wanted) {
    std::vector<fs::path> removed;
    std::error_code ec;
    for (const auto& eq : fs::directory_iterator(outbox, ec)) {
        if (!eq.is_directory(ec) || eq.is_symlink(ec)) continue;
        const std::string equipment = eq.path().filename().string();
        for (const auto& f : fs::directory_iterator(eq.path(), ec)) {
            const std::string name = f.path().filename().string();
            std::string run;
            for (const std::string suffix : {".tar.zst.partial", ".tar.zst.upload", ".tar.zst"}) {
                if (name.size() > suffix.size() && name.ends_with(suffix)) {
                    run = name.substr(0, name.size() - suffix.size());
                    break;
                }
            }
            if (run.empty() || is_wanted(equipment, run)) continue;
            std::error_code rm;
            if (fs::remove(f.path(), rm)) removed.push_back(f.path());
        }
    }
    return removed;
}

outbox_outcome prepare_outbox(const outbox_ops& ops, const fs::path& run_dir, const fs::path& out,
                              int zstd_level, const verifier::manifest* expected,
                              const progress_fn& progress) {
    outbox_outcome outcome;
    std::error_code ec;
    fs::create_directories(out.parent_path(), ec);
    if (ec) {
        outcome.status = transport_result::failure(
            error_kind::unknown,
            fmt::format("cannot create outbox directory {}: {}", out.parent_path().string(), ec.message()));
        return outcome;
    }
    if (fs::exists(out, ec)) {
        auto checked = ops.check(out, progress);
        if (checked.error)
            outcome.repack_reason =
                fmt::format("outbox archive {} is damaged ({}); packing again", out.string(),
                            checked.message.empty() ? checked.error.message() : checked.message);
        else if (expected && (!checked.manifest || !verifier::same_files(*checked.manifest, *expected)))
            outcome.repack_reason = fmt::format(
                "outbox archive {} holds other files than the run now has; packing again", out.string());
        if (outcome.repack_reason.empty()) {
            outcome.status = transport_result::success();
            outcome.sha256_hex = checked.sha256_hex;
            outcome.bytes = checked.bytes;
            outcome.reused = true;
            outcome.manifest = std::move(checked.manifest);
            return outcome;
        }
        fs::remove(out, ec);
        if (ec) {
            outcome.status = transport_result::failure(
                error_kind::unknown,
                fmt::format("cannot remove stale outbox archive {}: {}", out.string(), ec.message()));
            return outcome;
        }
    }
    auto packed = ops.pack(run_dir, out, zstd_level, progress);
    if (packed.error) {
        outcome.status = transport_result::failure(
            kind_of_local_error(packed.error),
            fmt::format("packing {} into {} failed: {}", run_dir.string(), out.string(),
                        packed.message.empty() ? packed.error.message() : packed.message));
        return outcome;
    }
    if (expected && packed.manifest && !verifier::same_files(*packed.manifest, *expected)) {
        fs::remove(out, ec);
        outcome.status = transport_result::failure(
            error_kind::local_file_vanished,
            fmt::format("run {} changed after its manifest was taken (the packed files differ); not shipping",
                        run_dir.string()));
        return outcome;
    }
    outcome.status = transport_result::success();
    outcome.sha256_hex = packed.sha256_hex;
    outcome.bytes = packed.bytes;
    outcome.manifest = std::move(packed.manifest);
    return outcome;
}

}  // namespace labsync::transports
