#pragma once
// The read-only status page at the metrics listener: GET / (one self-contained HTML document:
// inline CSS, inline JS, inline SVG chart; nothing loaded from elsewhere) and GET /status.json
// (the data the page shows and refreshes every few seconds).
//
// status.json is the `syncd status --json` document (admin/status_view.hpp) with, added:
//   "generated_at": "2026-01-01T00:00:00Z",
//   "equipment":[{...,"transport":"http_put","runs_root":"/data/scope-1"}],   (configured ones)
//   "problems":[{...job_json...}],   failed, blocked_by_validation and retrying jobs, newest first
//   "throughput":{"bucket_s":60,"bytes":[60 numbers, oldest first; the last minute is filling]}
// When the engine is not there (a reload), "unavailable" holds the reason instead of the jobs.
//
// Strings from runs and configuration reach the page only as data: the page embeds the JSON with
// <, > and & escaped (json_for_script) and its script inserts every string as text, never markup.

#include "admin/admin_protocol.hpp"

#include "labsync/engine/engine.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace labsync::apps {

// How many jobs of each kind "problems" lists at most.
inline constexpr std::size_t status_page_problem_limit = 20;

// The page's data from the status answer (dispatch_admin's status op), the engine (null while
// none runs) and its configuration, and throughput_history::per_minute().
nlohmann::json status_page_json(const admin_response& status, engine::engine* eng,
                                const engine::engine_config& config,
                                const std::vector<std::uint64_t>& bytes_per_minute);

// The HTML page with `data` embedded as its first view (it renders without a second request).
std::string render_status_page(const nlohmann::json& data);

// `data` as text that is safe inside <script type="application/json">: <, > and & as \u escapes.
std::string json_for_script(const nlohmann::json& data);

}  // namespace labsync::apps
