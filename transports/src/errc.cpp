// The transports module's error category: error_kind values as std::error_code.
#include "labsync/transports/error_kind.hpp"

#include <string>

namespace labsync::transports {
namespace {

class transports_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "labsync.transports"; }
    std::string message(int ev) const override {
        switch (static_cast<error_kind>(ev)) {
            case error_kind::none:
                return "success";
            case error_kind::network:
                return "network failure (refused, reset, timed out, server error)";
            case error_kind::auth:
                return "authentication or host key refused";
            case error_kind::hash_mismatch:
                return "the remote bytes differ from the local ones";
            case error_kind::local_file_vanished:
                return "a local file vanished or changed while shipping";
            case error_kind::conflict:
                return "the remote holds different content under the same id";
            case error_kind::rejected:
                return "the receiver refuses this run for good";
            case error_kind::misconfigured:
                return "sender and receiver settings disagree";
            case error_kind::binary_missing:
                return "a required program is missing";
            case error_kind::unknown:
                return "unclassified transport failure";
        }
        return "unknown transports error " + std::to_string(ev);
    }
};

}  // namespace

const std::error_category& transports_category() noexcept {
    static const transports_category_impl category;
    return category;
}

std::error_code make_error_code(error_kind kind) noexcept {
    return {static_cast<int>(kind), transports_category()};
}

}  // namespace labsync::transports
