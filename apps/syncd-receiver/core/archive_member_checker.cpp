#include "core/body_checker.hpp"

namespace labsync::receiver {

// The verifier's streaming archive checker plugs in here (one call site).
std::unique_ptr<body_checker> make_archive_member_checker() {
    return nullptr;
}

}  // namespace labsync::receiver
