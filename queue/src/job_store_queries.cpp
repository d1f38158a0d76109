// The job store's read side and the row mapping. Reads take the same mutex as writes (one
// connection) but no write lock: WAL lets them proceed while another process writes.

#include <SQLiteCpp/Statement.h>

#include "labsync/queue/job_store.hpp"
#include "store_impl.hpp"

namespace labsync::queue {
namespace detail {
namespace {

std::optional<std::string> opt_text(SQLite::Statement& row, int col) {
    auto c = row.getColumn(col);
    if (c.isNull()) return std::nullopt;
    return c.getString();
}

std::optional<std::int64_t> opt_int(SQLite::Statement& row, int col) {
    auto c = row.getColumn(col);
    if (c.isNull()) return std::nullopt;
    return c.getInt64();
}

std::optional<time_point> opt_time(SQLite::Statement& row, int col) {
    auto v = opt_int(row, col);
    if (!v) return std::nullopt;
    return from_ms(*v);
}

event_kind parse_kind(const std::string& text) {
    for (auto k : {event_kind::created, event_kind::transition, event_kind::replay, event_kind::override,
                   event_kind::retry, event_kind::cancel}) {
        if (to_string(k) == text) return k;
    }
    throw bad_row("unknown event kind '" + text + "'");
}

}  // namespace

job_state parse_state(const std::string& text, const char* column) {
    auto s = job_state_from_string(text);
    if (!s) throw bad_row(std::string("unknown job state '") + text + "' in column " + column);
    return *s;
}

job read_job(SQLite::Statement& row) {
    job j;
    j.id = row.getColumn(0).getInt64();
    j.equipment = row.getColumn(1).getString();
    j.run_id = row.getColumn(2).getString();
    j.run_path = row.getColumn(3).getString();
    j.state = parse_state(row.getColumn(4).getString(), "jobs.state");
    j.attempts = row.getColumn(5).getInt();
    j.next_attempt_at = opt_time(row, 6);
    j.last_error_kind = opt_text(row, 7);
    j.last_error = opt_text(row, 8);
    j.bytes = opt_int(row, 9);
    j.manifest_digest = opt_text(row, 10);
    j.archive_sha256 = opt_text(row, 11);
    j.created_at = from_ms(row.getColumn(12).getInt64());
    j.updated_at = from_ms(row.getColumn(13).getInt64());
    j.started_at = opt_time(row, 14);
    j.finished_at = opt_time(row, 15);
    j.tree_digest = opt_text(row, 16);
    j.fingerprint_digest = opt_text(row, 17);
    return j;
}

void bind_opt(SQLite::Statement& q, int index, const std::optional<std::string>& v) {
    if (v) {
        q.bind(index, *v);
    } else {
        q.bind(index);
    }
}

void bind_opt(SQLite::Statement& q, int index, const std::optional<std::int64_t>& v) {
    if (v) {
        q.bind(index, static_cast<int64_t>(*v));
    } else {
        q.bind(index);
    }
}

void bind_opt(SQLite::Statement& q, int index, const std::optional<time_point>& v) {
    if (v) {
        q.bind(index, static_cast<int64_t>(to_ms(*v)));
    } else {
        q.bind(index);
    }
}

}  // namespace detail

namespace {

std::string select_jobs(const std::string& where_and_order) {
    return std::string("SELECT ") + detail::job_columns + " FROM jobs " + where_and_order;
}

std::vector<job> read_all(SQLite::Statement& q) {
    std::vector<job> out;
    while (q.executeStep()) out.push_back(detail::read_job(q));
    return out;
}

}  // namespace

result<job> job_store::find(std::int64_t job_id) {
    return detail::guarded(*impl_, "find job " + std::to_string(job_id), [&]() -> result<job> {
        SQLite::Statement q(*impl_->db, select_jobs("WHERE id = ?"));
        q.bind(1, static_cast<int64_t>(job_id));
        if (!q.executeStep()) {
            return make_store_error(errc::job_not_found, "no job " + std::to_string(job_id), job_id);
        }
        return detail::read_job(q);
    });
}

result<std::optional<job>> job_store::find_live(const std::string& equipment, const std::string& run_id) {
    return detail::guarded(
        *impl_, "find live job " + equipment + "/" + run_id, [&]() -> result<std::optional<job>> {
            SQLite::Statement q(*impl_->db,
                                select_jobs("WHERE equipment = ? AND run_id = ? AND state != 'cleaned'"));
            q.bind(1, equipment);
            q.bind(2, run_id);
            if (!q.executeStep()) return std::optional<job>{};
            return std::optional<job>(detail::read_job(q));
        });
}

result<std::optional<job>> job_store::next_due(const std::string& equipment, time_point now) {
    return detail::guarded(*impl_, "next due job of " + equipment, [&]() -> result<std::optional<job>> {
        // "Oldest first" is creation order (id): a job retried with backoff keeps its place.
        SQLite::Statement q(*impl_->db, select_jobs("WHERE equipment = ? AND state = 'queued' AND "
                                                    "(next_attempt_at IS NULL OR next_attempt_at <= ?) "
                                                    "ORDER BY id LIMIT 1"));
        q.bind(1, equipment);
        q.bind(2, static_cast<int64_t>(detail::to_ms(now)));
        if (!q.executeStep()) return std::optional<job>{};
        return std::optional<job>(detail::read_job(q));
    });
}

result<std::optional<time_point>> job_store::earliest_next_attempt(const std::string& equipment) {
    return detail::guarded(*impl_, "earliest next attempt of " + equipment,
                           [&]() -> result<std::optional<time_point>> {
                               // A NULL next_attempt_at means due now: count it as the epoch.
                               SQLite::Statement q(*impl_->db,
                                                   "SELECT min(coalesce(next_attempt_at, 0)) FROM jobs "
                                                   "WHERE equipment = ? AND state = 'queued'");
                               q.bind(1, equipment);
                               if (!q.executeStep() || q.getColumn(0).isNull()) {
                                   return std::optional<time_point>{};
                               }
                               return std::optional<time_point>(detail::from_ms(q.getColumn(0).getInt64()));
                           });
}

result<state_counts> job_store::counts() {
    return detail::guarded(*impl_, "count jobs", [&]() -> result<state_counts> {
        SQLite::Statement q(*impl_->db,
                            "SELECT equipment, state, count(*) FROM jobs GROUP BY equipment, state");
        state_counts out;
        while (q.executeStep()) {
            out[q.getColumn(0).getString()][detail::parse_state(q.getColumn(1).getString(), "jobs.state")] =
                q.getColumn(2).getInt64();
        }
        return out;
    });
}

result<std::vector<job>> job_store::jobs_in_state(job_state state) {
    job_filter filter;
    filter.state = state;
    return list(filter);
}

result<std::vector<job>> job_store::list(const job_filter& filter) {
    return detail::guarded(*impl_, "list jobs", [&]() -> result<std::vector<job>> {
        std::string where = "WHERE 1 = 1";
        if (filter.equipment) where += " AND equipment = :equipment";
        if (filter.state) where += " AND state = :state";
        if (filter.run_id) where += " AND run_id = :run_id";
        where += filter.newest_first ? " ORDER BY id DESC" : " ORDER BY id";
        if (filter.limit > 0) where += " LIMIT " + std::to_string(filter.limit);
        SQLite::Statement q(*impl_->db, select_jobs(where));
        if (filter.equipment) q.bind(":equipment", *filter.equipment);
        if (filter.state) q.bind(":state", std::string(to_string(*filter.state)));
        if (filter.run_id) q.bind(":run_id", *filter.run_id);
        return read_all(q);
    });
}

result<std::vector<job_event>> job_store::events(std::int64_t job_id) {
    return detail::guarded(
        *impl_, "events of job " + std::to_string(job_id), [&]() -> result<std::vector<job_event>> {
            SQLite::Statement q(*impl_->db,
                                "SELECT id, job_id, at, from_state, to_state, kind, message FROM events "
                                "WHERE job_id = ? ORDER BY id");
            q.bind(1, static_cast<int64_t>(job_id));
            std::vector<job_event> out;
            while (q.executeStep()) {
                job_event e;
                e.id = q.getColumn(0).getInt64();
                e.job_id = q.getColumn(1).getInt64();
                e.at = detail::from_ms(q.getColumn(2).getInt64());
                if (!q.getColumn(3).isNull())
                    e.from_state = detail::parse_state(q.getColumn(3).getString(), "events.from_state");
                e.to_state = detail::parse_state(q.getColumn(4).getString(), "events.to_state");
                e.kind = detail::parse_kind(q.getColumn(5).getString());
                e.message = q.getColumn(6).getString();
                out.push_back(std::move(e));
            }
            return out;
        });
}

result<std::vector<job_override>> job_store::overrides(std::int64_t job_id) {
    return detail::guarded(
        *impl_, "overrides of job " + std::to_string(job_id), [&]() -> result<std::vector<job_override>> {
            SQLite::Statement q(*impl_->db,
                                "SELECT id, job_id, who, why, at FROM overrides "
                                "WHERE job_id = ? ORDER BY id");
            q.bind(1, static_cast<int64_t>(job_id));
            std::vector<job_override> out;
            while (q.executeStep()) {
                out.push_back(job_override{q.getColumn(0).getInt64(), q.getColumn(1).getInt64(),
                                           q.getColumn(2).getString(), q.getColumn(3).getString(),
                                           detail::from_ms(q.getColumn(4).getInt64())});
            }
            return out;
        });
}

result<std::vector<std::string>> job_store::equipment_names() {
    return detail::guarded(*impl_, "list equipment", [&]() -> result<std::vector<std::string>> {
        SQLite::Statement q(*impl_->db, "SELECT DISTINCT equipment FROM jobs ORDER BY equipment");
        std::vector<std::string> out;
        while (q.executeStep()) out.push_back(q.getColumn(0).getString());
        return out;
    });
}

}  // namespace labsync::queue
