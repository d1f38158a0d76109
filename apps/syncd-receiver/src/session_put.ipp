// The PUT path of session<Stream> (included by session.cpp; kept apart for size).
//
// Order: headers decide (pure, decide_put) → on the disk pool: free space, an existing copy,
// temp file + space reservation → 100 Continue (only now) → body streamed in 1 MiB chunks,
// reading chunk k+1 while the pool hashes/writes chunk k → sha and member check → publish.

namespace labsync::receiver {
namespace {

template <class Stream>
awaitable<bool> session<Stream>::put(http::request_parser<http::empty_body>& parser) {
    auto& req = parser.get();
    const unsigned v = req.version();
    const auto started = std::chrono::steady_clock::now();
    route r = parse_route(req.target());
    const auto& cfg = ctx_.config;

    put_facts facts;
    facts.ids_valid = r.ids_valid;
    facts.id_error = r.id_error;
    auth_decision auth{auth_outcome::missing, {}};
    if (r.ids_valid) {
        auth = authorize_for(req, r.equipment);
        facts.auth = auth.outcome;
    }
    facts.chunked = parser.chunked();
    if (auto cl = parser.content_length()) facts.content_length = *cl;
    facts.sha_header_count = req.count("X-Content-SHA256");
    std::string claimed(facts.sha_header_count == 1 ? std::string_view(req["X-Content-SHA256"])
                                                    : std::string_view{});
    facts.sha256 = claimed;
    auto commit_header = header(req, "X-Code-Commit");
    std::string commit(commit_header.value_or(""));
    if (commit_header) facts.commit = commit;
    facts.max_body = cfg.max_body;
    facts.reserve_bytes = cfg.min_free;
    const commit_allowlist* allowed = cfg.allowed_commits ? &*cfg.allowed_commits : nullptr;
    const bool body_pending = facts.chunked || facts.content_length.value_or(0) > 0;
    const bool expects_continue = beast::iequals(req[http::field::expect], "100-continue");

    auto refuse = [&](const put_verdict& verdict) -> awaitable<bool> {
        auto res = error_response(verdict.status, v, verdict.error, verdict.message, false);
        if (verdict.status == 401) res.set(http::field::www_authenticate, "Bearer");
        ctx_.log->info("{}: PUT {} → {} {}", peer_, std::string_view(req.target()), verdict.status,
                       verdict.error);
        co_return co_await finish(req, std::move(res), !body_pending);
    };

    // With 100-continue a run already stored is answered without its body, whatever its size
    // (a sender re-shipping a run over --max-body after a crash): size and space come after.
    facts.size_pending = expects_continue;
    if (auto verdict = decide_put(facts, allowed); !verdict.accepted()) co_return co_await refuse(verdict);

    // Blocking store calls, off the I/O thread.
    struct prepared {
        std::optional<std::uint64_t> free;
        std::optional<stored_run> existing;
        std::unique_ptr<upload_file> file;
        std::error_code ec;
    };
    const std::uint64_t length = *facts.content_length;
    auto prep = co_await on_disk(ctx_, [&] {
        prepared p;
        p.free = ctx_.store.free_bytes();
        if (expects_continue) p.existing = ctx_.store.lookup(r.equipment, r.run, p.ec);
        p.ec.clear();
        return p;
    });
    facts.free_bytes = prep.free;
    bool same = prep.existing && prep.existing->sha256 == claimed;
    if (same) {
        // The record says "same": prove it on the stored bytes before answering without the body.
        // Bytes damaged on disk (or gone meanwhile) take the body instead: publish replaces them.
        auto [report, vec] = co_await rehash(r);
        if (!vec && report.outcome == verify_outcome::match) {
            prep.existing = report.recorded;
        } else {
            if (report.outcome == verify_outcome::mismatch)
                ctx_.log->warn(
                    "{}: PUT {}/{}: the stored bytes hash to {}, not the recorded {}: taking the "
                    "body to replace them",
                    peer_, r.equipment, r.run, report.actual_sha256, report.recorded.sha256);
            prep.existing.reset();
        }
    }
    if (prep.existing) {
        // The client waits for 100 Continue: answer from the stored copy without the body.
        auto res = same ? make_response(http::status::ok, v, sidecar_json(*prep.existing), false)
                        : error_response(409, v, "conflict",
                                         "run already stored with sha256 " + prep.existing->sha256 + " (" +
                                             std::to_string(prep.existing->bytes) + " bytes)",
                                         false);
        ctx_.log->info("{}: PUT {}/{} → {} (already stored)", peer_, r.equipment, r.run, res.result_int());
        co_return co_await finish(req, std::move(res), !body_pending);
    }
    facts.size_pending = false;
    if (auto verdict = decide_put(facts, allowed); !verdict.accepted()) co_return co_await refuse(verdict);
    // The checker starts (and, in discard, joins) its own thread: both on the pool too.
    std::unique_ptr<body_checker> checker;
    auto [file, open_ec] = co_await on_disk(ctx_, [&] {
        if (cfg.member_check) checker = make_archive_member_checker(cfg.check_threads, cfg.check_budget);
        std::error_code e;
        auto f = ctx_.store.begin_upload(e);
        if (f && !e) e = f->reserve(length);
        return std::pair{std::move(f), e};
    });
    // The temp file is released on the pool too: freeing a large unlinked file takes time.
    auto discard = [&]() -> awaitable<void> {
        co_await on_disk(ctx_, [&] {
            checker.reset();
            file.reset();
            return 0;
        });
    };
    if (open_ec) {
        co_await discard();
        bool full = open_ec == std::errc::no_space_on_device || open_ec.value() == EDQUOT;
        ctx_.log->warn("{}: PUT {}/{}: temp file: {}", peer_, r.equipment, r.run, open_ec.message());
        if (full)
            co_return co_await refuse({507, "insufficient_storage",
                                       "the store cannot hold " + std::to_string(length) + " more bytes"});
        co_return co_await refuse({500, "store_error", "cannot create a temporary file in the store"});
    }

    if (expects_continue) {
        http::response<http::empty_body> cont{http::status::continue_, v};
        lowest().expires_after(write_timeout);
        auto [ec, n] = co_await http::async_write(stream_, cont, use_tuple);
        if (ec) {
            co_await discard();
            co_return false;
        }
    }

    ctx_.stats.upload_started();
    struct in_flight_guard {
        metrics& m;
        ~in_flight_guard() { m.upload_finished(); }
    } in_flight{ctx_.stats};

    // Body bytes that arrived with the header come first.
    std::vector<std::byte> cur(chunk_size), next(chunk_size);
    std::uint64_t remaining = length;
    std::size_t have = std::min<std::size_t>(
        buffer_.size(), static_cast<std::size_t>(std::min<std::uint64_t>(remaining, chunk_size)));
    asio::buffer_copy(asio::buffer(cur.data(), have), buffer_.data());
    buffer_.consume(have);
    auto want_of = [](std::uint64_t rem) {
        return static_cast<std::size_t>(std::min<std::uint64_t>(rem, chunk_size));
    };
    body_rate_floor floor(ctx_.config.min_body_rate, ctx_.config.body_timeout, body_rate_floor::clock::now());
    auto [rec, got] = co_await read_chunk(cur, have, want_of(remaining), floor);
    beast::error_code read_ec = rec;
    std::error_code disk_ec;
    std::size_t cur_n = got;
    while (!read_ec && !disk_ec) {
        remaining -= cur_n;
        ctx_.stats.add_bytes_received(cur_n);
        if (remaining == 0) {
            disk_ec = co_await store_chunk(*file, checker.get(), cur, cur_n);
            break;
        }
        auto [dec, rd] = co_await (store_chunk(*file, checker.get(), cur, cur_n) &&
                                   read_chunk(next, 0, want_of(remaining), floor));
        disk_ec = dec;
        read_ec = rd.first;
        cur_n = rd.second;
        std::swap(cur, next);
    }
    if (read_ec) {
        ctx_.log->info("{}: PUT {}/{}: body ended after {} of {} bytes: {}; nothing stored", peer_,
                       r.equipment, r.run, length - remaining, length, read_ec.message());
        co_await discard();
        ctx_.stats.count_request("PUT", 499);
        co_return false;
    }
    if (disk_ec) {
        co_await discard();
        bool full = disk_ec == std::errc::no_space_on_device || disk_ec.value() == EDQUOT;
        ctx_.log->warn("{}: PUT {}/{}: writing: {}", peer_, r.equipment, r.run, disk_ec.message());
        auto res = full ? error_response(507, v, "insufficient_storage",
                                         "the store ran out of space during the upload", true)
                        : error_response(500, v, "store_error", "cannot write the upload to the store", true);
        co_return co_await finish(req, std::move(res), true);
    }

    // Whole body received: check it, then publish.
    stored_run meta;
    meta.code_commit = commit;
    meta.client = auth.principal.empty() ? peer_ : auth.principal + " " + peer_;
    auto result = co_await on_disk(ctx_, [&] {
        std::error_code check_ec = checker ? checker->finish() : std::error_code{};
        std::string failure = check_ec ? checker->failure() : std::string{};
        auto o = publish_checked(ctx_.store, *file, r.equipment, r.run, meta, file->bytes(),
                                 file->finish_hash(), claimed, "X-Content-SHA256", check_ec, failure);
        if (o.repaired)
            ctx_.log->warn("PUT {}/{}: the stored bytes no longer matched sha256 {}; replaced by this upload",
                           r.equipment, r.run, o.stored.sha256);
        return o;
    });
    co_await discard();
    ctx_.stats.observe_upload(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    ctx_.log->info("{}: PUT {}/{} {} bytes → {}{}", peer_, r.equipment, r.run, length, result.status,
                   result.error.empty() ? "" : " " + result.message);
    if (!result.error.empty())
        co_return co_await finish(req, error_response(result.status, v, result.error, result.message, true),
                                  true);
    co_return co_await finish(
        req, make_response(static_cast<http::status>(result.status), v, sidecar_json(result.stored), true),
        true);
}

}  // namespace
}  // namespace labsync::receiver
