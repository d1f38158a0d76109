// Fuzzes the admin socket codec (apps/syncd/admin/admin_protocol): any line a local client sends must be
// decoded or refused with a reason, never crash or throw; whatever decodes must survive an
// encode/decode round trip unchanged (the CLI and the daemon speak through these two functions).
#include "admin/admin_protocol.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

bool same(const labsync::apps::admin_request& a, const labsync::apps::admin_request& b) {
    return a.op == b.op && a.state == b.state && a.path == b.path && a.run == b.run && a.who == b.who &&
           a.why == b.why;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace labsync::apps;
    std::string_view line(reinterpret_cast<const char*>(data), size);
    try {
        std::string why;
        if (auto req = decode_request(line, why)) {
            std::string again_why;
            auto again = decode_request(encode_request(*req), again_why);
            if (!again || !same(*req, *again)) std::abort();
        } else if (why.empty()) {
            std::abort();
        }
        why.clear();
        if (auto resp = decode_response(line, why)) {
            std::string again_why;
            auto again = decode_response(encode_response(*resp), again_why);
            if (!again || again->ok != resp->ok || again->error != resp->error ||
                again->message != resp->message)
                std::abort();
        } else if (why.empty()) {
            std::abort();
        }
        why.clear();
        if (!parse_run_reference(line, why) && why.empty()) std::abort();
    } catch (...) {
        std::abort();  // a malformed line is refused with a reason, not an exception
    }
    return 0;
}
