// Fuzzes the receiver's pure request handling (receiver/): routing of request
// targets, identifier and header rules, byte sizes, and the PUT verdict. The invariants are the
// ones the store relies on: an accepted run route never names a path outside its directory.
#include "labsync/common/ids.hpp"
#include "labsync/receiver/put_decision.hpp"
#include "labsync/receiver/request_rules.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

bool safe_component(std::string_view id) {
    return !id.empty() && id != "." && id != ".." && id.find('/') == std::string_view::npos &&
           id.find('\0') == std::string_view::npos && id.find('%') == std::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace labsync::receiver;
    std::string_view text(reinterpret_cast<const char*>(data), size);

    route r = parse_route(text);
    if (r.kind == route_kind::run && r.ids_valid) {
        if (!safe_component(r.equipment) || !safe_component(r.run)) std::abort();
        if (!labsync::common::valid_equipment_id(r.equipment) || !labsync::common::valid_run_id(r.run))
            std::abort();
        if (r.equipment.size() > 64 || r.run.size() > 128) std::abort();
    }
    if (labsync::common::valid_equipment_id(text) && !safe_component(text)) std::abort();
    if (labsync::common::valid_run_id(text) && !safe_component(text)) std::abort();
    if (valid_sha256_hex(text) && text.size() != 64) std::abort();
    if (valid_commit(text) && (text.size() < 7 || text.size() > 64)) std::abort();
    (void)parse_byte_size(text);
    (void)error_json(text, text);

    // The PUT verdict over facts drawn from the input: never crashes, and an accepted PUT always
    // had valid ids, a granted auth, one well-formed sha and a length within the limit.
    if (size >= 2) {
        put_facts f;
        f.ids_valid = data[0] & 1;
        f.auth = static_cast<auth_outcome>((data[0] >> 1) % 5);
        f.chunked = data[0] & 0x10;
        if (data[0] & 0x20) f.content_length = std::uint64_t(data[1]) << ((data[0] >> 6) * 10);
        f.sha_header_count = data[1] % 3;
        f.sha256 = text.substr(2);
        if (data[1] & 0x80) f.commit = text.substr(2, 12);
        f.max_body = 1u << 20;
        if (data[1] & 0x40) f.free_bytes = std::uint64_t(data[1]) << 12;
        put_verdict v = decide_put(f, nullptr);
        if (v.accepted()) {
            if (!f.ids_valid || f.auth != auth_outcome::granted || f.sha_header_count != 1 ||
                !valid_sha256_hex(f.sha256))
                std::abort();
            if (f.content_length && *f.content_length > f.max_body) std::abort();
        } else if (v.status < 400 || v.status > 599) {
            std::abort();
        }
    }
    return 0;
}
