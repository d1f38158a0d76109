// Outbox reuse and re-pack decisions of http_put; see http_put_outbox.hpp.
#include "labsync/transports/http_put_outbox.hpp"

#include "labsync/verifier/errc.hpp"

#include <fmt/format.h>

namespace fs = std::filesystem;

namespace labsync::transports {
namespace {

error_kind kind_for_pack_error(const std::error_code& ec) {
    if (ec == verifier::errc::local_file_vanished || ec == verifier::errc::local_file_changed ||
        ec == verifier::errc::not_a_directory || ec == std::errc::no_such_file_or_directory)
        return error_kind::local_file_vanished;
    // Full outbox disk, EIO, …: nothing the receiver can fix; retried with backoff.
    return error_kind::unknown;
}

}  // namespace

bool same_files(const verifier::manifest& a, const verifier::manifest& b) {
    const auto& x = a.entries();
    const auto& y = b.entries();
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i) {
        if (x[i].path != y[i].path || x[i].sha256 != y[i].sha256) return false;
        // sha256sum text carries no sizes (0); compare them only when both sides have them.
        if (x[i].size != 0 && y[i].size != 0 && x[i].size != y[i].size) return false;
    }
    return true;
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
        else if (expected && (!checked.manifest || !same_files(*checked.manifest, *expected)))
            outcome.repack_reason = fmt::format(
                "outbox archive {} holds other files than the run now has; packing again", out.string());
        if (outcome.repack_reason.empty()) {
            outcome.status = transport_result::success();
            outcome.sha256_hex = checked.sha256_hex;
            outcome.bytes = checked.bytes;
            outcome.reused = true;
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
            kind_for_pack_error(packed.error),
            fmt::format("packing {} into {} failed: {}", run_dir.string(), out.string(),
                        packed.message.empty() ? packed.error.message() : packed.message));
        return outcome;
    }
    if (expected && packed.manifest && !same_files(*packed.manifest, *expected)) {
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
    return outcome;
}

}  // namespace labsync::transports
