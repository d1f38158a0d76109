// Value notations of syncd.toml; see config_values.hpp.
#include "labsync/config/config_values.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cmath>
#include <limits>

namespace labsync::config {
namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text, std::string& why) {
    if (text.empty()) {
        why = "empty duration (write e.g. \"30s\", \"5m\", \"1h\", \"7d\")";
        return std::nullopt;
    }
    if (text.front() == '-') {
        why = fmt::format("duration \"{}\" is negative", text);
        return std::nullopt;
    }
    // A bare number is seconds (the unit a systemd user expects).
    bool all_digits = true;
    for (char c : text) all_digits = all_digits && is_digit(c);
    if (all_digits) {
        if (text.size() > 12) {
            why = fmt::format("duration \"{}\" is too large", text);
            return std::nullopt;
        }
        return std::chrono::seconds(std::stoll(std::string(text)));
    }
    struct unit {
        std::string_view name;
        std::int64_t ms;
    };
    static constexpr unit units[] = {
        {"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}, {"ms", 1}};
    std::int64_t total = 0;
    std::size_t pos = 0;
    int last_unit = -1;
    while (pos < text.size()) {
        std::size_t start = pos;
        while (pos < text.size() && is_digit(text[pos])) ++pos;
        if (pos == start || pos - start > 12) {
            why = fmt::format("duration \"{}\": expected a number at \"{}\" (write e.g. \"1h30m\")", text,
                              text.substr(start));
            return std::nullopt;
        }
        std::int64_t number = std::stoll(std::string(text.substr(start, pos - start)));
        std::size_t ustart = pos;
        while (pos < text.size() && std::isalpha(static_cast<unsigned char>(text[pos]))) ++pos;
        std::string_view name = text.substr(ustart, pos - ustart);
        int found = -1;
        for (int i = 0; i < 5; ++i)
            if (units[i].name == name) found = i;
        if (found < 0) {
            why = fmt::format("duration \"{}\": unknown unit \"{}\" (use ms, s, m, h or d)", text, name);
            return std::nullopt;
        }
        if (found <= last_unit) {
            why = fmt::format("duration \"{}\": units must go from largest to smallest, each once", text);
            return std::nullopt;
        }
        last_unit = found;
        if (number > std::numeric_limits<std::int64_t>::max() / units[found].ms / 4) {
            why = fmt::format("duration \"{}\" is too large", text);
            return std::nullopt;
        }
        total += number * units[found].ms;
    }
    return std::chrono::milliseconds(total);
}

std::optional<std::uint64_t> parse_size(std::string_view text, std::string& why) {
    std::string_view rest = text;
    std::size_t pos = 0;
    while (pos < rest.size() && (is_digit(rest[pos]) || rest[pos] == '.')) ++pos;
    if (pos == 0) {
        why = fmt::format("size \"{}\": expected a number (write e.g. \"500M\", \"2T\")", text);
        return std::nullopt;
    }
    double number = 0;
    try {
        std::size_t used = 0;
        number = std::stod(std::string(rest.substr(0, pos)), &used);
        if (used != pos) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
        why = fmt::format("size \"{}\": \"{}\" is not a number", text, rest.substr(0, pos));
        return std::nullopt;
    }
    std::string_view suffix = rest.substr(pos);
    if (suffix.size() >= 2 && (suffix.substr(suffix.size() - 2) == "iB"))
        suffix.remove_suffix(2);
    else if (suffix.size() >= 2 && suffix.back() == 'B')
        suffix.remove_suffix(1);
    double multiplier = 1;
    if (suffix.empty() || suffix == "B")
        multiplier = 1;
    else if (suffix == "K" || suffix == "k")
        multiplier = 1024.0;
    else if (suffix == "M")
        multiplier = 1024.0 * 1024;
    else if (suffix == "G")
        multiplier = 1024.0 * 1024 * 1024;
    else if (suffix == "T")
        multiplier = 1024.0 * 1024 * 1024 * 1024;
    else {
        why = fmt::format("size \"{}\": unknown unit \"{}\" (use K, M, G or T)", text, rest.substr(pos));
        return std::nullopt;
    }
    double value = number * multiplier;
    if (!std::isfinite(value) || value >= 1.8e19) {
        why = fmt::format("size \"{}\" is too large", text);
        return std::nullopt;
    }
    return static_cast<std::uint64_t>(std::llround(value));
}

std::optional<unsigned> parse_mode(std::string_view text, std::string& why) {
    if (text.empty() || text.size() > 4) {
        why = fmt::format("mode \"{}\" must be octal like \"0660\"", text);
        return std::nullopt;
    }
    unsigned value = 0;
    for (char c : text) {
        if (c < '0' || c > '7') {
            why = fmt::format("mode \"{}\" must be octal like \"0660\"", text);
            return std::nullopt;
        }
        value = value * 8 + static_cast<unsigned>(c - '0');
    }
    if (value > 0777) {
        why = fmt::format("mode \"{}\" is above 0777", text);
        return std::nullopt;
    }
    return value;
}

std::optional<host_port> parse_host_port(std::string_view text, std::string& why) {
    std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
        why = fmt::format("address \"{}\" must be HOST:PORT (e.g. \"127.0.0.1:9101\")", text);
        return std::nullopt;
    }
    std::string_view host = text.substr(0, colon);
    std::string_view port = text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    unsigned value = 0;
    for (char c : port) {
        if (!is_digit(c) || port.size() > 5) {
            why = fmt::format("address \"{}\": port \"{}\" is not a number", text, port);
            return std::nullopt;
        }
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value > 65535) {
        why = fmt::format("address \"{}\": port {} is above 65535", text, value);
        return std::nullopt;
    }
    return host_port{std::string(host), static_cast<std::uint16_t>(value)};
}

std::string format_duration(std::chrono::milliseconds value) {
    std::int64_t ms = value.count();
    if (ms == 0) return "0s";
    std::string out;
    static constexpr std::pair<const char*, std::int64_t> units[] = {
        {"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}, {"ms", 1}};
    for (auto [name, size] : units) {
        if (ms >= size) {
            out += fmt::format("{}{}", ms / size, name);
            ms %= size;
        }
    }
    return out;
}

}  // namespace labsync::config
