// Bodies and parsers for the rclone remote control (see rclone_rc.hpp).
#include "labsync/transports/rclone_rc.hpp"

#include "labsync/verifier/errc.hpp"

#include <nlohmann/json.hpp>

namespace labsync::transports {
namespace {

using json = nlohmann::json;

// Per-call options: no low-level retries for short calls (rclone 1.60 reads `_config`).
json short_call(json body) {
    body["_config"] = {{"LowLevelRetries", 1}};
    return body;
}

std::optional<json> object_of(std::string_view body) {
    auto doc = json::parse(body, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) return std::nullopt;
    return doc;
}

}  // namespace

std::vector<std::string> rclone_rcd_argv(const rclone_config& config) {
    // No write timeout: a sync call is answered when its transfer ends, however long it takes
    // (the driver's transfer_timeout bounds the wait on its side).
    return rclone_argv(config, {"rcd", "--rc-addr", "127.0.0.1:0", "--rc-server-write-timeout", "0s"});
}

std::optional<std::string> rc_url_port(std::string_view url) {
    constexpr std::string_view prefix = "http://127.0.0.1:";
    if (url.rfind(prefix, 0) != 0) return std::nullopt;
    std::string port(url.substr(prefix.size()));
    while (!port.empty() && port.back() == '/') port.pop_back();
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
        return std::nullopt;
    return port;
}

std::string rc_list_body(std::string_view fs, bool with_sha256) {
    json opt = {{"noModTime", true}, {"noMimeType", true}};
    if (with_sha256) {
        opt["recurse"] = true;
        opt["filesOnly"] = true;
        opt["showHash"] = true;
        opt["hashTypes"] = json::array({"sha256"});
    }
    json body = {{"fs", fs}, {"remote", ""}, {"opt", opt}};
    // A listing with hashes reads every byte: no shortcut on its retries.
    return (with_sha256 ? body : short_call(body)).dump();
}

std::string rc_fsinfo_body(std::string_view fs) {
    return short_call({{"fs", fs}}).dump();
}

std::string rc_sync_body(std::string_view src, std::string_view dst, std::string_view group) {
    return json{{"srcFs", src}, {"dstFs", dst}, {"_group", group}}.dump();
}

std::string rc_move_body(std::string_view src, std::string_view dst) {
    return short_call({{"srcFs", src}, {"dstFs", dst}, {"deleteEmptySrcDirs", true}}).dump();
}

std::string rc_bwlimit_body(std::uint64_t bytes_per_second) {
    return json{{"rate", rclone_bwlimit(bytes_per_second)}}.dump();
}

std::string rc_group_body(std::string_view group) {
    return json{{"group", group}}.dump();
}

std::string rc_error_text(std::string_view body) {
    if (auto doc = object_of(body); doc && doc->contains("error") && (*doc)["error"].is_string())
        return (*doc)["error"].get<std::string>();
    std::string text(body.substr(0, std::min<std::size_t>(body.size(), 500)));
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text.empty() ? "empty answer" : text;
}

std::optional<rclone_stats> parse_rc_stats(std::string_view body) {
    auto doc = object_of(body);
    if (!doc || !doc->contains("bytes") || !(*doc)["bytes"].is_number_unsigned()) return std::nullopt;
    rclone_stats s;
    s.bytes = (*doc)["bytes"].get<std::uint64_t>();
    if (auto t = doc->find("totalBytes"); t != doc->end() && t->is_number_unsigned())
        s.total_bytes = t->get<std::uint64_t>();
    return s;
}

std::optional<bool> rc_list_nonempty(std::string_view body) {
    auto doc = object_of(body);
    if (!doc || !doc->contains("list") || !(*doc)["list"].is_array()) return std::nullopt;
    return !(*doc)["list"].empty();
}

verifier::manifest parse_rc_hash_list(std::string_view body, std::error_code& ec, std::string* why) {
    auto fail = [&](std::string text) {
        ec = verifier::make_error_code(verifier::errc::bad_manifest);
        if (why) *why = std::move(text);
        return verifier::manifest{};
    };
    ec.clear();
    auto doc = object_of(body);
    if (!doc || !doc->contains("list") || !(*doc)["list"].is_array())
        return fail("expected an object with a \"list\" array");
    std::vector<verifier::manifest_entry> entries;
    for (const auto& item : (*doc)["list"]) {
        if (!item.is_object() || !item.contains("Path") || !item["Path"].is_string())
            return fail("a list entry without a \"Path\"");
        if (item.value("IsDir", false)) continue;
        verifier::manifest_entry e;
        e.path = item["Path"].get_ref<const std::string&>();  // `doc` outlives the manifest's copy
        const auto size = item.find("Size");
        if (size != item.end() && size->is_number_unsigned()) e.size = size->get<std::uint64_t>();
        const auto hashes = item.find("Hashes");
        std::optional<verifier::sha256_digest> digest;
        if (hashes != item.end() && hashes->is_object() && hashes->contains("sha256") &&
            (*hashes)["sha256"].is_string())
            digest = verifier::digest_from_hex((*hashes)["sha256"].get<std::string>());
        if (!digest) return fail("no SHA-256 for '" + std::string(e.path) + "'");
        e.sha256 = *digest;
        entries.push_back(std::move(e));
    }
    verifier::manifest m(std::move(entries));
    // The sha256sum parser holds the path rules (no "..", no absolute path, no duplicate).
    verifier::manifest::parse_sha256sum(m.to_sha256sum(), ec, why);
    if (ec) return {};
    return m;
}

}  // namespace labsync::transports
