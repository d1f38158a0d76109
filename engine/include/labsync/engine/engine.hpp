#pragma once
// The labsync engine (SPEC §4, §5, §7, §9, §10): per-equipment queues served by worker coroutines
// on one Asio io_context, CPU work on a thread pool, every job transition durable before its
// side effect. The same class runs inside `syncd` and inside an acquisition server.
//
// Lifecycle:  engine e(io, config, deps);  e.open();  co_spawn(io, e.async_run(), ...);
//             ... enqueue / status / retry / override from any thread ...
//             e.close();   // or e.cancel() and let async_run() return
// or, blocking: e.open(); e.run();   // on a thread of its own; close() from another thread ends it
// (docs/embedding.md). The job store and the engine's state stay behind the pimpl: this header
// declares neither.
//
// Thread safety: every public method except async_run() may be called from any thread, including
// threads that know nothing about Asio. They act on the thread-safe job store and then post a
// wake-up to the I/O context. enqueue() runs the gate on the calling thread (it walks the run);
// from the I/O thread use async_enqueue(), which runs the gate on the thread pool.

#include "labsync/common/log.hpp"
#include "labsync/engine/engine_config.hpp"
#include "labsync/engine/errc.hpp"
#include "labsync/engine/gate_finding.hpp"
#include "labsync/engine/unmarked_run.hpp"
#include "labsync/queue/job.hpp"
#include "labsync/transports/transport.hpp"
#include "labsync/verifier/manifest_builder.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace boost::asio {
class io_context;
class thread_pool;
}  // namespace boost::asio

namespace labsync::engine {

// The engine logs through the common logging interface (labsync/common/log.hpp).
using common::log_fn;
using common::log_level;

// What a transport factory gets to build the driver of one equipment.
struct transport_context {
    boost::asio::io_context& io;         // drivers run their I/O here
    boost::asio::thread_pool& cpu_pool;  // and hand packing / hashing to this pool
    std::filesystem::path outbox_dir;    // <outbox>/<equipment>/ for http_put archives
    log_fn log;
};

// Returns the driver, or nullptr with `why` set (open() then fails naming the equipment).
using transport_factory = std::function<std::unique_ptr<transports::transport>(
    const equipment_config& equipment, const transport_context& context, std::string& why)>;

// The real drivers (http_put, rsync_ssh, rclone) chosen by the type of equipment.transport.
transport_factory default_transport_factory();

struct disk_space {
    std::uint64_t free_bytes = 0;
    std::uint64_t total_bytes = 0;
};

// What a running or verifying job is doing while it reports bytes. Every phase reports, so a long
// manifest or pack is never mistaken for a wedged transfer by the daemon's watchdog.
enum class progress_phase {
    hashing,    // building the run's manifest (verifier, on the CPU pool)
    packing,    // packing the run, or checking an earlier archive, before the upload (http_put)
    uploading,  // the transport moves the bytes
    verifying,  // the probe asks the remote (bytes reported by drivers that can)
};

constexpr std::string_view to_string(progress_phase phase) noexcept {
    switch (phase) {
        case progress_phase::hashing:
            return "hashing";
        case progress_phase::packing:
            return "packing";
        case progress_phase::uploading:
            return "uploading";
        case progress_phase::verifying:
            return "verifying";
    }
    return "uploading";
}

struct progress_event {
    std::int64_t job_id = 0;
    std::string equipment;
    std::string run_id;
    std::uint64_t done = 0;
    std::uint64_t total = 0;  // 0 = unknown
    progress_phase phase = progress_phase::uploading;
};

// Everything a test (or an unusual embedder) may replace. Empty members get the real thing.
struct engine_deps {
    transport_factory transports;              // empty = default_transport_factory()
    std::function<queue::time_point()> clock;  // wall clock for the store and retention
    // The verifier: builds the local manifest of a run (blocking; called on the thread pool).
    // options.on_progress reports the bytes hashed (empty when nobody listens).
    std::function<verifier::build_result(const std::filesystem::path&, const verifier::build_options&)>
        build_manifest;
    std::function<std::optional<disk_space>(const std::filesystem::path&)> disk_space_of;
    std::function<double()> random_unit;  // [0,1) for backoff jitter; empty = seeded mt
    log_fn log;
    // Called on the I/O thread after every durable transition (verified, failed, cleaned, ...).
    std::function<void(const queue::job&)> on_job_changed;
    // Called on the I/O thread while a job hashes, packs, uploads or verifies (rate-limited to a
    // few per second per job and phase).
    std::function<void(const progress_event&)> on_progress;
};

struct enqueue_result {
    std::int64_t job_id = 0;  // 0 when nothing was created (error set)
    queue::job_state state = queue::job_state::queued;
    std::vector<gate_finding> findings;  // all findings; hard ones explain blocked_by_validation
    bool already_known = false;          // a live job existed; its id and state are returned
    engine_error error;
};

// A run that has its marker but is not shipped yet because its newest file's mtime plus settle
// lies ahead: found by the watcher (no job yet) or enqueued by API (queued, not yet due).
struct settle_wait {
    std::string equipment;
    std::string run_id;
    queue::time_point newest_mtime{};
    queue::time_point settled_at{};  // newest_mtime + settle
};

// A read of the job store through the engine (engine_queries.cpp). `error` is set when it could not
// be read: errc::not_open (before open(), after close()), errc::no_job, errc::store_failed.
template <class T>
struct query_result {
    T value{};
    engine_error error;
};

// Checks a configuration without touching the disk: names, paths set, limits, timetables.
engine_error validate(const engine_config& config);

class engine {
public:
    engine(boost::asio::io_context& io, engine_config config, engine_deps deps = {});
    ~engine();  // close()s
    engine(const engine&) = delete;
    engine& operator=(const engine&) = delete;

    // Validates the config, creates the directories, opens the store (replaying SPEC §5) and
    // builds the transports. Must succeed before anything else.
    engine_error open();

    // Runs workers, watchers and timers until cancel()/close(). Co_spawn it on the io_context.
    boost::asio::awaitable<void> async_run();
    // Blocking: co_spawns async_run() and runs the io_context on the calling thread until
    // async_run() has returned (cancel() or close() from another thread; other work on the
    // io_context runs meanwhile). errc::not_open before open(); errc::closed when the io_context
    // was stopped first. The engine's state is as after async_run(): close() it.
    engine_error run();
    // Asks async_run() to return: workers stop at their next await; a job in flight stays in
    // its durable state (running is replayed as queued on the next open). Thread-safe.
    void cancel();
    // cancel(), wait (from a non-I/O thread) until async_run() has returned, close the store.
    void close();

    // --- embedded API (thread-safe) ---
    enqueue_result enqueue(const std::filesystem::path& run_path);
    boost::asio::awaitable<enqueue_result> async_enqueue(std::filesystem::path run_path);
    std::optional<queue::job> status(const std::filesystem::path& run_path);
    std::vector<queue::job> list(const queue::job_filter& filter = {});
    std::vector<queue::job_event> events(std::int64_t job_id);
    // The gate's findings recorded when the job was created (hard ones explain a block).
    std::vector<gate_finding> findings(std::int64_t job_id);
    // verified / cleanup_eligible -> awaiting_verify: prove the remote copy again.
    engine_error force_verify(const std::filesystem::path& run_path);
    // failed -> queued with attempts reset (an event records who, and `note` when given).
    engine_error retry(const std::filesystem::path& run_path, const std::string& who = "operator",
                       const std::string& note = {});
    // blocked_by_validation -> queued (the override row records who and why).
    engine_error override_block(const std::filesystem::path& run_path, const std::string& who,
                                const std::string& why);
    // queued / awaiting_verify -> failed (last error kind "cancelled"; an event records who and
    // why). By job id: the job's equipment may no longer be configured. The run's files are not
    // touched; `retry` queues the job again.
    engine_error cancel_job(std::int64_t job_id, const std::string& who, const std::string& why);
    // Runs waiting to settle, by equipment and run id; describe_settle_wait() (gate.hpp) says
    // why, e.g. "mtime 1 day in the future, waiting".
    std::vector<settle_wait> waiting_runs() const;
    // Run directories the watcher saw without their marker (no job yet), by equipment and run id;
    // describe_unmarked() (unmarked_run.hpp) says why, naming marker-like files of another name.
    std::vector<unmarked_run> runs_without_marker() const;
    // Re-evaluates every queue now (after a manual clock moved, or a config-less nudge).
    void wake_all();
    // Runs the cleanup pass now instead of at the next cleanup_interval tick.
    void request_cleanup();
    // Rescans every runs root now.
    void request_rescan();

    // --- queries for status pages and metrics (thread-safe; engine_queries.cpp). They cover every
    // equipment that has jobs, configured or not. ---
    query_result<queue::state_counts> counts();
    query_result<std::vector<queue::job>> jobs_in_state(queue::job_state state);
    query_result<std::vector<queue::job>> find_jobs(const queue::job_filter& filter);
    query_result<queue::job> find_job(std::int64_t job_id);  // errc::no_job when unknown
    query_result<std::vector<queue::job_override>> overrides(std::int64_t job_id);

    const engine_config& config() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace labsync::engine
