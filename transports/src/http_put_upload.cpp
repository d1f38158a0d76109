// The resumable upload of http_put (see http_put_upload.hpp). Status meanings come from
// docs/protocol.md "Resumable uploads"; the completing answer is mapped like a PUT's by http_put.
#include "http_put_upload.hpp"

#include "labsync/common/on_pool.hpp"
#include "labsync/common/read_file.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <openssl/evp.h>

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cctype>
#include <charconv>
#include <system_error>
#include <vector>

// GCC 12 reports a false mismatched-new-delete on Asio's coroutine frames (GCC bug 109224).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace labsync::transports::detail {
namespace {

constexpr std::string_view interop_version = "6";  // draft-05, as syncd-receiver speaks it
constexpr int max_failed_parts = 3;                // in a row, each followed by a HEAD

std::optional<std::uint64_t> parse_u64(std::string_view text) noexcept {
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || p != text.data() + text.size() || text.empty()) return std::nullopt;
    return v;
}

std::optional<std::uint64_t> offset_of(const http_exchange& x) {
    auto f = field_of(x, "Upload-Offset");
    return f ? parse_u64(*f) : std::nullopt;
}

std::string repr_digest(std::string_view sha256_hex) {
    unsigned char raw[32];
    for (std::size_t i = 0; i < 32 && 2 * i + 1 < sha256_hex.size(); ++i)
        std::from_chars(sha256_hex.data() + 2 * i, sha256_hex.data() + 2 * i + 2, raw[i], 16);
    unsigned char b64[48] = {};
    int n = EVP_EncodeBlock(b64, raw, sizeof raw);
    return "sha-256=:" + std::string(reinterpret_cast<char*>(b64), static_cast<std::size_t>(n)) + ":";
}

// The sidecar: {"location", "sha256", "bytes"}; a stale one (other archive) is ignored.
std::string read_sidecar(const upload_job& job) {
    std::string why;
    const auto text = common::read_whole_file(job.sidecar, why);
    if (!text) return {};
    auto doc = nlohmann::json::parse(*text, nullptr, false);
    if (!doc.is_object() || doc.value("sha256", "") != job.sha256_hex ||
        doc.value("bytes", std::uint64_t{0}) != job.size)
        return {};
    return doc.value("location", "");
}

// Written to a temporary, fsynced, renamed, directory fsynced: a later push finds it or nothing.
bool write_sidecar(const upload_job& job, const std::string& location) {
    const nlohmann::json doc{{"location", location}, {"sha256", job.sha256_hex}, {"bytes", job.size}};
    const std::string text = doc.dump() + "\n";
    const fs::path tmp = job.sidecar.string() + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return false;  // only resumption across pushes is lost
    bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
    ::close(fd);
    std::error_code ec;
    if (ok) fs::rename(tmp, job.sidecar, ec);
    if (!ok || ec) return fs::remove(tmp, ec), false;
    int dir = ::open(job.sidecar.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        ::fsync(dir);
        ::close(dir);
    }
    return true;
}

bool drop_sidecar(const upload_job& job) {
    std::error_code ec;
    return fs::remove(job.sidecar, ec);
}

// A network error, a 5xx but 507, or 423: the receiver still holds the upload for the request
// that just broke (it lets go when it notices), so ask again after a pause.
bool retryable(const http_exchange& x) {
    return !x.completed ? x.failure != http_failure::local_io_error
                        : x.status == 423 || (x.status >= 500 && x.status != 507);
}

}  // namespace

std::optional<std::uint64_t> max_append_size(std::string_view value) noexcept {
    constexpr std::string_view key = "max-append-size=";
    for (std::size_t pos = 0; pos < value.size();) {
        auto end = value.find(',', pos);
        if (end == std::string_view::npos) end = value.size();
        auto item = value.substr(pos, end - pos);
        while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front()))) item.remove_prefix(1);
        while (!item.empty() && std::isspace(static_cast<unsigned char>(item.back()))) item.remove_suffix(1);
        if (item.starts_with(key)) {
            auto v = parse_u64(item.substr(key.size()));
            return v && *v > 0 ? v : std::nullopt;
        }
        pos = end + 1;
    }
    return std::nullopt;
}

std::string location_target(std::string_view location) {
    if (auto scheme = location.find("://"); scheme != std::string_view::npos) {
        auto path = location.find('/', scheme + 3);
        return path == std::string_view::npos ? "/" : std::string(location.substr(path));
    }
    return std::string(location);
}

std::uint64_t next_part(std::uint64_t offset, std::uint64_t size, std::uint64_t part_cap,
                        std::optional<std::uint64_t> receiver_limit) noexcept {
    std::uint64_t cap = receiver_limit ? std::min(part_cap, *receiver_limit) : part_cap;
    return std::min(size - std::min(offset, size), std::max<std::uint64_t>(cap, 1));
}

asio::awaitable<upload_outcome> upload_archive(http_client& client, const upload_job& job) {
    upload_outcome out;
    const auto timeout = job.response_timeout;
    auto fields = [&](const header_list& extra) {
        header_list h = job.headers;
        h.emplace_back("Upload-Draft-Interop-Version", std::string(interop_version));
        for (const auto& e : extra) h.push_back(e);
        return h;
    };
    std::string location;  // request target of the upload
    // The sidecar's file I/O (an fsync among it) runs on the pool, never on the I/O thread.
    auto read = [&job] { return read_sidecar(job); };
    auto write = [&job, &location] { return write_sidecar(job, location); };
    auto drop = [&job] { return drop_sidecar(job); };
    std::uint64_t offset = 0;
    std::optional<std::uint64_t> limit;
    // HEAD: the offset the receiver holds. False when the upload is gone (start a new one);
    // `out.last` holds the failure when the receiver could not be asked.
    auto ask_offset = [&]() -> asio::awaitable<std::optional<bool>> {
        const header_list h = fields(header_list{});
        auto x = co_await client.head(location, h, timeout);
        auto at = offset_of(x);
        if (x.completed && x.status == 204 && at && field_of(x, "Upload-Complete") != "?1") {
            offset = std::min(*at, job.size);
            if (auto l = field_of(x, "Upload-Limit")) limit = max_append_size(*l);
            co_return true;
        }
        if (x.completed && (x.status == 404 || x.status == 410 || x.status == 204)) co_return false;
        out.last = std::move(x);
        out.method = "HEAD";
        co_return std::nullopt;
    };
    // POST: a new upload; false with `out` set when it was not created.
    auto create = [&]() -> asio::awaitable<bool> {
        co_await common::on_pool(job.pool, drop);
        offset = 0;
        // A named list, not a braced temporary in the co_await (GCC 12 rejects that).
        const header_list h =
            fields(header_list{{"Upload-Complete", "?0"}, {"Upload-Length", std::to_string(job.size)}});
        auto x = co_await client.post(job.run_target, h, timeout);
        auto loc = field_of(x, "Location");
        if (x.completed && x.status == 201 && loc && !loc->empty()) {
            location = location_target(*loc);
            offset = std::min(offset_of(x).value_or(0), job.size);
            if (auto l = field_of(x, "Upload-Limit")) limit = max_append_size(*l);
            co_await common::on_pool(job.pool, write);
            co_return true;
        }
        // An older receiver: a POST on a run is not allowed (405) or not found (404), without
        // any upload field.
        out.put_instead = x.completed && (x.status == 405 || x.status == 404) && !loc && !offset_of(x);
        out.last = std::move(x);
        out.method = "POST";
        co_return false;
    };

    if (!job.sidecar.empty()) location = co_await common::on_pool(job.pool, read);
    if (!location.empty()) {
        auto held = co_await ask_offset();
        if (!held) co_return out;
        if (!*held) location.clear();
    }
    if (location.empty()) {
        // A run the receiver already holds: its PUT answers before the body (200 or 409), so
        // nothing is sent twice.
        auto x = co_await client.get(job.run_target, job.headers, timeout);
        if (x.completed && x.status == 200) {
            out.put_instead = true;
            co_return out;
        }
        if (!co_await create()) co_return out;
    }
    out.resumed_at = offset;

    bool restarted = false;
    int failed_parts = 0;
    for (;;) {
        const std::uint64_t part = next_part(offset, job.size, job.part_bytes, limit);
        const bool complete = offset + part == job.size;
        header_list h = fields(header_list{{"Content-Type", "application/partial-upload"},
                                           {"Upload-Offset", std::to_string(offset)},
                                           {"Upload-Complete", complete ? "?1" : "?0"}});
        if (complete) h.emplace_back("Repr-Digest", repr_digest(job.sha256_hex));
        file_body body;
        body.fd = job.fd;
        body.offset = offset;
        body.size = part;
        body.total = job.size;
        body.chunk_bytes = job.chunk_bytes;
        body.limiter = job.limiter;
        body.on_progress = job.on_progress;
        auto x = co_await client.patch(location, h, body, timeout);
        if (x.body_sent) out.bytes_sent += part;
        const bool answered = x.completed;
        if (answered && x.status == 204 && !complete) {
            offset = offset_of(x).value_or(offset + part);
            failed_parts = 0;
            continue;
        }
        if (answered && x.status == 409 && offset_of(x) && field_of(x, "Upload-Complete") == "?0" &&
            ++failed_parts <= max_failed_parts) {
            offset = std::min(*offset_of(x), job.size);  // the receiver holds another offset
            continue;
        }
        if ((answered && x.status == 404 && !restarted) ||
            (retryable(x) && ++failed_parts <= max_failed_parts)) {
            // Gone (expired, removed): a new upload; a network error or 5xx: ask where it stands.
            std::optional<bool> held = false;
            if (answered && x.status == 423) {
                asio::steady_timer pause(co_await asio::this_coro::executor);
                pause.expires_after(std::chrono::milliseconds(500) * failed_parts);
                co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
            }
            if (!(answered && x.status == 404)) held = co_await ask_offset();
            if (!held) co_return out;
            if (!*held) {
                if (restarted) {
                    out.last = std::move(x);
                    out.method = "PATCH";
                    co_return out;
                }
                restarted = true;
                if (!co_await create()) co_return out;
            }
            continue;
        }
        // The completing answer (201/200/409/422 …) or a refusal to report as is. A 507 or
        // 5xx keeps the sidecar: a later push resumes.
        if (answered && complete && x.status < 500) co_await common::on_pool(job.pool, drop);
        out.last = std::move(x);
        out.method = "PATCH";
        co_return out;
    }
}

}  // namespace labsync::transports::detail
