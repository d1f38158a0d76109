#pragma once
// Parsers for the value notations of syncd.toml: durations ("30s", "5m", "1h30m", "7d"), sizes
// ("500M", "2T", "1.5G"), names (SPEC §3) and socket modes ("0660"). Pure: no I/O. Each parser
// returns nullopt and fills `why` with one short sentence an operator can act on.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace labsync::config {

// "90" (seconds), "30s", "5m", "1h30m", "7d", "250ms". Units: ms s m h d; components in
// decreasing order, each at most once. Negative values are refused.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text, std::string& why);

// "1048576", "500K", "20M", "1.5G", "2T" (binary multiples; an optional trailing "B"/"iB" is
// accepted: "20MiB", "20MB" both mean 20*2^20).
std::optional<std::uint64_t> parse_size(std::string_view text, std::string& why);

// Octal file mode "0660" / "660" between 0 and 0777.
std::optional<unsigned> parse_mode(std::string_view text, std::string& why);

// "HOST:PORT" with PORT 0..65535 ("[::1]:9100" for IPv6). Empty host is refused.
struct host_port {
    std::string host;
    std::uint16_t port = 0;
};
std::optional<host_port> parse_host_port(std::string_view text, std::string& why);

// Renders a duration the way parse_duration reads it ("1h30m", "250ms", "0s").
std::string format_duration(std::chrono::milliseconds value);

}  // namespace labsync::config
