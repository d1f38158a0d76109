#pragma once
// Private: the engine's state and coroutines. Everything here runs on `strand` (the engine's
// serialised executor on the caller's io_context) unless a comment says otherwise; blocking work
// goes to `pool` through on_pool() and its result comes back to the strand.

// GCC 12 reports a false mismatched-new-delete on Asio's coroutine frames (GCC bug 109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include "labsync/common/on_pool.hpp"
#include "labsync/engine/bandwidth_scheduler.hpp"
#include "labsync/engine/cleanup_decision.hpp"
#include "labsync/engine/engine.hpp"
#include "labsync/engine/gate.hpp"
#include "labsync/engine/job_fsm.hpp"
#include "labsync/engine/retry_policy.hpp"
#include "labsync/queue/commit_queue.hpp"
#include "labsync/queue/job_store.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <atomic>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <type_traits>

namespace labsync::engine {

namespace asio = boost::asio;
using strand_type = asio::strand<asio::io_context::executor_type>;

inline engine_error make_error(errc e, std::string message) {
    return {make_error_code(e), std::move(message)};
}

inline engine_error from_store(const queue::store_error& e) {
    return make_error(errc::store_failed, e.message);
}

struct equipment_runtime {
    equipment_config cfg;
    std::unique_ptr<transports::transport> transport;
    std::vector<std::unique_ptr<asio::steady_timer>> worker_timers;  // one per worker: wake() cancels them
    std::deque<std::int64_t> verify_pending;                         // awaiting_verify jobs to prove
    std::set<std::int64_t> in_flight;                                // picked by a worker
    std::map<std::int64_t, queue::time_point> not_before;            // API-enqueued, not settled yet
    std::map<std::string, queue::time_point> settle_pending;         // marker seen, run not settled yet
};

struct engine::impl {
    impl(asio::io_context& io, engine_config config, engine_deps deps);

    // --- set at construction / open() ---
    asio::io_context& io;
    strand_type strand;
    engine_config config;
    engine_deps deps;
    std::unique_ptr<asio::thread_pool> pool;
    std::mutex api_mutex;  // guards store presence against close()
    std::optional<queue::job_store> store;
    std::unique_ptr<queue::commit_queue> commits;  // the workers' transitions, group-committed
    std::unique_ptr<retry_policy> policy;
    std::shared_ptr<bandwidth_scheduler> bandwidth;      // one budget for every transfer
    std::map<std::string, equipment_runtime> equipment;  // node-based: stable references
    std::mt19937_64 rng{std::random_device{}()};
    std::mutex rng_mutex;
    bool opened = false;

    // --- strand-only run state ---
    bool stopping = false;
    int children = 0;
    int permits = 0;
    std::unique_ptr<asio::steady_timer> children_done, permit_timer, stop_timer, rescan_timer, cleanup_timer;
    std::unique_ptr<asio::posix::stream_descriptor> inotify;  // one for every watched runs root
    bool cleanup_requested = false, rescan_requested = false;

    // Runs waiting to settle (engine::waiting_runs); any thread, under waiting_mutex.
    mutable std::mutex waiting_mutex;
    std::map<std::pair<std::string, std::string>, settle_wait> waiting;
    void note_waiting(settle_wait w);
    void clear_waiting(const std::string& equipment, const std::string& run_id);
    // Run directories without their marker (engine::runs_without_marker), same mutex.
    std::map<std::pair<std::string, std::string>, unmarked_run> unmarked;

    std::atomic<bool> run_started{false}, run_finished{false};
    std::promise<void> run_done;
    std::shared_future<void> run_done_future = run_done.get_future().share();

    // --- helpers (engine.cpp) ---
    queue::time_point now() const { return deps.clock ? deps.clock() : std::chrono::system_clock::now(); }
    template <class... A>
    void log(log_level level, fmt::format_string<A...> f, A&&... a) const {
        if (deps.log) deps.log(level, fmt::format(f, std::forward<A>(a)...));
    }
    equipment_runtime* find_equipment(const std::string& name);
    // Which equipment a run path belongs to (its parent is the runs root). Empty = none.
    equipment_runtime* equipment_of(const std::filesystem::path& run_path, std::string& run_id,
                                    engine_error& err);
    // The findings of job_id's created event (store open, api_mutex held).
    std::vector<gate_finding> recorded_findings(std::int64_t job_id);
    // Blocking: gate + create_job. Thread-agnostic; posts wake-ups to the strand.
    enqueue_result enqueue_blocking(const std::filesystem::path& run_path, bool from_watcher,
                                    std::optional<queue::time_point>* settle_until);
    void notify_changed(std::int64_t job_id);      // strand: on_job_changed callback
    void post_notify(std::int64_t job_id);         // any thread
    void wake(equipment_runtime& eq);              // strand
    void post_wake(const std::string& equipment);  // any thread
    std::optional<disk_space> space_of(const std::filesystem::path& path) const;
    bool under_watermark(const equipment_runtime& eq) const;

    // Durable transition on the strand; logs, fires on_job_changed. A transient store error
    // (queue::is_transient: busy, disk full, I/O error) is retried with backoff from
    // store_retry_first up to store_retry_cap between tries. False when refused for good, or
    // when the engine stops first. `details` by value: it lives in the coroutine frame.
    asio::awaitable<bool> transition(std::int64_t job_id, queue::job_state to,
                                     queue::transition_details details);
    // One try of a transition through the commit queue: resumes on the strand once it is durable.
    asio::awaitable<queue::store_error> commit(queue::transition_request request);
    static constexpr std::chrono::steady_clock::duration store_retry_first = std::chrono::milliseconds(50);
    static constexpr std::chrono::steady_clock::duration store_retry_cap = std::chrono::seconds(5);

    // Runs f() on the CPU pool (common::on_pool; pass a named task, moved or by reference).
    template <class F>
    auto on_pool(F&& f) {
        return common::on_pool(pool->get_executor(), std::forward<F>(f));
    }

    // --- coroutines (engine_run.cpp) ---
    void spawn(asio::awaitable<void> child, const char* what);
    asio::awaitable<void> run();
    void stop_all();  // strand
    asio::awaitable<void> wait_stop();
    asio::awaitable<void> bandwidth_loop();  // re-splits when a timetable changes
    asio::awaitable<bool> acquire_permit();
    void release_permit();
    asio::awaitable<void> worker(equipment_runtime& eq, std::size_t index);
    // The job's equipment and the engine as job_fsm sees them (cleanup adds its facts).
    job_context context_for(const equipment_runtime& eq, const queue::job& job);
    // Runs one job_fsm pass to its end: performs each action, feeds back its result.
    asio::awaitable<void> drive(equipment_runtime& eq, job_fsm fsm);
    // For push (uploading + packing) or probe (verifying).
    transports::push_request make_request(equipment_runtime& eq, const queue::job& job,
                                          const verifier::manifest* local,
                                          progress_phase phase = progress_phase::verifying);
    // A callback for pool or driver threads: throttled there, delivered as progress_event on the strand.
    transports::progress_fn progress_reporter(const equipment_runtime& eq, const queue::job& job,
                                              progress_phase phase);
    asio::awaitable<verifier::build_result> build_manifest(const std::filesystem::path& run_path,
                                                           transports::progress_fn progress = {});

    // cleanup (engine_cleanup.cpp)
    asio::awaitable<void> cleanup_loop();
    asio::awaitable<void> cleanup_pass();
    asio::awaitable<void> cleanup_one(equipment_runtime& eq, queue::job job);

    // run detection (engine_watch.cpp)
    asio::awaitable<void> rescan_loop();
    asio::awaitable<void> consider_run(equipment_runtime& eq, std::filesystem::path run_path);
    asio::awaitable<void> scan_root(equipment_runtime& eq);
    asio::awaitable<void> note_unmarked(equipment_runtime& eq, std::filesystem::path run_path);
    asio::awaitable<void> watch();  // every equipment with watch = true
};

}  // namespace labsync::engine
