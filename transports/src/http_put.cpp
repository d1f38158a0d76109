// The http_put driver: the run packed on the CPU pool straight into a resumable upload through a
// memory spool (http_put_spool / http_put_upload; one PUT of an outbox archive to receivers without
// uploads or holding the run already) over the kept-alive client, and the GET probe. Decisions
// (status → kind, outbox reuse) live in http_status / http_put_outbox.
#include "labsync/transports/http_put.hpp"

#include "http_put_client.hpp"
#include "http_put_small.hpp"
#include "http_put_spool.hpp"
#include "http_put_upload.hpp"
#include "labsync/common/ids.hpp"
#include "labsync/common/on_pool.hpp"
#include "labsync/transports/http_status.hpp"

#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>

// GCC 12 reports a false mismatched-new-delete on Asio's coroutine frames (its frame allocator
// pairs a custom operator new with the sized delete; GCC bug 109224).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace labsync::transports {
namespace {

struct fd_guard {
    int fd = -1;
    ~fd_guard() {
        if (fd >= 0) ::close(fd);
    }
};

std::string describe_failure(std::string_view method, const std::string& url,
                             const detail::http_exchange& x) {
    return fmt::format("{} {}: {}", method, url, describe_http_failure(*x.failure, x.failure_detail));
}

std::string describe_status(std::string_view method, const std::string& url, const detail::http_exchange& x) {
    auto excerpt = body_excerpt(x.body);
    return fmt::format("{} {}: HTTP {} {}{}{}", method, url, x.status, x.reason, excerpt.empty() ? "" : ": ",
                       excerpt);
}

}  // namespace

std::unique_ptr<http_put> http_put::create(http_put_config config, asio::any_io_executor cpu,
                                           std::string* why, outbox_ops ops) {
    if (auto problems = config.validate(); !problems.empty()) {
        if (why) *why = "http_put: " + describe(problems);
        return nullptr;
    }
    auto url = parse_receiver_url(config.url, why);
    if (!url) return nullptr;
    if (config.outbox.empty()) {
        if (why) *why = "http_put needs an outbox directory";
        return nullptr;
    }
    if (!config.token_file.empty()) {
        std::string token_why;
        if (read_token_file(config.token_file, &token_why).empty()) {
            if (why) *why = token_why;
            return nullptr;
        }
    }
    std::unique_ptr<http_put> driver(
        new http_put(std::move(config), std::move(*url), std::move(cpu), std::move(ops)));
    driver->client_ = detail::http_client::create(driver->url_, driver->config_, why);
    if (!driver->client_) return nullptr;
    return driver;
}

http_put::http_put(http_put_config config, parsed_url url, asio::any_io_executor cpu, outbox_ops ops)
    : config_(std::move(config)), url_(std::move(url)), cpu_(std::move(cpu)), ops_(std::move(ops)) {}

http_put::~http_put() = default;

fs::path http_put::outbox_path(std::string_view equipment, std::string_view run) const {
    return outbox_archive_path(config_.outbox, equipment, run);
}

std::string http_put::release(const std::string& equipment, const std::string& run) {
    return remove_outbox_archive(config_.outbox, equipment, run);
}

std::vector<std::string> http_put::sweep(const wanted_fn& is_wanted) {
    std::vector<std::string> removed;
    for (const auto& p : sweep_outbox(config_.outbox, is_wanted))
        removed.push_back("outbox archive " + p.string());
    return removed;
}

std::uint64_t http_put::connections_opened() const noexcept {
    return client_->connections_opened();
}

std::string http_put::run_url(const push_request& request) const {
    return fmt::format("{}/v1/runs/{}/{}", url_.base_path, request.equipment, request.run_id);
}

asio::awaitable<outbox_archive> http_put::stream(detail::spool_pack& pack, detail::upload_session& session,
                                                 detail::upload_outcome& up) {
    auto& spool = pack.spool();
    co_await session.send(spool, up);
    const bool packed_first = spool.snapshot().finished;
    spool.cancel();  // a send that stopped early: the packer's next append fails
    while (!spool.snapshot().finished) co_await spool.wait();
    outbox_archive result = std::move(spool.result());
    if (!packed_first) result = {};  // its error is our cancellation: the send's failure is the news
    co_return result;
}

asio::awaitable<push_result> http_put::push(const push_request& request) {
    const std::string target = run_url(request);
    const std::string where = fmt::format("{}{}", config_.url, target.substr(url_.base_path.size()));
    if (auto why = common::ids_refusal_reason(request.equipment, request.run_id); !why.empty())
        co_return push_result::failed(
            transport_result::failure(error_kind::rejected, fmt::format("PUT {}: {}", where, why)));

    detail::header_list headers;
    if (!config_.code_commit.empty()) headers.emplace_back("X-Code-Commit", config_.code_commit);
    if (!config_.token_file.empty()) {
        std::string why;
        auto token = read_token_file(config_.token_file, &why);
        if (token.empty())
            co_return push_result::failed(
                transport_result::failure(error_kind::auth, fmt::format("PUT {}: {}", where, why)));
        headers.emplace_back("Authorization", "Bearer " + token);
    }
    const fs::path out = outbox_path(request.equipment, request.run_id);

    // The upload is this push's transfer: it holds a share of the budget while it runs.
    auto lease = request.limiter ? request.limiter->begin_transfer() : nullptr;
    detail::upload_job job;
    job.run_target = target;
    job.where = where;
    job.headers = headers;
    job.sidecar = upload_sidecar_path(out);
    job.part_bytes = std::min(config_.part_bytes, config_.spool_bytes / 2);
    job.chunk_bytes = config_.chunk_bytes;
    job.limiter = lease.get();
    job.on_progress = &request.on_progress;
    job.response_timeout = config_.io_timeout;  // PATCH adds time for what the receiver re-reads
    job.reconnect_for = config_.io_timeout;
    job.pool = cpu_;
    detail::upload_session session(*client_, job);
    detail::upload_outcome up;
    outbox_archive packed;
    bool streamed = false;
    const asio::any_io_executor io = co_await asio::this_coro::executor;
    const auto start_pack = [&](std::uint64_t skip) {
        return std::make_unique<detail::spool_pack>(io, config_.spool_bytes, skip, ops_.stream, request,
                                                    config_.zstd_level);
    };
    std::unique_ptr<detail::spool_pack> pack;
    // No upload to continue and an archive within one part: ONE PUT from memory (http_put_small).
    auto small_run = [&job, &request] {
        std::error_code ec;
        return !fs::exists(job.sidecar, ec) && detail::archive_fits(request.run_path, job.part_bytes);
    };
    if (co_await common::on_pool(cpu_, small_run)) {
        pack = start_pack(0);
        switch (co_await detail::put_small(*client_, job, *pack, up.last)) {
            case detail::small_put_outcome::not_small:
                up.last = {};
                break;
            case detail::small_put_outcome::pack_failed:
                streamed = true;
                packed = std::move(pack->spool().result());
                up.put_instead = true;  // no upload round
                break;
            case detail::small_put_outcome::answered:
                streamed = true;
                packed = std::move(pack->spool().result());
                up.method = "PUT";
                up.bytes_sent = up.last.body_sent ? packed.bytes : 0;
                up.put_instead = true;  // no upload round; `small` below: no outbox PUT either
                break;
        }
    }
    const bool small = streamed;
    // A second round only after the receiver refused a resumed upload (the run changed since).
    for (int round = 0; round < 2 && !up.put_instead; ++round) {
        up = {};
        if (!co_await session.open(up)) break;
        streamed = true;
        if (!pack || pack->skip() != session.offset()) pack = start_pack(session.offset());
        packed = co_await stream(*pack, session, up);
        pack.reset();
        co_await session.close(up);
        if (!up.restart) break;
    }
    pack.reset();
    if (streamed && packed.error)
        co_return push_result::failed(transport_result::failure(
            kind_of_local_error(packed.error),
            fmt::format("packing {} for {} failed: {}", request.run_path.string(), where, packed.message)));

    std::string method = up.method;
    detail::http_exchange x;
    std::uint64_t moved = up.bytes_sent;
    std::string how;
    bool reused = false;
    std::optional<verifier::build_result> built;
    if (up.put_instead && !small) {  // stored already, or an older receiver: pack into the outbox, one PUT
        // The tree's shape before the pack (metadata only): an entry added meanwhile shows up
        // as a changed tree at cleanup, never as one shipped that was not.
        auto walk_job = [&request] { return verifier::walk_run(request.run_path); };
        auto walked = co_await common::on_pool(cpu_, walk_job);
        auto pack_job = [this, &request, &out] {
            return prepare_outbox(ops_, request.run_path, out, config_.zstd_level, request.local_manifest,
                                  request.on_pack_progress);
        };
        outbox_outcome prepared = co_await common::on_pool(cpu_, pack_job);
        if (!prepared.status.ok) co_return push_result::failed(std::move(prepared.status));
        fd_guard file{::open(out.c_str(), O_RDONLY | O_CLOEXEC)};
        struct stat st {};
        if (file.fd < 0 || ::fstat(file.fd, &st) != 0)
            co_return push_result::failed(transport_result::failure(
                error_kind::unknown, fmt::format("PUT {}: cannot open outbox archive {}: {}", where,
                                                 out.string(), std::strerror(errno))));
        if (static_cast<std::uint64_t>(st.st_size) != prepared.bytes)
            co_return push_result::failed(transport_result::failure(
                error_kind::unknown,
                fmt::format("PUT {}: outbox archive {} is {} bytes, expected {}; it changed under us", where,
                            out.string(), st.st_size, prepared.bytes)));
        detail::file_body body;
        body.fd = file.fd;
        body.size = prepared.bytes;
        body.chunk_bytes = config_.chunk_bytes;
        body.limiter = lease.get();
        body.on_progress = &request.on_progress;
        headers.emplace_back("X-Content-SHA256", prepared.sha256_hex);
        // Over a stored copy the receiver re-reads it before answering (it replaces damaged bytes).
        x = co_await client_->put(target, headers, body,
                                  stored_read_timeout(config_.io_timeout, prepared.bytes));
        method = "PUT";
        moved = x.body_sent ? prepared.bytes : 0;
        packed.sha256_hex = prepared.sha256_hex;
        packed.bytes = prepared.bytes;
        reused = prepared.reused;
        if (!walked.error && prepared.manifest) {
            built.emplace();
            built->manifest = std::move(*prepared.manifest);
            built->directories = std::move(walked.directories);
            built->findings = std::move(walked.findings);
            // The stat taken before the pack read the files: a change in between shows as a
            // fingerprint mismatch at cleanup, which then re-hashes.
            const auto& entries = built->manifest.entries();
            if (std::equal(entries.begin(), entries.end(), walked.files.begin(), walked.files.end(),
                           [](const auto& e, const auto& f) { return e.path == f.path; })) {
                built->walk_started_ns = walked.started_ns;
                for (const auto& f : walked.files) built->fingerprints.push_back(verifier::fingerprint_of(f));
            }
        }
    } else {
        x = std::move(up.last);
        how = up.resumed_at > 0 ? fmt::format(", resumed at {}", up.resumed_at) : "";
    }
    lease.reset();

    push_result result;
    result.bytes_moved = moved;
    if (!x.completed) {
        if (!x.failure) x.failure = http_failure::protocol_error;
        result.status =
            transport_result::failure(kind_for_failure(*x.failure), describe_failure(method, where, x));
        co_return result;
    }
    auto kind = kind_for_put_status(x.status);
    auto& r = result.status;
    r = kind == error_kind::none
            ? transport_result::success(x.status)
            : transport_result::failure(kind, describe_status(method, where, x), x.status);
    if (const auto hint = put_status_hint(x.status, packed.bytes); !hint.empty()) r.message += "; " + hint;
    r.stdout_text = x.body;
    if (r.ok) {
        result.archive_sha256 = packed.sha256_hex;
        // The receiver's answer names the sha256 of what it holds now (received and fsynced, or
        // re-hashed): this push's proof. Without one, the engine probes.
        if (auto stored = stated_sha256(x.body)) {
            result.evidence.emplace();
            result.evidence->present = true;
            result.evidence->archive_sha256 = std::move(stored);
        }
        if (streamed && packed.manifest) {  // the run as this push read it: no second pass
            built.emplace();
            built->manifest = std::move(*packed.manifest);
            built->directories = std::move(packed.directories);
            built->findings = std::move(packed.findings);
            built->fingerprints = std::move(packed.fingerprints);
            built->walk_started_ns = packed.walk_started_ns;
        }
        result.built = std::move(built);
        r.message = fmt::format("{} {}: HTTP {} {} ({} bytes, sha256 {}{}{}, {} sent)", method, where,
                                x.status, x.reason, packed.bytes, packed.sha256_hex,
                                reused ? ", outbox archive reused" : "", how, moved);
    }
    co_return result;
}

asio::awaitable<probe_result> http_put::probe(const push_request& request) {
    probe_result out;
    const std::string target = run_url(request);
    const std::string where = fmt::format("{}{}", config_.url, target.substr(url_.base_path.size()));
    if (auto why = common::ids_refusal_reason(request.equipment, request.run_id); !why.empty()) {
        out.status = transport_result::failure(error_kind::rejected, fmt::format("GET {}: {}", where, why));
        co_return out;
    }
    detail::header_list headers;
    if (!config_.token_file.empty()) {
        std::string why;
        auto token = read_token_file(config_.token_file, &why);
        if (token.empty()) {
            out.status = transport_result::failure(error_kind::auth, fmt::format("GET {}: {}", where, why));
            co_return out;
        }
        headers.emplace_back("Authorization", "Bearer " + token);
    }
    // A verify request: the receiver re-hashes the stored archive, so the answer proves the
    // bytes, not its record (docs/protocol.md "Verify"). The archive is about as large as the run.
    std::optional<std::uint64_t> size;
    if (request.local_manifest) size = request.local_manifest->total_bytes();
    const auto response_timeout = stored_read_timeout(config_.io_timeout, size);
    const std::string verify_target = target + "?verify=1";  // named: see common/on_pool.hpp about GCC 12
    auto x = co_await client_->get(verify_target, headers, response_timeout);
    if (!x.completed) {
        out.status =
            transport_result::failure(kind_for_failure(*x.failure), describe_failure("GET", where, x));
        co_return out;
    }
    auto kind = kind_for_probe_status(x.status);
    if (kind != error_kind::none) {
        out.status = transport_result::failure(kind, describe_status("GET", where, x), x.status);
        out.status.stdout_text = x.body;
        co_return out;
    }
    out.status = transport_result::success(x.status);
    out.status.stdout_text = x.body;
    if (x.status == 404) co_return out;  // not there: a valid answer
    auto doc = nlohmann::json::parse(x.body, nullptr, false);
    if (!doc.is_object() || !doc.contains("verified") || doc["verified"] != true) {
        out.status = transport_result::failure(
            error_kind::unknown,
            fmt::format("GET {}?verify=1: HTTP 200 but the receiver did not re-hash the stored archive "
                        "(no \"verified\": true; a syncd-receiver older than this syncd ignores the "
                        "verify request: upgrade it): {}",
                        where, body_excerpt(x.body)),
            x.status);
        co_return out;
    }
    auto sha = stated_sha256(x.body);
    if (!sha) {
        out.status =
            transport_result::failure(error_kind::unknown,
                                      fmt::format("GET {}: HTTP 200 but the body has no valid \"sha256\": {}",
                                                  where, body_excerpt(x.body)),
                                      x.status);
        co_return out;
    }
    out.present = true;
    out.archive_sha256 = std::move(sha);
    co_return out;
}

}  // namespace labsync::transports
