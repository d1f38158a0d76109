#include "labsync/verifier/errc.hpp"

#include <string>

namespace labsync::verifier {
namespace {

class category final : public std::error_category {
public:
    const char* name() const noexcept override { return "labsync.verifier"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
            case errc::not_a_directory: return "run path is not a directory";
            case errc::local_file_vanished: return "local_file_vanished: a file disappeared while being read";
            case errc::local_file_changed: return "local_file_changed: a file changed while being read";
            case errc::io_error: return "I/O error";
            case errc::no_space: return "no space left on device";
            case errc::bad_manifest: return "malformed manifest";
            case errc::archive_corrupt: return "archive is corrupt or truncated";
            case errc::member_mismatch: return "archive member does not match the manifest";
            case errc::manifest_missing: return "archive has no embedded manifest";
            case errc::unsafe_path: return "path would leave the run directory";
        }
        return "unknown verifier error";
    }
};

}  // namespace

const std::error_category& verifier_category() noexcept {
    static const category instance;
    return instance;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), verifier_category()}; }

}  // namespace labsync::verifier
