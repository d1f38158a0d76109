#include "labsync/common/ids.hpp"

#include <algorithm>

namespace labsync::common {
namespace {

bool id_char(char c) noexcept {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

// The id as it may appear in a message: printable ASCII kept, the rest as \xHH, capped so a huge
// input does not become a huge log line.
std::string printable(std::string_view id) {
    constexpr std::size_t cap = 160;
    std::string out;
    for (std::size_t i = 0; i < id.size() && i < cap; ++i) {
        const auto c = static_cast<unsigned char>(id[i]);
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            out += static_cast<char>(c);
        } else {
            constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 0xf];
        }
    }
    if (id.size() > cap) out += "...";
    return out;
}

}  // namespace

std::size_t max_id_length(id_kind kind) noexcept {
    return kind == id_kind::equipment ? max_equipment_id_length : max_run_id_length;
}

std::string_view to_string(id_kind kind) noexcept {
    return kind == id_kind::equipment ? "equipment name" : "run id";
}

id_refusal check_id(id_kind kind, std::string_view id) noexcept {
    if (id.empty()) return id_refusal::empty;
    if (id.size() > max_id_length(kind)) return id_refusal::too_long;
    if (!std::all_of(id.begin(), id.end(), id_char)) return id_refusal::bad_char;
    if (std::find(reserved_names.begin(), reserved_names.end(), id) != reserved_names.end())
        return id_refusal::reserved;
    if (id.front() == '.') return id_refusal::leading_dot;
    return id_refusal::none;
}

bool valid_equipment_id(std::string_view id) noexcept {
    return check_id(id_kind::equipment, id) == id_refusal::none;
}

bool valid_run_id(std::string_view id) noexcept {
    return check_id(id_kind::run, id) == id_refusal::none;
}

std::string id_refusal_reason(id_kind kind, std::string_view id) {
    const std::string what = std::string(to_string(kind)) + " \"" + printable(id) + "\"";
    const std::string max = std::to_string(max_id_length(kind));
    switch (check_id(kind, id)) {
        case id_refusal::none:
            return {};
        case id_refusal::empty:
            return std::string(to_string(kind)) + " is empty (it must be 1-" + max +
                   " characters of A-Z a-z 0-9 . _ -)";
        case id_refusal::too_long:
            return what + " is " + std::to_string(id.size()) + " characters long, at most " + max +
                   " are allowed";
        case id_refusal::bad_char: {
            const auto bad = *std::find_if_not(id.begin(), id.end(), id_char);
            return what + " may only contain A-Z a-z 0-9 . _ - (found '" + printable({&bad, 1}) + "')";
        }
        case id_refusal::reserved:
            return what + " is reserved (a directory of the storage layouts)";
        case id_refusal::leading_dot:
            return what +
                   " starts with '.' (names starting with a dot are reserved: ., .., hidden and "
                   "temporary directories)";
    }
    return what + " is invalid";
}

std::string ids_refusal_reason(std::string_view equipment, std::string_view run) {
    auto why = id_refusal_reason(id_kind::equipment, equipment);
    return why.empty() ? id_refusal_reason(id_kind::run, run) : why;
}

}  // namespace labsync::common
