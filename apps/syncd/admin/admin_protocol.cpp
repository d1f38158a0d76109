// Admin socket codec; see admin_protocol.hpp.
#include "admin/admin_protocol.hpp"

#include "labsync/common/ids.hpp"

#include <fmt/format.h>

#include <chrono>

namespace labsync::apps {
namespace {

using nlohmann::json;

std::optional<std::string> string_field(const json& j, const char* name, bool required, std::string& why) {
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) {
        if (required) why = fmt::format("field \"{}\" is required", name);
        return std::nullopt;
    }
    if (!it->is_string()) {
        why = fmt::format("field \"{}\" must be a string", name);
        return std::nullopt;
    }
    return it->get<std::string>();
}

// The name a client may add as a note: short, printable, one line.
bool valid_who_note(const std::string& who, std::string& why) {
    if (who.size() > admin_max_who) {
        why = fmt::format("field \"who\" is longer than {} bytes", admin_max_who);
        return false;
    }
    for (unsigned char c : who)
        if (c < 0x20 || c == 0x7f) {
            why = "field \"who\" must not contain control characters";
            return false;
        }
    return true;
}

}  // namespace

std::string iso_time(queue::time_point t) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                       tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

std::string_view to_string(admin_op op) noexcept {
    switch (op) {
        case admin_op::status:
            return "status";
        case admin_op::list:
            return "list";
        case admin_op::enqueue:
            return "enqueue";
        case admin_op::retry:
            return "retry";
        case admin_op::override_block:
            return "override";
        case admin_op::verify:
            return "verify";
        case admin_op::cancel:
            return "cancel";
        case admin_op::show:
            return "show";
    }
    return "status";
}

std::optional<admin_op> admin_op_from_string(std::string_view text) noexcept {
    for (admin_op op : {admin_op::status, admin_op::list, admin_op::enqueue, admin_op::retry,
                        admin_op::override_block, admin_op::verify, admin_op::cancel, admin_op::show})
        if (to_string(op) == text) return op;
    return std::nullopt;
}

std::string encode_request(const admin_request& r) {
    json j{{"op", to_string(r.op)}};
    switch (r.op) {
        case admin_op::status:
            break;
        case admin_op::list:
            if (r.state) j["state"] = queue::to_string(*r.state);
            if (!r.equipment.empty()) j["equipment"] = r.equipment;
            if (r.since_ms) j["since_ms"] = *r.since_ms;
            if (r.limit > 0) j["limit"] = r.limit;
            break;
        case admin_op::enqueue:
            j["path"] = r.path;
            break;
        case admin_op::override_block:
        case admin_op::cancel:
            j["why"] = r.why;
            [[fallthrough]];
        case admin_op::retry:
            if (!r.who.empty()) j["who"] = r.who;
            [[fallthrough]];
        case admin_op::verify:
        case admin_op::show:
            j["run"] = r.run;
            break;
    }
    return j.dump();
}

std::optional<admin_request> decode_request(std::string_view line, std::string& why) {
    if (line.size() > admin_max_line) {
        why = fmt::format("request longer than {} bytes", admin_max_line);
        return std::nullopt;
    }
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        why = "request is not a JSON object";
        return std::nullopt;
    }
    auto op_text = string_field(j, "op", true, why);
    if (!op_text) return std::nullopt;
    auto op = admin_op_from_string(*op_text);
    if (!op) {
        why = fmt::format("unknown op \"{}\" (status, list, enqueue, retry, override, cancel, verify, show)",
                          *op_text);
        return std::nullopt;
    }
    admin_request r;
    r.op = *op;
    std::string field_why;
    switch (r.op) {
        case admin_op::status:
            break;
        case admin_op::list: {
            auto s = string_field(j, "state", false, field_why);
            if (!field_why.empty()) return why = field_why, std::nullopt;
            if (s) {
                r.state = queue::job_state_from_string(*s);
                if (!r.state) {
                    why = fmt::format("unknown state \"{}\"", *s);
                    return std::nullopt;
                }
            }
            if (auto e = string_field(j, "equipment", false, field_why)) r.equipment = *e;
            if (!field_why.empty()) return why = field_why, std::nullopt;
            if (j.contains("since_ms") && !j["since_ms"].is_number_integer())
                return why = "field \"since_ms\" must be an integer (Unix milliseconds)", std::nullopt;
            if (j.contains("since_ms")) r.since_ms = j["since_ms"].get<std::int64_t>();
            if (j.contains("limit") && !j["limit"].is_number_unsigned())
                return why = "field \"limit\" must be a non-negative integer", std::nullopt;
            if (j.contains("limit")) r.limit = j["limit"].get<std::size_t>();
            break;
        }
        case admin_op::enqueue: {
            auto p = string_field(j, "path", true, field_why);
            if (!p) return why = field_why, std::nullopt;
            if (p->empty() || p->front() != '/') {
                why = fmt::format("path \"{}\" must be absolute", *p);
                return std::nullopt;
            }
            r.path = *p;
            break;
        }
        case admin_op::override_block:
        case admin_op::cancel: {
            auto w = string_field(j, "why", true, field_why);
            if (!w || w->empty())
                return why = w ? "field \"why\" must not be empty" : field_why, std::nullopt;
            r.why = *w;
            [[fallthrough]];
        }
        case admin_op::retry:
        case admin_op::verify:
        case admin_op::show: {
            if (r.op == admin_op::retry || r.op == admin_op::override_block || r.op == admin_op::cancel) {
                auto who = string_field(j, "who", false, field_why);
                if (!field_why.empty()) return why = field_why, std::nullopt;
                if (who && !valid_who_note(*who, field_why)) return why = field_why, std::nullopt;
                if (who) r.who = *who;
            }
            auto run = string_field(j, "run", true, field_why);
            if (!run) return why = field_why, std::nullopt;
            std::string ref_why;
            if (!parse_run_reference(*run, ref_why)) return why = ref_why, std::nullopt;
            r.run = *run;
            break;
        }
    }
    return r;
}

std::string encode_response(const admin_response& r) {
    json j{{"ok", r.ok}};
    if (r.ok)
        j["data"] = r.data;
    else {
        j["error"] = r.error;
        j["message"] = r.message;
    }
    return j.dump();
}

std::optional<admin_response> decode_response(std::string_view line, std::string& why) {
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("ok") || !j["ok"].is_boolean()) {
        why = "the daemon's answer is not a JSON object with \"ok\"";
        return std::nullopt;
    }
    admin_response r;
    r.ok = j["ok"].get<bool>();
    if (r.ok) {
        if (j.contains("data")) r.data = j["data"];
    } else {
        r.error = j.value("error", std::string("unknown"));
        r.message = j.value("message", std::string());
    }
    return r;
}

admin_response admin_error(std::string code, std::string message) {
    admin_response r;
    r.ok = false;
    r.error = std::move(code);
    r.message = std::move(message);
    return r;
}

std::optional<run_reference> parse_run_reference(std::string_view text, std::string& why) {
    if (text.empty()) {
        why = "run is empty (write EQUIPMENT/RUN, RUN, #JOB_ID or the run's path)";
        return std::nullopt;
    }
    if (text.front() == '/') return run_by_path{std::string(text)};
    if (text.front() == '#') {
        std::string_view digits = text.substr(1);
        std::int64_t id = 0;
        for (char c : digits) {
            if (c < '0' || c > '9' || digits.size() > 18) {
                why = fmt::format("\"{}\" is not a job id (#17)", text);
                return std::nullopt;
            }
            id = id * 10 + (c - '0');
        }
        if (digits.empty() || id <= 0) {
            why = fmt::format("\"{}\" is not a job id (#17)", text);
            return std::nullopt;
        }
        return run_by_job{id};
    }
    auto slash = text.find('/');
    std::string_view equipment = slash == std::string_view::npos ? std::string_view{} : text.substr(0, slash);
    std::string_view run = slash == std::string_view::npos ? text : text.substr(slash + 1);
    std::string refused = slash == std::string_view::npos
                              ? common::id_refusal_reason(common::id_kind::run, run)
                              : common::ids_refusal_reason(equipment, run);
    if (!refused.empty()) {
        why = fmt::format("\"{}\": {}", text, refused);
        return std::nullopt;
    }
    return run_by_id{std::string(equipment), std::string(run)};
}

json job_json(const queue::job& job) {
    json j{{"id", job.id},
           {"equipment", job.equipment},
           {"run_id", job.run_id},
           {"run_path", job.run_path},
           {"state", queue::to_string(job.state)},
           {"attempts", job.attempts},
           {"created_at", iso_time(job.created_at)},
           {"updated_at", iso_time(job.updated_at)}};
    j["next_attempt_at"] = job.next_attempt_at ? json(iso_time(*job.next_attempt_at)) : json(nullptr);
    j["last_error_kind"] = job.last_error_kind ? json(*job.last_error_kind) : json(nullptr);
    j["last_error"] = job.last_error ? json(*job.last_error) : json(nullptr);
    j["bytes"] = job.bytes ? json(*job.bytes) : json(nullptr);
    j["archive_sha256"] = job.archive_sha256 ? json(*job.archive_sha256) : json(nullptr);
    j["started_at"] = job.started_at ? json(iso_time(*job.started_at)) : json(nullptr);
    j["finished_at"] = job.finished_at ? json(iso_time(*job.finished_at)) : json(nullptr);
    return j;
}

}  // namespace labsync::apps
