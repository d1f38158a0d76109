// default_outbox_ops: binds http_put's outbox to the verifier's archiver (pack_run) and archive
// checker. The check streams the file through archive_checker itself rather than calling
// check_archive_file() because http_put also needs the embedded manifest to decide whether an
// archive left by an earlier attempt still matches the run.
#include "labsync/transports/http_put_outbox.hpp"
#include "labsync/verifier/archive_checker.hpp"
#include "labsync/verifier/archive_writer.hpp"
#include "labsync/verifier/errc.hpp"
#include "labsync/verifier/unique_fd.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace labsync::transports {
namespace {

outbox_archive archive_of(verifier::pack_result packed) {
    outbox_archive a;
    if (!packed.ok()) {
        a.error = packed.error;
        a.message = packed.error_message.empty() ? packed.error.message() : packed.error_message;
        return a;
    }
    a.sha256_hex = std::move(packed.sha256);
    a.bytes = packed.compressed_bytes;
    a.manifest = std::move(packed.manifest);
    a.directories = std::move(packed.directories);
    a.fingerprints = std::move(packed.fingerprints);
    a.walk_started_ns = packed.walk_started_ns;
    a.findings = std::move(packed.findings);
    return a;
}

outbox_archive pack(const std::filesystem::path& run_dir, const std::filesystem::path& out, int level,
                    const progress_fn& progress) {
    verifier::pack_options options;
    options.level = level;
    options.on_progress = progress;
    return archive_of(verifier::pack_run(run_dir, out, options));
}

outbox_archive stream(const std::filesystem::path& run_dir, const verifier::archive_sink& sink, int level,
                      const progress_fn& progress) {
    verifier::pack_options options;
    options.level = level;
    options.on_progress = progress;
    return archive_of(verifier::pack_run(run_dir, sink, options));
}

outbox_archive check(const std::filesystem::path& archive, const progress_fn& progress) {
    outbox_archive a;
    verifier::unique_fd fd(::open(archive.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
        a.error = std::error_code(errno, std::generic_category());
        a.message = fmt::format("cannot open {}: {}", archive.string(), std::strerror(errno));
        return a;
    }
    struct stat st {};
    const std::uint64_t size = ::fstat(fd.get(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
    verifier::archive_checker checker;
    std::vector<std::byte> buffer(1 << 20);
    std::error_code ec;
    for (;;) {
        auto n = ::read(fd.get(), buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            a.error = std::error_code(errno, std::generic_category());
            a.message = fmt::format("reading {}: {}", archive.string(), std::strerror(errno));
            return a;
        }
        if (n == 0) break;
        ec = checker.feed(std::span<const std::byte>(buffer.data(), static_cast<std::size_t>(n)));
        if (progress) progress(checker.bytes_fed(), size);
        if (ec) break;
    }
    if (!ec) ec = checker.finish();
    if (ec) {
        a.error = ec;
        a.message = fmt::format("{}{}{}: {}", archive.string(),
                                checker.error_path().empty() ? "" : " member ", checker.error_path(),
                                checker.error_reason().empty() ? ec.message() : checker.error_reason());
        return a;
    }
    a.sha256_hex = checker.sha256();
    a.bytes = checker.bytes_fed();
    a.manifest = checker.embedded_manifest();
    return a;
}

}  // namespace

outbox_ops default_outbox_ops() {
    return outbox_ops{&pack, &check, &stream};
}

}  // namespace labsync::transports
