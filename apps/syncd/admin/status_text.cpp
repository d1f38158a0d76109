// The text of `syncd status` and `status --watch`; see status_view.hpp. Every line is fitted to
// the width: a job line drops its least useful columns first (bytes, then ETA, then the rate),
// the bar takes what is left, run ids are elided in the middle, other lines at the end.
#include "admin/status_view.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace labsync::apps {
namespace {

using nlohmann::json;

constexpr int phase_width = 9;  // "verifying"

int cells(std::string_view text) {
    return static_cast<int>(std::count_if(text.begin(), text.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0) != 0x80;  // not a UTF-8 continuation byte
    }));
}

// The first `n` code points of `text`.
std::string_view first_cells(std::string_view text, int n) {
    std::size_t i = 0;
    for (int seen = 0; i < text.size(); ++i)
        if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80 && seen++ == n) break;
    return text.substr(0, i);
}

// "a-very-long…run-name": both ends of a run id say more than either alone.
std::string elide_middle(const std::string& text, int width) {
    if (cells(text) <= width) return text;
    if (width < 3) return fit_width(text, width);
    const int head = (width - 1) / 2, tail = width - 1 - head;
    return std::string(text.substr(0, head)) + "…" + text.substr(text.size() - tail);
}

std::string pad(std::string text, int width) {
    const int n = cells(text);
    if (n < width) text.append(width - n, ' ');
    return text;
}

std::string text_of(const json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// An http_put error starts with its request ("PUT https://host/...: "); the rest is the reason.
std::string reason_of(std::string error) {
    for (std::string_view method : {"PUT ", "GET ", "HEAD ", "POST "})
        if (error.rfind(method, 0) == 0)
            if (auto colon = error.find(": "); colon != std::string::npos) return error.substr(colon + 2);
    return error;
}

std::string job_line(const json& j, const render_options& options, int run_width) {
    const json& p = j.contains("progress") ? j["progress"] : json(nullptr);
    std::string phase = p.is_object() ? text_of(p, "phase") : std::string();
    if (phase.empty()) phase = text_of(j, "state") == "awaiting_verify" ? "verifying" : text_of(j, "state");
    std::string head =
        "  " + pad(elide_middle(text_of(j, "run_id"), run_width), run_width) + " " + pad(phase, phase_width);
    if (!p.is_object()) return head;
    const double done = p.value("done", 0.0), total = p.value("total", 0.0);
    std::optional<std::int64_t> eta;
    if (p.contains("eta_s") && p["eta_s"].is_number()) eta = p["eta_s"].get<std::int64_t>();
    // In display order; dropped from the least useful while the line is too long.
    std::string pct = total > 0 ? fmt::format("{:3.0f}%", done / total * 100) : "";
    std::string bytes = fmt::format("{} / {}", human_bytes(done), total > 0 ? human_bytes(total) : "?");
    std::string rate = human_bytes(p.value("rate_bps", 0.0)) + "/s";
    std::string eta_text = "eta " + human_duration(eta);
    const int room = options.width - cells(head) - 1;
    auto tail = [&] {
        std::string t;
        for (const std::string* part : {&pct, &bytes, &rate, &eta_text})
            if (!part->empty()) t += (t.empty() ? "" : "  ") + *part;
        return t;
    };
    for (std::string* drop : {&bytes, &eta_text, &rate, &pct})
        if (cells(tail()) > room) drop->clear();
    std::string bar;
    const int bar_cells = std::min(40, room - cells(tail()) - 1);
    if (options.bars && total > 0 && bar_cells >= 6) {
        const int filled = std::clamp(static_cast<int>(std::floor(done / total * bar_cells)), 0, bar_cells);
        for (int i = 0; i < bar_cells; ++i) bar += i < filled ? "█" : "░";
        bar += " ";
    }
    return head + " " + bar + tail();
}

std::string retry_line(const json& j, int run_width) {
    const json& r = j.value("retry", json::object());
    std::string line = "  " + pad(elide_middle(text_of(j, "run_id"), run_width), run_width) + " " +
                       pad("queued", phase_width) +
                       fmt::format(" retry {}/{} in {}", r.value("attempt", 0), r.value("max_attempts", 0),
                                   human_duration(r.value("in_s", std::int64_t{0})));
    if (auto error = text_of(j, "last_error"); !error.empty()) line += ": " + reason_of(error);
    return line;
}

}  // namespace

std::string fit_width(std::string_view text, int width) {
    if (width <= 0 || cells(text) <= width) return std::string(text);
    return std::string(first_cells(text, width - 1)) + "…";
}

std::string render_status_text(const json& status, const render_options& options) {
    std::string out;
    const int width = std::max(options.width, 20);
    const int run_width = std::clamp(width / 4, 10, 28);
    const auto emit = [&](const std::string& line) {
        std::string fitted = fit_width(line, width);
        fitted.erase(fitted.find_last_not_of(' ') + 1);
        out += fitted + "\n";
    };
    const json& d = status.value("daemon", json::object());
    emit(fmt::format("syncd pid {} · up {} · {}{}", d.value("pid", 0),
                     human_duration(d.value("uptime_s", std::int64_t{0})), d.value("config", std::string()),
                     d.value("ready", false) ? "" : " · starting"));
    static constexpr const char* shown[] = {
        "queued",  "running", "awaiting_verify",       "verified",
        "cleaned", "failed",  "blocked_by_validation", "cleanup_eligible"};
    static constexpr const char* short_names[] = {"queued",  "running", "verifying", "verified",
                                                  "cleaned", "failed",  "blocked",   "eligible"};
    for (const json& e : status.value("equipment", json::array())) {
        std::string line = fmt::format("{:<20}", e.value("name", std::string()));
        const json& c = e.value("counts", json::object());
        for (int i = 0; i < 8; ++i) {
            std::int64_t n = c.value(shown[i], std::int64_t{0});
            if (n != 0 || i < 2 || std::string_view(shown[i]) == "failed")
                line += fmt::format("  {} {}", short_names[i], n);
        }
        if (!e.value("configured", true)) line += "  (not configured)";
        emit(line);
        for (const json& j : e.value("current", json::array())) emit(job_line(j, options, run_width));
        for (const json& j : e.value("retrying", json::array())) emit(retry_line(j, run_width));
        const json& waiting = e.value("waiting", json::array());
        if (auto summary = waiting_summary(waiting); !summary.empty()) emit("  " + summary);
        for (const json& w : waiting)
            emit(fmt::format("  {}: {}", text_of(w, "run_id"), text_of(w, "reason")));
    }
    return out;
}

}  // namespace labsync::apps
