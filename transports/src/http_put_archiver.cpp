// default_outbox_ops: binds http_put's outbox to the verifier's archiver.
#include "labsync/transports/http_put_outbox.hpp"

namespace labsync::transports {

outbox_ops default_outbox_ops() {
    outbox_ops ops;
    ops.pack = [](const std::filesystem::path& run_dir, const std::filesystem::path&, int) {
        outbox_archive a;
        a.error = std::make_error_code(std::errc::function_not_supported);
        a.message = "the archiver is not built yet (cannot pack " + run_dir.string() + ")";
        return a;
    };
    ops.check = [](const std::filesystem::path& archive) {
        outbox_archive a;
        a.error = std::make_error_code(std::errc::function_not_supported);
        a.message = "the archive checker is not built yet (cannot check " + archive.string() + ")";
        return a;
    };
    return ops;
}

}  // namespace labsync::transports
