#pragma once
// A time-of-day bandwidth timetable (SPEC §10), the notation of rclone's --bwlimit:
//
//   "08:00,20M 19:00,off"   20 MiB/s from 08:00 to 19:00, unlimited from 19:00 to 08:00
//   "10M"                   10 MiB/s all day
//   ""                      unlimited
//
// Entries are separated by spaces; each is HH:MM,RATE. RATE is a whole or decimal number of bytes
// per second with an optional binary suffix K, M or G (KiB/MiB/GiB per second, like rsync's and
// rclone's --bwlimit), or `off` for no limit. `0` also means no limit (rsync's --bwlimit=0), so
// there is no "paused" setting: a lab that must not ship during the day sets a small rate instead.
// The entry with the latest start at or before the time of day applies; before the first entry of
// the day the LAST entry applies (the schedule wraps around midnight). Times are local wall time.
// Pure: no clock, no I/O.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace labsync::engine {

struct timetable_entry {
    int start_minute = 0;     // minutes after midnight, 0..1439
    std::uint64_t limit = 0;  // bytes per second; 0 = unlimited
    friend bool operator==(const timetable_entry&, const timetable_entry&) = default;
};

struct timetable_parse_error {
    std::size_t position = 0;  // byte offset into the text where the problem starts
    std::string message;       // e.g. "at 9: unknown unit 'X' in rate \"20X\" (use K, M, G or off)"
};

class bandwidth_timetable {
public:
    bandwidth_timetable() = default;                                     // unlimited
    explicit bandwidth_timetable(std::vector<timetable_entry> entries);  // sorts

    // Parses the text; on failure returns nullopt and fills `error` (when not null).
    static std::optional<bandwidth_timetable> parse(std::string_view text, timetable_parse_error* error);

    // Bytes per second allowed at `minute_of_day` (0..1439, taken modulo 1440); 0 = unlimited.
    std::uint64_t limit_at(int minute_of_day) const noexcept;
    // Seconds from `second_of_day` until the limit may change next (the next entry start);
    // 0 when the limit never changes.
    int seconds_until_change(int second_of_day) const noexcept;

    bool unlimited() const noexcept;
    const std::vector<timetable_entry>& entries() const noexcept { return entries_; }
    std::string to_string() const;  // canonical text, e.g. "08:00,20M 19:00,off"

private:
    std::vector<timetable_entry> entries_;
};

}  // namespace labsync::engine
