#pragma once
// A pure test double of transports::transport for the engine's component tests: it "stores" the
// manifest it is given, answers probes from that store, and plays scripted failures. Runs on the
// engine's strand only (no locking needed for the engine; tests read it through the mutex).

#include "labsync/transports/http_put_outbox.hpp"
#include "labsync/transports/transport.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

// GCC 12 reports a false mismatched-new-delete on Asio's coroutine frames (GCC bug 109224).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace labsync::test {

struct fake_remote {
    std::mutex mutex;
    std::map<std::string, verifier::manifest> stored;       // run id -> what the remote holds
    std::deque<transports::transport_result> push_script;   // next push results (empty = success)
    std::deque<transports::transport_result> probe_script;  // next probe failures (empty = answer)
    bool hang_push = false;                                 // push never completes (until cancelled)
    bool hang_probe = false;
    bool tamper = false;         // probes report a different file content
    bool push_evidence = false;  // pushes return the stored manifest as their proof (like rsync_ssh)
    bool hashes_run = false;     // push hashes the run itself and returns it as `built` (like http_put)
    int pushes = 0;
    int probes = 0;

    // Concurrency: pushes in flight now and at most, overall and per equipment. With hold_push,
    // pushes stay in flight until release_pushes() (a test thread may call it).
    bool hold_push = false;
    int in_flight = 0;
    int peak_in_flight = 0;
    std::map<std::string, int> in_flight_by_equipment;
    std::map<std::string, int> peak_by_equipment;
    std::condition_variable changed;
    std::vector<std::shared_ptr<boost::asio::steady_timer>> held;

    // Waits until at least `n` pushes are in flight.
    bool wait_in_flight(int n, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
        std::unique_lock lock(mutex);
        return changed.wait_for(lock, timeout, [&] { return in_flight >= n; });
    }
    void release_pushes() {
        std::lock_guard lock(mutex);
        hold_push = false;
        for (auto& t : held) boost::asio::post(t->get_executor(), [t] { t->cancel(); });
        held.clear();
    }
};

class fake_transport final : public transports::transport {
public:
    // `outbox`: where sweep() looks for orphan archives (http_put's layout), empty = nowhere.
    explicit fake_transport(std::shared_ptr<fake_remote> remote, std::filesystem::path outbox = {})
        : remote_(std::move(remote)), outbox_(std::move(outbox)) {}
    std::string_view name() const noexcept override { return "fake"; }
    bool push_hashes_run() const noexcept override { return remote_->hashes_run; }

    boost::asio::awaitable<transports::push_result> push(const transports::push_request& req) override {
        bool hang = false;
        std::optional<transports::transport_result> scripted;
        {
            std::lock_guard lock(remote_->mutex);
            ++remote_->pushes;
            hang = remote_->hang_push;
            if (!remote_->push_script.empty()) {
                scripted = remote_->push_script.front();
                remote_->push_script.pop_front();
            }
        }
        if (hang) co_await forever();
        co_await held_in_flight(req.equipment);
        if (req.on_progress)
            req.on_progress(req.local_manifest ? req.local_manifest->total_bytes() : 0,
                            req.local_manifest ? req.local_manifest->total_bytes() : 0);
        transports::push_result out;
        if (scripted) {
            out.status = *scripted;
            co_return out;
        }
        if (remote_->hashes_run) {  // the push's own read of the run, like http_put's streamed pack
            out.built = verifier::build_manifest(req.run_path);
            if (!out.built->ok()) {
                out.status = transports::transport_result::failure(
                    transports::error_kind::local_file_vanished, "the run could not be read");
                co_return out;
            }
        }
        std::lock_guard lock(remote_->mutex);
        if (req.local_manifest) remote_->stored[req.run_id] = *req.local_manifest;
        if (out.built) remote_->stored[req.run_id] = out.built->manifest;
        out.status = transports::transport_result::success(201);
        if (remote_->push_evidence && req.local_manifest) {
            out.evidence.emplace();
            out.evidence->present = true;
            out.evidence->remote_manifest = *req.local_manifest;
        }
        co_return out;
    }

    boost::asio::awaitable<transports::probe_result> probe(const transports::push_request& req) override {
        bool hang = false;
        {
            std::lock_guard lock(remote_->mutex);
            ++remote_->probes;
            hang = remote_->hang_probe;
        }
        if (hang) co_await forever();
        std::lock_guard lock(remote_->mutex);
        transports::probe_result r;
        if (!remote_->probe_script.empty()) {
            r.status = remote_->probe_script.front();
            remote_->probe_script.pop_front();
            co_return r;
        }
        r.status = transports::transport_result::success(200);
        auto it = remote_->stored.find(req.run_id);
        r.present = it != remote_->stored.end();
        if (r.present) {
            const auto& stored = it->second.entries();
            std::vector<verifier::manifest_entry> entries(stored.begin(), stored.end());
            if (remote_->tamper && !entries.empty()) entries.front().sha256[0] ^= 0xff;
            r.remote_manifest = verifier::manifest(std::move(entries));
        }
        co_return r;
    }

    std::vector<std::string> sweep(const transports::wanted_fn& is_wanted) override {
        std::vector<std::string> removed;
        if (!outbox_.empty())
            for (const auto& p : transports::sweep_outbox(outbox_, is_wanted))
                removed.push_back("outbox archive " + p.string());
        return removed;
    }

private:
    // Counts this push in flight while it waits for release_pushes() (when hold_push is set).
    boost::asio::awaitable<void> held_in_flight(const std::string& equipment) {
        auto timer = std::make_shared<boost::asio::steady_timer>(
            co_await boost::asio::this_coro::executor, boost::asio::steady_timer::time_point::max());
        bool hold = false;
        {
            std::lock_guard lock(remote_->mutex);
            remote_->peak_in_flight = std::max(remote_->peak_in_flight, ++remote_->in_flight);
            auto& mine = remote_->in_flight_by_equipment[equipment];
            remote_->peak_by_equipment[equipment] = std::max(remote_->peak_by_equipment[equipment], ++mine);
            hold = remote_->hold_push;
            if (hold) remote_->held.push_back(timer);
            remote_->changed.notify_all();
        }
        // release_pushes() posts the cancel to this executor: it cannot run before the wait starts.
        boost::system::error_code ec;
        if (hold) co_await timer->async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
        std::lock_guard lock(remote_->mutex);
        --remote_->in_flight;
        --remote_->in_flight_by_equipment[equipment];
        remote_->changed.notify_all();
    }

    static boost::asio::awaitable<void> forever() {
        boost::asio::steady_timer t(co_await boost::asio::this_coro::executor);
        t.expires_at(boost::asio::steady_timer::time_point::max());
        co_await t.async_wait(boost::asio::use_awaitable);
    }
    std::shared_ptr<fake_remote> remote_;
    std::filesystem::path outbox_;
};

}  // namespace labsync::test
