// The rules of http_put_config, receiver URL parsing and the bearer token file of http_put.
#include "labsync/transports/http_put_config.hpp"

#include "config_rules.hpp"
#include "labsync/common/read_file.hpp"
#include "labsync/common/secret_file.hpp"
#include "labsync/verifier/archive_writer.hpp"

#include <fmt/format.h>

#include <charconv>

namespace labsync::transports {

std::vector<config_problem> http_put_config::validate() const {
    using namespace std::chrono_literals;
    std::vector<config_problem> out;
    std::string why;
    detail::require(out, "url", url, "the receiver's base URL, e.g. \"https://collector:8443\"");
    if (!url.empty() && !parse_receiver_url(url, &why)) out.push_back({"url", why});
    if (client_cert.empty() != client_key.empty())
        out.push_back({client_cert.empty() ? "client_key" : "client_cert",
                       "client_cert and client_key go together (set both or neither)"});
    if ((zstd_level < 0 || zstd_level > 19) && zstd_level != verifier::zstd_level_adaptive)
        out.push_back({"zstd_level", fmt::format("{} is out of range 0..19 (or \"adaptive\")", zstd_level)});
    detail::require_at_least(out, "connect_timeout", connect_timeout, 100ms);
    detail::require_at_least(out, "io_timeout", io_timeout, 100ms);
    if (chunk_bytes < 64 * 1024) out.push_back({"chunk_bytes", "must be at least 64K"});
    if (part_bytes < chunk_bytes)
        out.push_back({"part_bytes", fmt::format("{} is below chunk_bytes ({})", part_bytes, chunk_bytes)});
    if (spool_bytes < (std::uint64_t{2} << 20))
        out.push_back({"spool_bytes", fmt::format("{} is below 2M (two parts of 1 MiB)", spool_bytes)});
    return out;
}

std::optional<parsed_url> parse_receiver_url(std::string_view url, std::string* why) {
    auto fail = [&](std::string reason) -> std::optional<parsed_url> {
        if (why) *why = "bad receiver url '" + std::string(url) + "': " + reason;
        return std::nullopt;
    };
    parsed_url out;
    std::string_view rest;
    if (url.starts_with("https://")) {
        out.tls = true;
        out.port = 443;
        rest = url.substr(8);
    } else if (url.starts_with("http://")) {
        out.tls = false;
        out.port = 80;
        rest = url.substr(7);
    } else {
        return fail("must start with http:// or https://");
    }
    auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
    while (!path.empty() && path.back() == '/') path.remove_suffix(1);
    if (path.find_first_of("?#") != std::string_view::npos) return fail("no query or fragment allowed");
    if (authority.find('@') != std::string_view::npos)
        return fail("credentials in the url are not supported");
    std::string_view host = authority;
    std::string_view port;
    if (authority.starts_with("[")) {
        auto close = authority.find(']');
        if (close == std::string_view::npos) return fail("unterminated [ipv6] host");
        host = authority.substr(1, close - 1);
        auto after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after[0] != ':') return fail("garbage after ]");
            port = after.substr(1);
        }
    } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
    }
    if (host.empty()) return fail("no host");
    if (!port.empty() || authority.ends_with(":")) {
        unsigned value = 0;
        auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc{} || ptr != port.data() + port.size() || value == 0 || value > 65535)
            return fail("port must be a number in 1..65535");
        out.port = static_cast<std::uint16_t>(value);
    }
    out.host = std::string(host);
    out.base_path = std::string(path);
    return out;
}

std::string read_token_file(const std::filesystem::path& path, std::string* why) {
    // A token others can write may have been replaced: never send it (readable by others is
    // warned about at start and by `syncd doctor`, see common/secret_file.hpp).
    if (auto perms = common::check_secret_file(path, "token file");
        perms.exposure == common::secret_exposure::writable_by_others) {
        if (why) *why = perms.message + "; refusing to use it";
        return {};
    }
    std::string error;
    auto text = common::read_whole_file(path, error);
    if (!text) {
        if (why) *why = "cannot read token file " + path.string() + ": " + error;
        return {};
    }
    const std::string line = text->substr(0, text->find('\n'));
    auto first = line.find_first_not_of(" \t\r\n");
    auto last = line.find_last_not_of(" \t\r\n");
    if (first == std::string::npos) {
        if (why) *why = "token file " + path.string() + " holds no token on its first line";
        return {};
    }
    auto token = line.substr(first, last - first + 1);
    for (unsigned char c : token) {
        if (c < 0x21 || c > 0x7e) {
            if (why) *why = "token file " + path.string() + ": the token holds spaces or control characters";
            return {};
        }
    }
    return token;
}

}  // namespace labsync::transports
