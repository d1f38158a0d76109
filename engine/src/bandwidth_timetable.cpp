#include "labsync/engine/bandwidth_timetable.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>

namespace labsync::engine {
namespace {

constexpr int minutes_per_day = 24 * 60;

bool fail(timetable_parse_error* error, std::size_t position, std::string message) {
    if (error) *error = {position, fmt::format("at {}: {}", position, message)};
    return false;
}

// "20M", "1.5G", "512K", "1000", "off".
bool parse_rate(std::string_view text, std::size_t position, std::uint64_t& out,
                timetable_parse_error* error) {
    if (text == "off" || text == "OFF" || text == "Off") {
        out = 0;
        return true;
    }
    if (text.empty()) return fail(error, position, "empty rate (expected e.g. 20M or off)");
    std::size_t i = 0;
    bool seen_digit = false, seen_dot = false;
    for (; i < text.size(); ++i) {
        const char c = text[i];
        if (std::isdigit(static_cast<unsigned char>(c))) {
            seen_digit = true;
        } else if (c == '.' && !seen_dot) {
            seen_dot = true;
        } else {
            break;
        }
    }
    if (!seen_digit)
        return fail(error, position,
                    fmt::format("rate \"{}\" does not start with a number (expected e.g. 20M or off)", text));
    const double number = std::stod(std::string(text.substr(0, i)));
    double multiplier = 1;
    if (i < text.size()) {
        switch (text[i]) {
            case 'k':
            case 'K':
                multiplier = 1024.0;
                break;
            case 'm':
            case 'M':
                multiplier = 1024.0 * 1024;
                break;
            case 'g':
            case 'G':
                multiplier = 1024.0 * 1024 * 1024;
                break;
            default:
                return fail(
                    error, position + i,
                    fmt::format("unknown unit '{}' in rate \"{}\" (use K, M, G or off)", text[i], text));
        }
        ++i;
        if (i < text.size() && (text[i] == 'B' || text[i] == 'b')) ++i;  // "20MB" reads as 20M
        if (i != text.size())
            return fail(
                error, position + i,
                fmt::format("unexpected \"{}\" after rate \"{}\"", text.substr(i), text.substr(0, i)));
    }
    const double value = number * multiplier;
    if (!std::isfinite(value) || value >= 1.8e19)
        return fail(error, position, fmt::format("rate \"{}\" is too large", text));
    out = static_cast<std::uint64_t>(std::llround(value));
    if (out == 0 && number != 0)
        return fail(error, position,
                    fmt::format("rate \"{}\" rounds to 0 bytes/s; use off for no limit", text));
    return true;
}

bool parse_time(std::string_view text, std::size_t position, int& minute, timetable_parse_error* error) {
    // H:MM or HH:MM, 00:00..23:59.
    const auto colon = text.find(':');
    auto all_digits = [](std::string_view s) {
        return !s.empty() && std::all_of(s.begin(), s.end(),
                                         [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    };
    if (colon == std::string_view::npos || colon == 0 || colon > 2 || text.size() - colon - 1 != 2 ||
        !all_digits(text.substr(0, colon)) || !all_digits(text.substr(colon + 1)))
        return fail(error, position, fmt::format("time \"{}\" is not HH:MM", text));
    const int h = std::stoi(std::string(text.substr(0, colon)));
    const int m = std::stoi(std::string(text.substr(colon + 1)));
    if (h > 23)
        return fail(error, position, fmt::format("hour {} in \"{}\" is out of range 00..23", h, text));
    if (m > 59)
        return fail(error, position + colon + 1,
                    fmt::format("minute {} in \"{}\" is out of range 00..59", m, text));
    minute = h * 60 + m;
    return true;
}

std::string format_rate(std::uint64_t limit) {
    if (limit == 0) return "off";
    constexpr std::uint64_t k = 1024, m = k * 1024, g = m * 1024;
    if (limit % g == 0) return fmt::format("{}G", limit / g);
    if (limit % m == 0) return fmt::format("{}M", limit / m);
    if (limit % k == 0) return fmt::format("{}K", limit / k);
    return fmt::format("{}", limit);
}

}  // namespace

bandwidth_timetable::bandwidth_timetable(std::vector<timetable_entry> entries)
    : entries_(std::move(entries)) {
    std::sort(entries_.begin(), entries_.end(),
              [](const auto& a, const auto& b) { return a.start_minute < b.start_minute; });
}

std::optional<bandwidth_timetable> bandwidth_timetable::parse(std::string_view text,
                                                              timetable_parse_error* error) {
    std::vector<timetable_entry> entries;
    std::vector<std::size_t> positions;
    std::size_t i = 0;
    bool bare_rate = false;
    while (i < text.size()) {
        if (std::isspace(static_cast<unsigned char>(text[i]))) {
            ++i;
            continue;
        }
        const std::size_t start = i;
        while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
        const std::string_view token = text.substr(start, i - start);
        const auto comma = token.find(',');
        timetable_entry entry;
        if (comma == std::string_view::npos) {
            // A bare rate means "all day"; only allowed as the whole timetable.
            if (!entries.empty() || bare_rate) {
                fail(error, start, fmt::format("entry \"{}\" has no time (expected HH:MM,RATE)", token));
                return std::nullopt;
            }
            if (!parse_rate(token, start, entry.limit, error)) return std::nullopt;
            bare_rate = true;
        } else {
            if (bare_rate) {
                fail(error, start, "a bare rate must be the only entry");
                return std::nullopt;
            }
            if (!parse_time(token.substr(0, comma), start, entry.start_minute, error)) return std::nullopt;
            if (!parse_rate(token.substr(comma + 1), start + comma + 1, entry.limit, error))
                return std::nullopt;
            for (std::size_t j = 0; j < entries.size(); ++j)
                if (entries[j].start_minute == entry.start_minute) {
                    fail(error, start,
                         fmt::format("time {} appears twice (first at {})", token.substr(0, comma),
                                     positions[j]));
                    return std::nullopt;
                }
        }
        entries.push_back(entry);
        positions.push_back(start);
    }
    return bandwidth_timetable(std::move(entries));
}

std::uint64_t bandwidth_timetable::limit_at(int minute_of_day) const noexcept {
    if (entries_.empty()) return 0;
    minute_of_day = ((minute_of_day % minutes_per_day) + minutes_per_day) % minutes_per_day;
    // Before the first start of the day, yesterday's last entry is still in force.
    const timetable_entry* current = &entries_.back();
    for (const auto& e : entries_) {
        if (e.start_minute <= minute_of_day)
            current = &e;
        else
            break;
    }
    return current->limit;
}

int bandwidth_timetable::seconds_until_change(int second_of_day) const noexcept {
    if (entries_.size() < 2) return 0;
    constexpr int day = minutes_per_day * 60;
    second_of_day = ((second_of_day % day) + day) % day;
    for (const auto& e : entries_)
        if (e.start_minute * 60 > second_of_day) return e.start_minute * 60 - second_of_day;
    return day - second_of_day + entries_.front().start_minute * 60;
}

bool bandwidth_timetable::unlimited() const noexcept {
    return std::all_of(entries_.begin(), entries_.end(), [](const auto& e) { return e.limit == 0; });
}

std::string bandwidth_timetable::to_string() const {
    std::string out;
    for (const auto& e : entries_) {
        if (!out.empty()) out += ' ';
        out += fmt::format("{:02}:{:02},{}", e.start_minute / 60, e.start_minute % 60, format_rate(e.limit));
    }
    return out;
}

}  // namespace labsync::engine
