#include "labsync/verifier/path_arena.hpp"

#include <stdexcept>

namespace labsync::verifier {

path_ref path_arena::add_joined(std::string_view prefix, std::string_view name) {
    const std::uint64_t length = prefix.empty() ? name.size() : prefix.size() + 1 + name.size();
    if (length > max_path) throw std::length_error("path_arena: a path of more than 16 MiB");
    if (bytes_.size() + length > max_bytes) throw std::length_error("path_arena: more than 1 TiB of paths");
    path_ref ref;
    ref.offset = bytes_.size();
    ref.length = length;
    if (!prefix.empty()) {
        bytes_ += prefix;
        bytes_.push_back('/');
    }
    bytes_ += name;
    return ref;
}

}  // namespace labsync::verifier
