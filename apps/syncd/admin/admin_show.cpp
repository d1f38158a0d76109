// See admin_show.hpp.
#include "admin/admin_show.hpp"

#include "labsync/engine/gate_finding.hpp"

namespace labsync::apps {

using nlohmann::json;

json findings_json(const std::vector<engine::gate_finding>& findings) {
    json out = json::array();
    for (const auto& f : findings)
        out.push_back({{"severity", engine::to_string(f.level)},
                       {"code", f.code},
                       {"message", f.message},
                       {"path", f.path}});
    return out;
}

std::string event_who(const queue::job_event& event) {
    if (event.kind != queue::event_kind::override && event.kind != queue::event_kind::retry &&
        event.kind != queue::event_kind::cancel)
        return "syncd";
    const std::string_view marker = " by ";
    const auto at = event.message.find(marker);
    if (at == std::string::npos) return "operator";
    const auto start = at + marker.size();
    const auto end = event.message.find_first_of(": (", start);
    return event.message.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

std::string event_text(const queue::job_event& event) {
    if (event.kind != queue::event_kind::created) return event.message;
    const auto at = event.message.rfind(" findings=");
    return at == std::string::npos ? event.message : event.message.substr(0, at);
}

admin_response show_job(engine::engine& eng, const queue::job& job) {
    admin_response r;
    r.data["job"] = job_json(job);
    r.data["findings"] = findings_json(eng.findings(job.id));
    json events = json::array();
    for (const auto& e : eng.events(job.id))
        events.push_back({{"at", iso_time(e.at)},
                          {"kind", queue::to_string(e.kind)},
                          {"from", e.from_state ? json(queue::to_string(*e.from_state)) : json(nullptr)},
                          {"to", queue::to_string(e.to_state)},
                          {"who", event_who(e)},
                          {"message", event_text(e)}});
    r.data["events"] = std::move(events);
    json overrides = json::array();
    for (const auto& o : eng.overrides(job.id).value)
        overrides.push_back({{"at", iso_time(o.at)}, {"who", o.who}, {"why", o.why}});
    r.data["overrides"] = std::move(overrides);
    return r;
}

}  // namespace labsync::apps
