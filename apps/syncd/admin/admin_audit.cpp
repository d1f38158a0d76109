// See admin_audit.hpp.
#include "admin/admin_audit.hpp"

#include <fmt/format.h>

namespace labsync::apps {
namespace {

using nlohmann::json;

// "retried eq1/run-7" / "retry of eq1/run-7" for each action.
struct action_words {
    const char* done;
    const char* noun;
};

action_words words_of(admin_op op) {
    switch (op) {
        case admin_op::enqueue:
            return {"enqueued", "enqueue of"};
        case admin_op::retry:
            return {"retried", "retry of"};
        case admin_op::override_block:
            return {"overrode the block of", "override of"};
        case admin_op::verify:
            return {"asked to verify again", "verify of"};
        case admin_op::cancel:
            return {"cancelled", "cancel of"};
        default:
            return {"", ""};
    }
}

std::string text_of(const json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

std::optional<log_line> admin_action_line(const admin_request& request, const admin_actor& actor,
                                          const admin_response& response) {
    if (request.op == admin_op::status || request.op == admin_op::list || request.op == admin_op::show)
        return std::nullopt;
    const auto words = words_of(request.op);
    const std::string who = fmt::format("admin: {} (uid {}, pid {})", actor.user, actor.uid, actor.pid);
    const std::string target = request.op == admin_op::enqueue ? request.path : request.run;
    const std::string why = request.why.empty() ? "" : fmt::format(" (why: {})", request.why);
    log_line line;
    if (!response.ok) {
        line.level = common::log_level::warning;
        line.message = fmt::format("{} {} {} refused: {} ({}){}", who, words.noun, target, response.message,
                                   response.error, why);
        return line;
    }
    const json& data = response.data;
    if (request.op == admin_op::enqueue) {
        const auto id = data.value("job_id", std::int64_t{0});
        line.fields.job = id;
        line.fields.state = text_of(data, "state");
        line.message =
            fmt::format("{} {} {}: job {} is {}{}", who,
                        data.value("already_known", false) ? "enqueued (already known)" : words.done, target,
                        id, line.fields.state, why);
        return line;
    }
    const json& job = data.contains("job") ? data["job"] : json::object();
    line.fields.equipment = text_of(job, "equipment");
    line.fields.run = text_of(job, "run_id");
    if (job.contains("id")) line.fields.job = job["id"].get<std::int64_t>();
    line.fields.state = text_of(job, "state");
    const std::string run =
        line.fields.run.empty() ? target : fmt::format("{}/{}", line.fields.equipment, line.fields.run);
    line.message = line.fields.job ? fmt::format("{} {} {}: job {} is {}{}", who, words.done, run,
                                                 *line.fields.job, line.fields.state, why)
                                   : fmt::format("{} {} {}{}", who, words.done, run, why);
    return line;
}

}  // namespace labsync::apps
