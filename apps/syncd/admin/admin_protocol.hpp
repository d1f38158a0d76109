#pragma once
// The admin socket protocol: one JSON object per line over a unix stream socket, one request and
// one response per connection. Pure codec (no I/O), unit-tested; admin_server.cpp moves the bytes
// and the daemon answers. Documented in docs/operations.md ("Admin socket").
//
//   -> {"op":"status"}
//   -> {"op":"list","state":"failed","equipment":"scope-1","since_ms":1764633600000,"limit":20}
//      every filter optional; since_ms: jobs updated at or after (Unix ms); limit 0: all
//   -> {"op":"enqueue","path":"/data/scope-1/run-42"}
//   -> {"op":"retry","run":"scope-1/run-42"}      run: EQUIPMENT/RUN, RUN, #JOB_ID or a path
//   -> {"op":"override","run":"...","why":"marker written by hand"}     who optional (a note)
//   -> {"op":"cancel","run":"...","why":"equipment retired"}           who optional (a note)
//   -> {"op":"verify","run":"..."}
//   -> {"op":"show","run":"..."}      the job, its gate findings, its events (with who)
// Who acted is never taken from the request: the server records the peer's user (SO_PEERCRED);
// a client-supplied "who" (e.g. the name behind sudo) is only added to the record as a note.
//   <- {"ok":true,"data":{...}}  |  {"ok":false,"error":"no_job","message":"..."}

#include "labsync/queue/job.hpp"
#include "labsync/queue/job_state.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace labsync::apps {

inline constexpr std::size_t admin_max_line = 1 << 20;  // longer requests are refused

enum class admin_op { status, list, enqueue, retry, override_block, verify, cancel, show };

inline constexpr std::size_t admin_max_who = 64;  // a client-supplied name (a note)

std::string_view to_string(admin_op op) noexcept;
std::optional<admin_op> admin_op_from_string(std::string_view text) noexcept;

struct admin_request {
    admin_op op = admin_op::status;
    std::optional<queue::job_state> state{};  // list
    std::string equipment{};                  // list: only this equipment's jobs (empty: all)
    std::optional<std::int64_t> since_ms{};   // list: only jobs updated at or after (Unix ms)
    std::size_t limit = 0;                    // list: at most this many (0: all)
    std::string path{};                       // enqueue (absolute)
    std::string run{};                        // retry, override, verify, cancel, show
    std::string who{};                        // retry, override, cancel: optional note
    std::string why{};                        // override, cancel
};

struct admin_response {
    bool ok = true;
    std::string error;    // machine code when !ok: bad_request, no_job, wrong_state, ambiguous, ...
    std::string message;  // human text when !ok
    nlohmann::json data = nlohmann::json::object();
};

// Encoders produce one line without the trailing newline.
std::string encode_request(const admin_request& request);
std::string encode_response(const admin_response& response);

// Decoders fill `why` and return nullopt on a malformed line (names the field and the problem).
std::optional<admin_request> decode_request(std::string_view line, std::string& why);
std::optional<admin_response> decode_response(std::string_view line, std::string& why);

admin_response admin_error(std::string code, std::string message);

// How an operator names a run: "scope-1/run-42", "run-42", "#17" (job id) or a path.
struct run_by_id {
    std::string equipment;  // empty = any equipment (must be unique)
    std::string run_id;
};
struct run_by_job {
    std::int64_t job_id = 0;
};
struct run_by_path {
    std::string path;
};
using run_reference = std::variant<run_by_id, run_by_job, run_by_path>;
std::optional<run_reference> parse_run_reference(std::string_view text, std::string& why);

// The stable JSON of a job (the `list` items and `status` current jobs share it).
nlohmann::json job_json(const queue::job& job);
// "2026-12-01T22:17:43.000Z" (UTC, milliseconds)
std::string iso_time(queue::time_point t);

}  // namespace labsync::apps
