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

#include <fmt/format.h>
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

// The sidecar: {"location"} of the upload this archive name streams to.
std::string read_sidecar(const upload_job& job) {
    std::string why;
    const auto text = common::read_whole_file(job.sidecar, why);
    if (!text) return {};
    auto doc = nlohmann::json::parse(*text, nullptr, false);
    if (!doc.is_object() || !doc.contains("location") || !doc["location"].is_string()) return {};
    return doc["location"].get<std::string>();
}

// Written to a temporary, fsynced, renamed, directory fsynced: a later push finds it or nothing.
bool write_sidecar(const upload_job& job, const std::string& location) {
    std::error_code ec;
    fs::create_directories(job.sidecar.parent_path(), ec);
    const nlohmann::json doc{{"location", location}};
    const std::string text = doc.dump() + "\n";
    const fs::path tmp = job.sidecar.string() + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return false;  // only resumption across pushes is lost
    bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
    ::close(fd);
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

asio::awaitable<void> pause_for(std::chrono::milliseconds d) {
    asio::steady_timer pause(co_await asio::this_coro::executor);
    pause.expires_after(d);
    co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
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

header_list upload_session::fields(const header_list& extra) const {
    header_list h = job_.headers;
    h.emplace_back("Upload-Draft-Interop-Version", std::string(interop_version));
    for (const auto& e : extra) h.push_back(e);
    return h;
}

// HEAD: the offset the receiver holds. False when the upload is gone or complete (start a new
// one); nullopt with `out.last` set when the receiver could not be asked. A receiver that does
// not answer (restarting) is asked again with back-off for up to job.reconnect_for.
asio::awaitable<std::optional<bool>> upload_session::ask_offset(upload_outcome& out) {
    const auto until = std::chrono::steady_clock::now() + job_.reconnect_for;
    for (auto wait = std::chrono::milliseconds(100);;
         wait = std::min(wait * 2, std::chrono::milliseconds(2000))) {
        const header_list h = fields(header_list{});
        auto x = co_await client_.head(location_, h, job_.response_timeout);
        auto at = offset_of(x);
        if (x.completed && x.status == 204 && at && field_of(x, "Upload-Complete") != "?1") {
            offset_ = *at;
            if (auto l = field_of(x, "Upload-Limit")) limit_ = max_append_size(*l);
            co_return true;
        }
        if (x.completed && (x.status == 404 || x.status == 410 || x.status == 204)) co_return false;
        const bool again = retryable(x) && std::chrono::steady_clock::now() + wait < until;
        if (!again) {
            out.last = std::move(x);
            out.method = "HEAD";
            co_return std::nullopt;
        }
        co_await pause_for(wait);
    }
}

// POST: a new upload, its length unknown until the pack ends; false with `out` set when it was
// not created.
asio::awaitable<bool> upload_session::create(upload_outcome& out) {
    auto drop = [this] { return drop_sidecar(job_); };
    co_await common::on_pool(job_.pool, drop);
    offset_ = 0;
    const header_list h = fields(header_list{{"Upload-Complete", "?0"}});  // named: GCC 12
    auto x = co_await client_.post(job_.run_target, h, job_.response_timeout);
    auto loc = field_of(x, "Location");
    if (x.completed && x.status == 201 && loc && !loc->empty()) {
        location_ = location_target(*loc);
        offset_ = offset_of(x).value_or(0);
        if (auto l = field_of(x, "Upload-Limit")) limit_ = max_append_size(*l);
        auto write = [this] { return write_sidecar(job_, location_); };
        co_await common::on_pool(job_.pool, write);
        co_return true;
    }
    // An older receiver: a POST on a run is not allowed (405) or not found (404), without any
    // upload field.
    out.put_instead = x.completed && (x.status == 405 || x.status == 404) && !loc && !offset_of(x);
    out.last = std::move(x);
    out.method = "POST";
    co_return false;
}

asio::awaitable<bool> upload_session::open(upload_outcome& out) {
    completed_ = false;
    limit_.reset();
    auto read = [this] { return read_sidecar(job_); };
    if (!job_.sidecar.empty()) location_ = co_await common::on_pool(job_.pool, read);
    if (!location_.empty()) {
        auto held = co_await ask_offset(out);
        if (!held) co_return false;
        if (!*held) location_.clear();
    }
    if (location_.empty()) {
        // A run the receiver already holds: its PUT answers before the body (200 or 409), so
        // nothing is sent twice. (A POST would be accepted and the whole run sent again.)
        auto x = co_await client_.get(job_.run_target, job_.headers, job_.response_timeout);
        if (x.completed && x.status == 200) {
            out.put_instead = true;
            co_return false;
        }
        if (!co_await create(out)) co_return false;
    }
    out.resumed_at = offset_;
    co_return true;
}

asio::awaitable<void> upload_session::send(upload_spool& spool, upload_outcome& out) {
    int failed_parts = 0;
    for (;;) {
        const auto now = spool.snapshot();
        if (now.finished && spool.result().error) co_return;  // the pack failed: http_put reports it
        if (offset_ < now.begin) {  // the receiver lost acknowledged bytes: they are gone here
            out.last = {};
            out.last.failure = http_failure::protocol_error;
            out.last.failure_detail = fmt::format(
                "the receiver holds {} bytes, fewer than it acknowledged ({})", offset_, now.begin);
            out.method = "HEAD";
            co_return;
        }
        spool.release(offset_);
        const std::uint64_t cap =
            std::max<std::uint64_t>(limit_ ? std::min(job_.part_bytes, *limit_) : job_.part_bytes, 1);
        const std::uint64_t ready = now.end > offset_ ? now.end - offset_ : 0;
        if (!now.finished && ready < cap) {  // a part's worth, or the end of the pack
            co_await spool.wait();
            continue;
        }
        const std::uint64_t part = std::min(ready, cap);
        const bool complete = now.finished && offset_ + part == now.end;
        header_list h = fields(header_list{{"Content-Type", "application/partial-upload"},
                                           {"Upload-Offset", std::to_string(offset_)},
                                           {"Upload-Complete", complete ? "?1" : "?0"}});
        if (complete) h.emplace_back("Repr-Digest", repr_digest(spool.result().sha256_hex));
        file_body body;
        body.view = [&spool](std::uint64_t at, std::size_t max) { return spool.view(at, max); };
        body.offset = offset_;
        body.size = part;
        body.total = now.finished ? now.end : 0;
        body.chunk_bytes = job_.chunk_bytes;
        body.limiter = job_.limiter;
        body.on_progress = job_.on_progress;
        // The receiver may re-read what it holds before answering (after its restart), and
        // checks the whole archive before the completing answer.
        const auto timeout = stored_read_timeout(job_.response_timeout, offset_ + part);
        auto x = co_await client_.patch(location_, h, body, timeout);
        if (x.body_sent) out.bytes_sent += part;
        const bool answered = x.completed;
        if (answered && x.status == 204 && !complete) {
            offset_ = offset_of(x).value_or(offset_ + part);
            failed_parts = 0;
            continue;
        }
        if (answered && x.status == 409 && offset_of(x) && field_of(x, "Upload-Complete") == "?0" &&
            ++failed_parts <= max_failed_parts) {
            offset_ = *offset_of(x);  // the receiver holds another offset
            continue;
        }
        if (retryable(x) && ++failed_parts <= max_failed_parts) {
            // A network error or 5xx: ask where it stands (the receiver may be restarting).
            if (answered && x.status == 423)
                co_await pause_for(std::chrono::milliseconds(500) * failed_parts);
            const std::uint64_t part_start = offset_;
            auto held = co_await ask_offset(out);
            if (!held) co_return;
            // What the receiver kept of the broken part went over the wire too.
            if (*held && !x.body_sent && offset_ > part_start) out.bytes_sent += offset_ - part_start;
            if (!*held) {
                out.last = std::move(x);
                out.method = "PATCH";
                out.last.failure_detail += " (the upload is gone on the receiver)";
                co_return;
            }
            continue;
        }
        // The completing answer (201/200/409/422 …) or a refusal to report as is. A 507 or
        // 5xx keeps the sidecar: a later push resumes.
        completed_ = answered && complete && x.status < 500;
        // 422 for an upload this push did not begin: the receiver holds another version's bytes.
        out.restart = answered && x.status == 422 && out.resumed_at > 0;
        out.last = std::move(x);
        out.method = "PATCH";
        co_return;
    }
}

asio::awaitable<void> upload_session::close(upload_outcome& out) {
    if (out.restart) {
        const header_list h = fields(header_list{});
        co_await client_.del(location_, h, job_.response_timeout);  // 404 if the receiver dropped it
    }
    if (completed_ || out.restart) {
        auto drop = [this] { return drop_sidecar(job_); };
        co_await common::on_pool(job_.pool, drop);
    }
}

}  // namespace labsync::transports::detail
