// The resumable-upload paths of session<Stream> (included by session.cpp; docs/protocol.md
// "Resumable uploads"). The decisions are core/upload_rules (pure) and the disk work
// core/upload_store (on the pool); this file only moves bytes between them.
//
//   POST  /v1/runs/E/R      create (optionally with the first bytes; 104 then 201 + Location)
//   HEAD  /v1/uploads/ID    offset retrieval (204)
//   PATCH /v1/uploads/ID    append at Upload-Offset (204), or complete (the PUT answers)
//   DELETE /v1/uploads/ID   cancel (204)

namespace labsync::receiver {
namespace {

// Acknowledged offsets are also checkpointed during a long append, so a crash loses at most this
// much of what was received (each checkpoint is an fsync).
constexpr std::uint64_t checkpoint_every = 64u << 20;
constexpr std::int64_t sweep_every_seconds = 60;

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

void set_upload_fields(response& res, const upload_state& s, std::uint64_t max_append,
                       std::int64_t expires_in) {
    res.set("Upload-Draft-Interop-Version", upload_interop_version);
    res.set("Upload-Offset", std::to_string(s.offset));
    res.set("Upload-Complete", s.complete ? "?1" : "?0");
    if (s.length) res.set("Upload-Length", std::to_string(*s.length));
    res.set(
        "Upload-Limit",
        upload_limit_value(max_append, s.complete ? std::nullopt : std::optional<std::int64_t>(expires_in)));
    res.set(http::field::cache_control, "no-store");
}

std::function<std::unique_ptr<body_checker>()> member_checker_factory(const server_config& cfg) {
    return [&cfg] { return cfg.member_check ? make_archive_member_checker(cfg.check_threads, cfg.check_budget) : nullptr; };
}

}  // namespace

template <class Stream>
response session<Stream>::upload_answer(int status, unsigned v, const upload_state& s, std::string body) {
    auto res = make_response(static_cast<http::status>(status), v, std::move(body), true);
    if (status == 204) {  // no content: neither its length nor its type (RFC 9110 §8.6)
        res.erase(http::field::content_length);
        res.erase(http::field::content_type);
    }
    set_upload_fields(res, s, ctx_.config.max_body, upload_expires_in(s, unix_now(), ctx_.uploads->expiry()));
    return res;
}

template <class Stream>
awaitable<bool> session<Stream>::upload_create(http::request_parser<http::empty_body>& parser,
                                               const route& r) {
    auto& req = parser.get();
    const unsigned v = req.version();
    const auto& cfg = ctx_.config;
    const bool body_pending = parser.chunked() || parser.content_length().value_or(0) > 0;
    auto refuse = [&](int status, const std::string& error, const std::string& message) -> awaitable<bool> {
        ctx_.log->info("{}: POST {} → {} {}", peer_, std::string_view(req.target()), status, error);
        auto res = error_response(status, v, error, message, false);
        if (status == 401) res.set(http::field::www_authenticate, "Bearer");
        co_return co_await finish(req, std::move(res), !body_pending);
    };
    // Ids, credentials and the commit allow-list as for PUT; the digest comes with the
    // completing request (Repr-Digest), so PUT's X-Content-SHA256 rule is given a placeholder.
    put_facts pf;
    pf.ids_valid = r.ids_valid;
    pf.id_error = r.id_error;
    auth_decision auth{auth_outcome::missing, {}};
    if (r.ids_valid) pf.auth = (auth = authorize_for(req, r.equipment)).outcome;
    pf.content_length = 0;
    pf.sha_header_count = 1;
    static const std::string no_digest_yet(64, '0');
    pf.sha256 = no_digest_yet;
    std::string commit(header(req, "X-Code-Commit").value_or(""));
    if (header(req, "X-Code-Commit")) pf.commit = commit;
    pf.max_body = cfg.max_body;
    const commit_allowlist* allowed = cfg.allowed_commits ? &*cfg.allowed_commits : nullptr;
    if (auto verdict = decide_put(pf, allowed); !verdict.accepted())
        co_return co_await refuse(verdict.status, verdict.error, verdict.message);

    append_facts f;
    f.creation = true;
    f.interop_version = header(req, "Upload-Draft-Interop-Version");
    f.upload_complete = header(req, "Upload-Complete");
    f.upload_length = header(req, "Upload-Length");
    f.repr_digest = header(req, "Repr-Digest");
    f.chunked = parser.chunked();
    f.content_length = parser.content_length().value_or(0);
    f.max_append = cfg.max_body;
    append_request ar;
    if (auto verdict = check_append_headers(f, ar); !verdict.accepted())
        co_return co_await refuse(verdict.status, verdict.error, verdict.message);

    upload_state state;
    state.equipment = r.equipment;
    state.run = r.run;
    state.length = ar.length;
    state.created = state.updated = unix_now();
    state.sha256 = ar.sha256;
    state.code_commit = commit;
    state.client = auth.principal.empty() ? peer_ : auth.principal + " " + peer_;
    // A creation that also completes is checked like a completing PATCH (length, digest).
    if (auto verdict = check_append_state(state, ar); !verdict.accepted())
        co_return co_await refuse(verdict.status, verdict.error, verdict.message);
    struct created {
        std::optional<std::uint64_t> free;
        std::string id;
        std::unique_ptr<upload_handle> handle;
        std::error_code ec;
        std::size_t expired = 0;
    };
    auto c = co_await on_disk(ctx_, [&] {
        created out;
        if (auto last = ctx_.last_upload_sweep.load();
            state.created - last >= sweep_every_seconds &&
            ctx_.last_upload_sweep.compare_exchange_strong(last, state.created))
            out.expired = ctx_.uploads->sweep(state.created);
        out.free = ctx_.store.free_bytes();
        if (check_space(ar.length.value_or(ar.body), out.free, cfg.min_free).accepted())
            out.id = ctx_.uploads->create(state, out.ec);
        upload_access access{};
        if (!out.id.empty()) out.handle = ctx_.uploads->open(out.id, state.created, access, out.ec);
        if (out.handle) out.ec = out.handle->resume(nullptr, member_checker_factory(cfg));
        return out;
    });
    for (std::size_t i = 0; i < c.expired; ++i) ctx_.stats.count_upload_event(metrics::upload_event::expired);
    if (auto verdict = check_space(ar.length.value_or(ar.body), c.free, cfg.min_free); !verdict.accepted())
        co_return co_await refuse(verdict.status, verdict.error, verdict.message);
    if (c.ec || !c.handle) {
        ctx_.log->error("{}: POST {}/{}: cannot create an upload: {}", peer_, r.equipment, r.run,
                        c.ec.message());
        co_return co_await refuse(500, "store_error", "cannot create the upload in the store");
    }
    ctx_.stats.count_upload_event(metrics::upload_event::created);
    ctx_.log->info("{}: POST {}/{} → upload {}", peer_, r.equipment, r.run, c.id);
    const std::string location = upload_location(c.id);
    if (body_pending && f.interop_version) {
        // 104 (Upload Resumption Supported): the client learns the upload's URL before it sends
        // the body, so it can resume even if this request fails. Only to draft-aware clients:
        // generic HTTP/1.1 clients (python's http.client) take any 1xx but 100 as the answer.
        http::response<http::empty_body> info{static_cast<http::status>(104), v};
        info.reason("Upload Resumption Supported");
        info.set(http::field::location, location);
        info.set("Upload-Draft-Interop-Version", upload_interop_version);
        lowest().expires_after(write_timeout);
        auto [ec, n] = co_await http::async_write(stream_, info, use_tuple);
        if (ec) co_return false;
    }
    co_return co_await upload_append(parser, *c.handle, ar, location);
}

template <class Stream>
awaitable<bool> session<Stream>::upload_request(http::request_parser<http::empty_body>& parser,
                                                std::string id) {
    auto& req = parser.get();
    const unsigned v = req.version();
    const bool body_pending = parser.chunked() || parser.content_length().value_or(0) > 0;
    auto reply = [&](response res) -> awaitable<bool> {
        ctx_.log->info("{}: {} upload {} → {}", peer_, std::string_view(req.method_string()), id,
                       res.result_int());
        co_return co_await finish(req, std::move(res), !body_pending);
    };
    const auto method = req.method();
    if (method != http::verb::head && method != http::verb::patch && method != http::verb::delete_) {
        auto res = error_response(
            405, v, "method_not_allowed",
            std::string(req.method_string()) + " is not allowed on an upload; use HEAD, PATCH or DELETE",
            true);
        res.set(http::field::allow, "HEAD, PATCH, DELETE");
        co_return co_await reply(std::move(res));
    }
    if (!valid_upload_id(id))
        co_return co_await reply(error_response(404, v, "not_found", "no such upload", true));
    append_request ar;
    if (method == http::verb::patch) {
        append_facts f;
        f.interop_version = header(req, "Upload-Draft-Interop-Version");
        f.upload_complete = header(req, "Upload-Complete");
        f.upload_offset = header(req, "Upload-Offset");
        f.upload_length = header(req, "Upload-Length");
        f.repr_digest = header(req, "Repr-Digest");
        f.content_type = header(req, "Content-Type");
        f.chunked = parser.chunked();
        f.content_length = parser.content_length().value_or(0);
        f.max_append = ctx_.config.max_body;
        if (auto verdict = check_append_headers(f, ar); !verdict.accepted()) {
            auto res = error_response(verdict.status, v, verdict.error, verdict.message, true);
            if (verdict.status == 413)
                res.set("Upload-Limit", upload_limit_value(ctx_.config.max_body, std::nullopt));
            co_return co_await reply(std::move(res));
        }
    }
    // Credentials first (any equipment): an anonymous request never touches the store or the lock.
    if (auto any = authorize_any(req); any.outcome != auth_outcome::granted)
        co_return co_await reply(auth_error(any, v));
    const std::int64_t now = unix_now();
    auto gone = [&](upload_access access, const std::error_code& ec) -> response {
        if (access == upload_access::busy)
            return error_response(423, v, "upload_busy",
                                  "another request is appending to this upload right now; retry when it ends",
                                  true);
        if (access == upload_access::expired) {
            // open() removed it (HEAD only looked): count it once, as it goes.
            if (method != http::verb::head) ctx_.stats.count_upload_event(metrics::upload_event::expired);
            return error_response(404, v, "upload_expired",
                                  "the upload was abandoned for longer than --upload-expiry and removed",
                                  true);
        }
        if (access == upload_access::absent)
            return error_response(404, v, "not_found", "no such upload", true);
        ctx_.log->error("upload {}: {}", id, ec.message());
        return error_response(500, v, "store_error", "cannot read the upload's state", true);
    };
    if (method == http::verb::head) {
        auto [state, access, ec] = co_await on_disk(ctx_, [&] {
            upload_access a{};
            std::error_code e;
            auto s = ctx_.uploads->peek(id, now, a, e);
            return std::tuple{s, a, e};
        });
        if (!state) co_return co_await reply(gone(access, ec));
        auto auth = authorize_for(req, state->equipment);
        if (auth.outcome != auth_outcome::granted) co_return co_await reply(auth_error(auth, v));
        co_return co_await reply(upload_answer(204, v, *state, ""));
    }
    auto [handle, access, ec] = co_await on_disk(ctx_, [&] {
        upload_access a{};
        std::error_code e;
        auto h = ctx_.uploads->open(id, now, a, e);
        return std::tuple{std::move(h), a, e};
    });
    if (!handle) co_return co_await reply(gone(access, ec));
    auto auth = authorize_for(req, handle->state().equipment);
    if (auth.outcome != auth_outcome::granted) co_return co_await reply(auth_error(auth, v));
    if (method == http::verb::delete_) {
        auto rec = co_await on_disk(ctx_, [&] {
            ctx_.uploads->take_progress(id);
            return handle->remove();
        });
        if (rec) co_return co_await reply(gone(upload_access::error, rec));
        ctx_.stats.count_upload_event(metrics::upload_event::cancelled);
        co_return co_await reply(make_response(http::status::no_content, v, "", true));
    }
    if (auto verdict = check_append_state(handle->state(), ar); !verdict.accepted()) {
        nlohmann::json j{{"error", verdict.error}, {"message", verdict.message}};
        if (verdict.status == 409) {
            j["type"] = "https://iana.org/assignments/http-problem-types#mismatching-upload-offset";
            j["expected-offset"] = handle->state().offset;
            j["provided-offset"] = *ar.offset;
        }
        co_return co_await reply(upload_answer(verdict.status, v, handle->state(), j.dump() + "\n"));
    }
    const auto resume_started = std::chrono::steady_clock::now();
    auto rec = co_await on_disk(ctx_, [&] {
        return handle->resume(ctx_.uploads->take_progress(id), member_checker_factory(ctx_.config));
    });
    if (handle->rescanned() > 0)
        ctx_.log->info(
            "upload {}: re-read {} stored bytes to resume its hash and member check ({:.3f} s)", id,
            handle->rescanned(),
            std::chrono::duration<double>(std::chrono::steady_clock::now() - resume_started).count());
    if (rec) co_return co_await reply(gone(upload_access::error, rec));
    // A length announced late (tus-js-client's uploadLengthDeferred): saved with the next checkpoint.
    if (ar.length && !handle->state().length) handle->state().length = ar.length;
    co_return co_await upload_append(parser, *handle, ar, std::nullopt);
}

// Streams this request's body into the (locked, resumed) upload, acknowledges what is fsynced,
// and completes the upload when asked.
template <class Stream>
awaitable<bool> session<Stream>::upload_append(http::request_parser<http::empty_body>& parser,
                                               upload_handle& up, const append_request& ar,
                                               std::optional<std::string> location) {
    auto& req = parser.get();
    const unsigned v = req.version();
    const auto& cfg = ctx_.config;
    const auto started = std::chrono::steady_clock::now();
    auto answer = [&](response res, bool consumed) -> awaitable<bool> {
        if (location) res.set(http::field::location, *location);
        ctx_.log->info("{}: {} upload {} at {} → {}", peer_, std::string_view(req.method_string()), up.id(),
                       up.state().offset, res.result_int());
        co_return co_await finish(req, std::move(res), consumed);
    };
    auto [free, space_ec] = co_await on_disk(ctx_, [&] {
        auto fb = ctx_.store.free_bytes();
        return std::pair{
            fb, check_space(ar.body, fb, cfg.min_free).accepted() ? up.reserve(ar.body) : std::error_code{}};
    });
    auto space = check_space(ar.body, free, cfg.min_free);
    if (space.accepted() && space_ec)
        space = {507, "insufficient_storage", "the store cannot hold this part"};
    if (!space.accepted()) {
        nlohmann::json j{{"error", space.error}, {"message", space.message}};
        co_return co_await answer(upload_answer(space.status, v, up.state(), j.dump() + "\n"), ar.body == 0);
    }
    if (ar.body > 0 && beast::iequals(req[http::field::expect], "100-continue")) {
        http::response<http::empty_body> cont{http::status::continue_, v};
        lowest().expires_after(write_timeout);
        auto [ec, n] = co_await http::async_write(stream_, cont, use_tuple);
        if (ec) co_return false;
    }
    ctx_.stats.upload_started();
    struct in_flight_guard {
        metrics& m;
        ~in_flight_guard() { m.upload_finished(); }
    } in_flight{ctx_.stats};

    std::vector<std::byte> cur(chunk_size), next(chunk_size);
    auto want_of = [](std::uint64_t rem) {
        return static_cast<std::size_t>(std::min<std::uint64_t>(rem, chunk_size));
    };
    std::uint64_t remaining = ar.body;
    std::size_t have = std::min<std::size_t>(buffer_.size(), want_of(remaining));
    asio::buffer_copy(asio::buffer(cur.data(), have), buffer_.data());
    buffer_.consume(have);
    body_rate_floor floor(cfg.min_body_rate, cfg.body_timeout, body_rate_floor::clock::now());
    beast::error_code read_ec;
    std::error_code disk_ec;
    std::size_t cur_n = have;
    if (remaining > 0) std::tie(read_ec, cur_n) = co_await read_chunk(cur, have, want_of(remaining), floor);
    std::uint64_t since_checkpoint = 0;
    while (remaining > 0 && cur_n > 0 && !disk_ec) {
        remaining -= cur_n;
        ctx_.stats.add_bytes_received(cur_n);
        const std::size_t n = cur_n;
        cur_n = 0;
        if (remaining == 0 || read_ec) {
            disk_ec = co_await store_chunk(up, up.checker(), cur, n);
        } else {
            auto [dec, rd] = co_await (store_chunk(up, up.checker(), cur, n) &&
                                       read_chunk(next, 0, want_of(remaining), floor));
            disk_ec = dec;
            std::tie(read_ec, cur_n) = rd;
            std::swap(cur, next);
        }
        if (disk_ec) break;
        up.fed(n);
        if ((since_checkpoint += n) >= checkpoint_every || read_ec) {
            since_checkpoint = 0;
            disk_ec = co_await on_disk(ctx_, [&] { return up.checkpoint(unix_now()); });
        }
        if (read_ec) break;
    }
    if (!disk_ec) disk_ec = co_await on_disk(ctx_, [&] { return up.checkpoint(unix_now()); });
    // Kept for the next part unless this one completes. A failed write leaves the hash ahead of
    // the data: then nothing is kept (the next part re-scans).
    if (!ar.complete || read_ec || disk_ec)
        ctx_.uploads->keep_progress(up.id(), disk_ec ? nullptr : up.release_progress());
    if (read_ec) {
        ctx_.log->info("{}: upload {}: body ended after {} of {} bytes: {}; offset {} acknowledged", peer_,
                       up.id(), ar.body - remaining, ar.body, read_ec.message(), up.state().offset);
        ctx_.stats.count_request(std::string(req.method_string()), 499);
        co_return false;
    }
    if (disk_ec) {
        bool full = disk_ec == std::errc::no_space_on_device || disk_ec.value() == EDQUOT;
        ctx_.log->warn("{}: upload {}: writing: {}", peer_, up.id(), disk_ec.message());
        nlohmann::json j{
            {"error", full ? "insufficient_storage" : "store_error"},
            {"message", full ? "the store ran out of space; resume from Upload-Offset when it has room"
                             : "cannot write the upload to the store"}};
        co_return co_await answer(upload_answer(full ? 507 : 500, v, up.state(), j.dump() + "\n"),
                                  remaining == 0);
    }
    if (!ar.complete)
        co_return co_await answer(upload_answer(location ? 201 : 204, v, up.state(), location ? "{}\n" : ""),
                                  true);

    stored_run meta;
    meta.code_commit = up.state().code_commit;
    meta.client = up.state().client;
    const std::string claimed = ar.sha256.empty() ? up.state().sha256 : ar.sha256;
    auto result = co_await on_disk(ctx_, [&] { return up.complete(ctx_.store, meta, claimed, unix_now()); });
    if (result.status != 500) ctx_.stats.count_upload_event(metrics::upload_event::completed);
    ctx_.stats.observe_upload(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    ctx_.log->info("{}: upload {} of {}/{} completed at {} bytes → {}{}", peer_, up.id(),
                   up.state().equipment, up.state().run, up.state().offset, result.status,
                   result.error.empty() ? "" : " " + result.message);
    std::string body =
        result.error.empty() ? sidecar_json(result.stored) : error_json(result.error, result.message);
    co_return co_await answer(upload_answer(result.status, v, up.state(), std::move(body)), true);
}

}  // namespace labsync::receiver
