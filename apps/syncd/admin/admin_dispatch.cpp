// See admin_dispatch.hpp.
#include "admin/admin_dispatch.hpp"

#include "admin/admin_show.hpp"

#include <set>

#include <fmt/format.h>

namespace labsync::apps {
namespace {

using nlohmann::json;

std::string error_code_name(const engine::engine_error& e) {
    if (e.code == engine::errc::no_job) return "no_job";
    if (e.code == engine::errc::wrong_state) return "wrong_state";
    if (e.code == engine::errc::unknown_equipment) return "unknown_equipment";
    if (e.code == engine::errc::invalid_run_path) return "invalid_run_path";
    if (e.code == engine::errc::closed || e.code == engine::errc::not_open) return "unavailable";
    return "failed";
}

admin_response from_engine_error(const engine::engine_error& e) {
    return admin_error(error_code_name(e), e.message);
}

// The run path of the live (or latest) job a reference names.
std::optional<queue::job> resolve(engine::engine& eng, const std::string& text, admin_response& error) {
    std::string why;
    auto ref = parse_run_reference(text, why);
    if (!ref) {
        error = admin_error("bad_request", why);
        return std::nullopt;
    }
    if (auto* p = std::get_if<run_by_path>(&*ref)) {
        if (auto j = eng.status(p->path)) return j;
        error = admin_error("no_job", fmt::format("no job for {}", p->path));
        return std::nullopt;
    }
    if (auto* j = std::get_if<run_by_job>(&*ref)) {
        auto found = eng.find_job(j->job_id);
        if (!found.error) return found.value;
        error = found.error.code == engine::errc::no_job
                    ? admin_error("no_job", fmt::format("no job #{}", j->job_id))
                    : from_engine_error(found.error);
        return std::nullopt;
    }
    const auto& id = std::get<run_by_id>(*ref);
    queue::job_filter filter;
    filter.run_id = id.run_id;
    if (!id.equipment.empty()) filter.equipment = id.equipment;
    filter.newest_first = true;
    auto found = eng.find_jobs(filter);
    if (found.error) {
        error = from_engine_error(found.error);
        return std::nullopt;
    }
    const auto& jobs = found.value;
    std::vector<queue::job> live;
    for (const auto& j : jobs)
        if (queue::is_live(j.state)) live.push_back(j);
    if (live.empty() && !jobs.empty()) live.push_back(jobs.front());  // latest cleaned one
    std::set<std::string> equipment;
    for (const auto& j : live) equipment.insert(j.equipment);
    if (live.empty()) {
        error = admin_error("no_job", fmt::format("no job for run {}", text));
        return std::nullopt;
    }
    if (equipment.size() > 1) {
        error = admin_error("ambiguous", fmt::format("run {} exists for {} equipment; write EQUIPMENT/{}",
                                                     id.run_id, equipment.size(), id.run_id));
        return std::nullopt;
    }
    return live.front();
}

// The client's own name for itself, kept beside the kernel's when they differ.
std::string who_note(const admin_request& request, const std::string& peer_user) {
    if (request.who.empty() || request.who == peer_user) return {};
    return fmt::format("client-supplied name: {}", request.who);
}

std::string with_note(const std::string& text, const std::string& note) {
    return note.empty() ? text : fmt::format("{} ({})", text, note);
}

admin_response job_answer(engine::engine& eng, const std::filesystem::path& path) {
    admin_response r;
    if (auto j = eng.status(path)) r.data["job"] = job_json(*j);
    return r;
}

}  // namespace

admin_response dispatch_admin(const admin_request& request, const admin_context& context) {
    if (!context.engine) return admin_error("unavailable", "syncd is reloading its configuration; try again");
    engine::engine& eng = *context.engine;
    switch (request.op) {
        case admin_op::status: {
            auto counts = eng.counts();
            if (counts.error) return from_engine_error(counts.error);
            std::vector<queue::job> current;
            for (auto state : {queue::job_state::running, queue::job_state::awaiting_verify}) {
                auto jobs = eng.jobs_in_state(state);
                current.insert(current.end(), jobs.value.begin(), jobs.value.end());
            }
            admin_response r;
            r.data = status_json(
                context.daemon, context.equipment, counts.value, current,
                context.progress ? context.progress->snapshot() : std::map<std::int64_t, job_progress>{});
            const auto now = std::chrono::system_clock::now();
            add_waiting_runs(r.data, eng.waiting_runs(), eng.runs_without_marker(), now);
            add_retrying_jobs(r.data, eng.jobs_in_state(queue::job_state::queued).value,
                              eng.config().backoff.max_attempts, now);
            return r;
        }
        case admin_op::list: {
            queue::job_filter filter;
            filter.state = request.state;
            if (!request.equipment.empty()) filter.equipment = request.equipment;
            filter.limit = request.since_ms ? 0 : request.limit;  // with since: limit after filtering
            admin_response r;
            json jobs = json::array();
            for (const auto& j : eng.list(filter)) {
                const auto updated =
                    std::chrono::duration_cast<std::chrono::milliseconds>(j.updated_at.time_since_epoch());
                if (request.since_ms && updated.count() < *request.since_ms) continue;
                if (request.limit > 0 && jobs.size() >= request.limit) break;
                jobs.push_back(job_json(j));
            }
            r.data["jobs"] = std::move(jobs);
            return r;
        }
        case admin_op::enqueue: {
            auto result = eng.enqueue(request.path);
            if (result.error) return from_engine_error(result.error);
            admin_response r;
            r.data = {{"job_id", result.job_id},
                      {"state", queue::to_string(result.state)},
                      {"already_known", result.already_known},
                      {"findings", findings_json(result.findings)}};
            return r;
        }
        case admin_op::show: {
            admin_response error;
            auto job = resolve(eng, request.run, error);
            return job ? show_job(eng, *job) : error;
        }
        case admin_op::retry:
        case admin_op::override_block:
        case admin_op::verify:
        case admin_op::cancel: {
            if (context.peer_user.empty()) return admin_error("internal", "the connecting user is unknown");
            admin_response error;
            auto job = resolve(eng, request.run, error);
            if (!job) return error;
            std::filesystem::path path = job->run_path;
            const std::string& who = context.peer_user;
            const std::string note = who_note(request, who);
            engine::engine_error e;
            if (request.op == admin_op::retry)
                e = eng.retry(path, who, note);
            else if (request.op == admin_op::override_block)
                e = eng.override_block(path, who, with_note(request.why, note));
            else if (request.op == admin_op::cancel)
                e = eng.cancel_job(job->id, who, with_note(request.why, note));
            else
                e = eng.force_verify(path);
            if (e) return from_engine_error(e);
            if (request.op == admin_op::cancel) {
                // By id: the job's equipment may no longer be configured (eng.status needs it).
                admin_response r;
                if (auto j = eng.find_job(job->id); !j.error) r.data["job"] = job_json(j.value);
                return r;
            }
            return job_answer(eng, path);
        }
    }
    return admin_error("bad_request", "unknown op");
}

}  // namespace labsync::apps
