// Opening, replay and every write of the job store. Each write is one BEGIN IMMEDIATE transaction
// that re-reads the job, decides, updates it and appends its event: the lock is taken before the
// read, so no other connection can change the state between the check and the write.

#include "labsync/queue/job_store.hpp"

#include "labsync/common/ids.hpp"

#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Transaction.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "labsync/queue/state_machine.hpp"
#include "store_impl.hpp"

namespace labsync::queue {
namespace {

using detail::from_ms;
using detail::to_ms;

std::optional<job> load(SQLite::Database& db, std::int64_t id) {
    SQLite::Statement q(db, std::string("SELECT ") + detail::job_columns + " FROM jobs WHERE id = ?");
    q.bind(1, static_cast<int64_t>(id));
    if (!q.executeStep()) return std::nullopt;
    return detail::read_job(q);
}

void write_job(SQLite::Database& db, const job& j) {
    SQLite::Statement q(
        db,
        "UPDATE jobs SET state = ?, attempts = ?, next_attempt_at = ?, last_error_kind = ?, "
        "last_error = ?, bytes = ?, manifest_digest = ?, archive_sha256 = ?, updated_at = ?, "
        "started_at = ?, finished_at = ?, tree_digest = ?, fingerprint_digest = ? WHERE id = ?");
    q.bind(1, std::string(to_string(j.state)));
    q.bind(2, j.attempts);
    detail::bind_opt(q, 3, j.next_attempt_at);
    detail::bind_opt(q, 4, j.last_error_kind);
    detail::bind_opt(q, 5, j.last_error);
    detail::bind_opt(q, 6, j.bytes);
    detail::bind_opt(q, 7, j.manifest_digest);
    detail::bind_opt(q, 8, j.archive_sha256);
    q.bind(9, static_cast<int64_t>(to_ms(j.updated_at)));
    detail::bind_opt(q, 10, j.started_at);
    detail::bind_opt(q, 11, j.finished_at);
    detail::bind_opt(q, 12, j.tree_digest);
    detail::bind_opt(q, 13, j.fingerprint_digest);
    q.bind(14, static_cast<int64_t>(j.id));
    q.exec();
}

void insert_event(SQLite::Database& db, std::int64_t job_id, time_point at, std::optional<job_state> from,
                  job_state to, event_kind kind, const std::string& message) {
    SQLite::Statement q(db,
                        "INSERT INTO events (job_id, at, from_state, to_state, kind, message) "
                        "VALUES (?, ?, ?, ?, ?, ?)");
    q.bind(1, static_cast<int64_t>(job_id));
    q.bind(2, static_cast<int64_t>(to_ms(at)));
    if (from) {
        q.bind(3, std::string(to_string(*from)));
    } else {
        q.bind(3);
    }
    q.bind(4, std::string(to_string(to)));
    q.bind(5, std::string(to_string(kind)));
    q.bind(6, message);
    q.exec();
}

// Entering a state stamps the timings the engine reports (see job_store.hpp).
void stamp_timings(job& j, job_state to, time_point now) {
    if (to == job_state::running) j.started_at = now;
    if (to == job_state::verified || to == job_state::failed) j.finished_at = now;
    if (to == job_state::queued || to == job_state::running) j.finished_at.reset();
    j.state = to;
    j.updated_at = now;
}

std::string describe(const job& j) {
    return "job " + std::to_string(j.id) + " (" + j.equipment + "/" + j.run_id + ")";
}

store_error not_found(std::int64_t id) {
    return make_store_error(errc::job_not_found, "no job " + std::to_string(id), id);
}

void fsync_directory(const std::filesystem::path& dir) {
    int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;  // best effort: the store itself is already durable
    ::fsync(fd);
    ::close(fd);
}

// Only one process may own (replay and drive) a store: a second daemon replaying would requeue
// the first one's running jobs under its feet. The lock is a separate file so SQLite's own
// POSIX locks on the database are untouched; the kernel drops it when the owner dies.
store_error take_owner_lock(job_store::impl& p) {
    const auto lock_path = p.path.string() + ".lock";
    int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        return make_store_error(errc::cannot_open, "job store " + p.path.string() + ": cannot open " +
                                                       lock_path + ": " + std::strerror(errno));
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        ::close(fd);
        if (err == EWOULDBLOCK) {
            return make_store_error(errc::store_in_use,
                                    "job store " + p.path.string() + " is owned by another process (lock " +
                                        lock_path + "); stop it or open without replay to inspect");
        }
        return make_store_error(errc::cannot_open, "job store " + p.path.string() + ": flock " + lock_path +
                                                       ": " + std::strerror(err));
    }
    p.owner_lock_fd = fd;
    return {};
}

void replay(job_store::impl& p) {
    SQLite::Transaction tx(*p.db, SQLite::TransactionBehavior::IMMEDIATE);
    const auto now = p.now();
    std::vector<job> running;
    {
        SQLite::Statement q(*p.db, std::string("SELECT ") + detail::job_columns +
                                       " FROM jobs WHERE state IN ('running', 'awaiting_verify', "
                                       "'cleanup_eligible') ORDER BY id");
        while (q.executeStep()) {
            auto j = detail::read_job(q);
            if (j.state == job_state::running) running.push_back(j);
            if (j.state == job_state::awaiting_verify) p.replay.to_reverify.push_back(j.id);
            if (j.state == job_state::cleanup_eligible) p.replay.cleanup_pending.push_back(j.id);
        }
    }
    for (auto& j : running) {
        stamp_timings(j, job_state::queued, now);
        j.next_attempt_at.reset();  // the interrupted attempt resumes at once
        write_job(*p.db, j);
        insert_event(*p.db, j.id, now, job_state::running, job_state::queued, event_kind::replay,
                     "replayed after restart");
        p.replay.requeued.push_back(j.id);
    }
    tx.commit();
}

}  // namespace

job_store::impl::~impl() {
    db.reset();  // close SQLite (and checkpoint) before giving up ownership
    if (owner_lock_fd >= 0) ::close(owner_lock_fd);
}

job_store::job_store(std::unique_ptr<impl> p) noexcept : impl_(std::move(p)) {}
job_store::job_store(job_store&&) noexcept = default;
job_store& job_store::operator=(job_store&&) noexcept = default;
job_store::~job_store() = default;

const std::filesystem::path& job_store::path() const noexcept {
    return impl_->path;
}
const replay_report& job_store::replayed() const noexcept {
    return impl_->replay;
}
int job_store::current_schema_version() noexcept {
    return detail::schema_version();
}
time_point job_store::now() const {
    return impl_->now();
}
std::uint64_t job_store::commit_count() const noexcept {
    return impl_->commits.load(std::memory_order_relaxed);
}

result<job_store> job_store::open(const std::filesystem::path& path, store_options options) {
    auto p = std::make_unique<impl>();
    p->path = path;
    p->clock = std::move(options.clock);
    const auto parent = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
    std::error_code ec;
    if (!std::filesystem::is_directory(parent, ec)) {
        return make_store_error(errc::cannot_open, "job store " + path.string() + ": directory " +
                                                       parent.string() + " does not exist");
    }
    if (auto err = detail::check_file_header(path)) return err;
    const bool existed = std::filesystem::exists(path, ec) && std::filesystem::file_size(path, ec) > 0;
    try {
        if (existed) {
            // Identify the file on a read-only connection: closing it cannot checkpoint or
            // otherwise write to a file that turns out not to be ours.
            SQLite::Database probe(path.string(), SQLite::OPEN_READONLY);
            probe.setBusyTimeout(static_cast<int>(options.busy_timeout.count()));
            auto identity = detail::check_identity(probe, path);
            if (!identity) return identity.error();
            p->replay.from_schema_version = *identity;
        }
        if (options.replay) {
            if (auto err = take_owner_lock(*p)) return err;
        }
        p->db =
            std::make_unique<SQLite::Database>(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        p->db->setBusyTimeout(static_cast<int>(options.busy_timeout.count()));
        if (!existed) {
            // Created (or found empty) just now; check again in case another process raced us.
            auto identity = detail::check_identity(*p->db, path);
            if (!identity) return identity.error();
            p->replay.from_schema_version = *identity;
        }
        auto mode = p->db->execAndGet("PRAGMA journal_mode = WAL").getString();
        if (mode != "wal") {
            return make_store_error(
                errc::cannot_open,
                "job store " + path.string() + ": cannot switch to WAL journal (got '" + mode + "')");
        }
        p->db->exec("PRAGMA synchronous = FULL");
        ::sqlite3_commit_hook(
            p->db->getHandle(),
            [](void* counter) {
                static_cast<std::atomic<std::uint64_t>*>(counter)->fetch_add(1, std::memory_order_relaxed);
                return 0;  // 0: let the commit proceed
            },
            &p->commits);
        p->db->exec("PRAGMA foreign_keys = ON");
        detail::migrate(*p->db);
        if (!existed) fsync_directory(parent);
        p->replay.schema_version = detail::schema_version();
        if (options.replay) replay(*p);
    } catch (const detail::bad_row& e) {
        return make_store_error(errc::corrupt_database,
                                "job store " + path.string() + ": replay: " + e.what());
    } catch (const std::exception& e) {
        return detail::from_sqlite(e, path, "open");
    }
    return job_store(std::move(p));
}

result<job> job_store::create_job(const std::string& equipment, const std::string& run_id,
                                  const std::string& run_path, job_state initial, const std::string& message,
                                  const std::optional<error_info>& error) {
    if (auto why = common::ids_refusal_reason(equipment, run_id); !why.empty())
        return make_store_error(errc::invalid_argument, std::move(why));
    if (run_path.empty())
        return make_store_error(errc::invalid_argument, "run path of " + run_id + " is empty");
    if (initial != job_state::queued && initial != job_state::blocked_by_validation) {
        return make_store_error(errc::invalid_argument, "a job starts queued or blocked_by_validation, not " +
                                                            std::string(to_string(initial)));
    }
    return detail::guarded(*impl_, "create job " + equipment + "/" + run_id, [&]() -> result<job> {
        auto& db = *impl_->db;
        SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
        {
            SQLite::Statement q(
                db, "SELECT id, state FROM jobs WHERE equipment = ? AND run_id = ? AND state != 'cleaned'");
            q.bind(1, equipment);
            q.bind(2, run_id);
            if (q.executeStep()) {
                auto id = q.getColumn(0).getInt64();
                return make_store_error(errc::duplicate_live_job,
                                        equipment + "/" + run_id + " already has live job " +
                                            std::to_string(id) + " (" + q.getColumn(1).getString() + ")",
                                        id);
            }
        }
        const auto now = impl_->now();
        SQLite::Statement ins(db,
                              "INSERT INTO jobs (equipment, run_id, run_path, state, attempts, created_at, "
                              "updated_at, last_error_kind, last_error) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?)");
        ins.bind(1, equipment);
        ins.bind(2, run_id);
        ins.bind(3, run_path);
        ins.bind(4, std::string(to_string(initial)));
        ins.bind(5, static_cast<int64_t>(to_ms(now)));
        ins.bind(6, static_cast<int64_t>(to_ms(now)));
        if (error) {
            ins.bind(7, error->kind);
            ins.bind(8, error->text);
        }
        ins.exec();
        const auto id = db.getLastInsertRowid();
        insert_event(db, id, now, std::nullopt, initial, event_kind::created, message);
        auto created = load(db, id);
        tx.commit();
        return *created;
    });
}

store_error detail::apply_transition(job_store::impl& p, std::int64_t job_id, job_state to,
                                     const transition_details& details) {
    {
        auto& db = *p.db;
        auto current = load(db, job_id);
        if (!current) return not_found(job_id);
        if (current->state == job_state::blocked_by_validation || current->state == job_state::failed) {
            // Leaving these is an operator decision that must be recorded with who (and why).
            return make_store_error(errc::illegal_transition,
                                    describe(*current) + " is " + std::string(to_string(current->state)) +
                                        ": leaving it is an operator action (record_override / retry)",
                                    job_id);
        }
        if (!state_machine::allowed(current->state, to)) {
            return make_store_error(
                errc::illegal_transition,
                describe(*current) + ": " + state_machine::describe_refusal(current->state, to), job_id);
        }
        job next = *current;
        stamp_timings(next, to, p.now());
        next.next_attempt_at = details.next_attempt_at;
        if (details.attempts == attempts_update::increment) ++next.attempts;
        if (details.attempts == attempts_update::reset) next.attempts = 0;
        if (details.error) {
            next.last_error_kind = details.error->kind;
            next.last_error = details.error->text;
        } else if (details.clear_error) {
            next.last_error_kind.reset();
            next.last_error.reset();
        }
        if (details.bytes) next.bytes = details.bytes;
        if (details.manifest_digest) next.manifest_digest = details.manifest_digest;
        if (details.archive_sha256) next.archive_sha256 = details.archive_sha256;
        if (details.tree_digest) next.tree_digest = details.tree_digest;
        if (details.fingerprint_digest) next.fingerprint_digest = details.fingerprint_digest;
        write_job(db, next);
        insert_event(db, job_id, next.updated_at, current->state, to, event_kind::transition,
                     details.message);
        return {};
    }
}

store_error job_store::transition(std::int64_t job_id, job_state to, const transition_details& details) {
    return detail::guarded(*impl_, "transition of job " + std::to_string(job_id), [&]() -> store_error {
        SQLite::Transaction tx(*impl_->db, SQLite::TransactionBehavior::IMMEDIATE);
        auto err = detail::apply_transition(*impl_, job_id, to, details);
        if (!err) tx.commit();
        return err;
    });
}

store_error job_store::record_override(std::int64_t job_id, const std::string& who, const std::string& why) {
    if (who.empty() || why.empty()) {
        return make_store_error(errc::invalid_argument, "an override of job " + std::to_string(job_id) +
                                                            " needs who and why (both non-empty)");
    }
    return detail::guarded(*impl_, "override of job " + std::to_string(job_id), [&]() -> store_error {
        auto& db = *impl_->db;
        SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
        auto current = load(db, job_id);
        if (!current) return not_found(job_id);
        if (current->state != job_state::blocked_by_validation) {
            return make_store_error(errc::illegal_transition,
                                    describe(*current) + " is " + std::string(to_string(current->state)) +
                                        ", not blocked_by_validation: nothing to override",
                                    job_id);
        }
        job next = *current;
        stamp_timings(next, job_state::queued, impl_->now());
        next.next_attempt_at.reset();
        next.last_error_kind.reset();
        next.last_error.reset();
        SQLite::Statement ins(db, "INSERT INTO overrides (job_id, who, why, at) VALUES (?, ?, ?, ?)");
        ins.bind(1, static_cast<int64_t>(job_id));
        ins.bind(2, who);
        ins.bind(3, why);
        ins.bind(4, static_cast<int64_t>(to_ms(next.updated_at)));
        ins.exec();
        write_job(db, next);
        insert_event(db, job_id, next.updated_at, current->state, job_state::queued, event_kind::override,
                     "override by " + who + ": " + why);
        tx.commit();
        return {};
    });
}

store_error job_store::retry(std::int64_t job_id, const std::string& who, const std::string& note) {
    if (who.empty()) {
        return make_store_error(errc::invalid_argument,
                                "a retry of job " + std::to_string(job_id) + " needs who");
    }
    return detail::guarded(*impl_, "retry of job " + std::to_string(job_id), [&]() -> store_error {
        auto& db = *impl_->db;
        SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
        auto current = load(db, job_id);
        if (!current) return not_found(job_id);
        if (current->state != job_state::failed) {
            return make_store_error(errc::illegal_transition,
                                    describe(*current) + " is " + std::string(to_string(current->state)) +
                                        ", not failed: only a failed job can be retried",
                                    job_id);
        }
        job next = *current;
        stamp_timings(next, job_state::queued, impl_->now());
        next.attempts = 0;
        next.next_attempt_at.reset();
        next.last_error_kind.reset();
        next.last_error.reset();
        write_job(db, next);
        // The error is cleared on the job but kept in its history.
        std::string message = "retry by " + who;
        if (!note.empty()) message += " (" + note + ")";
        if (current->last_error_kind) {
            message +=
                " (last error " + *current->last_error_kind + ": " + current->last_error.value_or("") + ")";
        }
        insert_event(db, job_id, next.updated_at, current->state, job_state::queued, event_kind::retry,
                     message);
        tx.commit();
        return {};
    });
}

store_error job_store::cancel(std::int64_t job_id, const std::string& who, const std::string& why) {
    if (who.empty() || why.empty()) {
        return make_store_error(errc::invalid_argument, "a cancel of job " + std::to_string(job_id) +
                                                            " needs who and why (both non-empty)");
    }
    return detail::guarded(*impl_, "cancel of job " + std::to_string(job_id), [&]() -> store_error {
        auto& db = *impl_->db;
        SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
        auto current = load(db, job_id);
        if (!current) return not_found(job_id);
        if (current->state != job_state::queued && current->state != job_state::awaiting_verify) {
            return make_store_error(errc::illegal_transition,
                                    describe(*current) + " is " + std::string(to_string(current->state)) +
                                        ": only a queued or awaiting_verify job can be cancelled",
                                    job_id);
        }
        job next = *current;
        stamp_timings(next, job_state::failed, impl_->now());
        next.next_attempt_at.reset();
        const std::string message = "cancel by " + who + ": " + why;
        next.last_error_kind = std::string(cancelled_error_kind);
        next.last_error = message;
        write_job(db, next);
        insert_event(db, job_id, next.updated_at, current->state, job_state::failed, event_kind::cancel,
                     message);
        tx.commit();
        return {};
    });
}

}  // namespace labsync::queue
