// Run detection: inotify (one instance) on each runs root (new run directories, marker files
// appearing in them) plus a periodic rescan as the safety net. A run is enqueued once its marker exists and
// nothing in it changed for `settle` seconds; runs not yet settled wait in settle_pending and the
// rescan loop's timer wakes at the earliest settle deadline. Runs waiting to settle are also kept in
// `waiting` (under its own mutex) for engine::waiting_runs(), which `status` and `doctor` show; run
// directories without their marker are kept in `unmarked` for engine::runs_without_marker().
#include "engine_impl.hpp"

#include "labsync/common/ids.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/redirect_error.hpp>

#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace labsync::engine {

namespace {

bool marker_present(const std::filesystem::path& run_dir, const std::string& marker) {
    struct stat st {};
    return ::lstat((run_dir / marker).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool is_real_directory(const std::filesystem::path& p) {
    struct stat st {};
    return ::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

void engine::impl::note_waiting(settle_wait w) {
    const auto t = now();
    std::lock_guard lock(waiting_mutex);
    auto& slot = waiting[std::pair{w.equipment, w.run_id}];
    if (w.newest_mtime > t && slot.newest_mtime != w.newest_mtime)  // once per mtime, not per rescan
        log(log_level::warning, "{}/{}: {}", w.equipment, w.run_id,
            describe_settle_wait(w.newest_mtime, w.settled_at, t));
    slot = std::move(w);
}

void engine::impl::clear_waiting(const std::string& equipment, const std::string& run_id) {
    std::lock_guard lock(waiting_mutex);
    waiting.erase({equipment, run_id});
}

std::vector<unmarked_run> engine::runs_without_marker() const {
    std::lock_guard lock(impl_->waiting_mutex);
    std::vector<unmarked_run> out;
    for (const auto& [key, u] : impl_->unmarked) out.push_back(u);
    return out;
}

std::vector<settle_wait> engine::waiting_runs() const {
    std::lock_guard lock(impl_->waiting_mutex);
    std::vector<settle_wait> out;
    for (const auto& [key, w] : impl_->waiting) out.push_back(w);
    return out;
}

asio::awaitable<void> engine::impl::consider_run(equipment_runtime& eq, std::filesystem::path run_path) {
    const auto run_id = run_path.filename().string();
    const bool run_dir = common::valid_run_id(run_id) && is_real_directory(run_path);
    if (!run_dir || !marker_present(run_path, eq.cfg.marker_name)) {
        eq.settle_pending.erase(run_id);
        clear_waiting(eq.cfg.name, run_id);  // gone (or its marker is) while it waited
        if (run_dir) co_await note_unmarked(eq, run_path);
        co_return;
    }
    {
        std::lock_guard lock(waiting_mutex);
        unmarked.erase({eq.cfg.name, run_id});
    }
    if (auto live = store->find_live(eq.cfg.name, run_id); live && *live) {
        eq.settle_pending.erase(run_id);
        co_return;  // known: not enqueued twice
    }
    auto pool_task = [this, run_path] {
        std::optional<queue::time_point> settle;
        auto r = enqueue_blocking(run_path, true, &settle);
        return std::pair{std::move(r), settle};
    };
    const auto outcome = co_await on_pool(std::move(pool_task));
    const auto& result = outcome.first;
    if (const auto& settle_until = outcome.second) {
        eq.settle_pending[run_id] = *settle_until;
        if (rescan_timer) rescan_timer->cancel();  // recompute the earliest deadline
        co_return;
    }
    eq.settle_pending.erase(run_id);
    if (result.error)
        log(log_level::warning, "{}/{}: not enqueued: {}", eq.cfg.name, run_id, result.error.message);
}

// A run without its marker and without a live job: listed with its marker-like files (read on the
// CPU pool: a run may hold many top-level files).
asio::awaitable<void> engine::impl::note_unmarked(equipment_runtime& eq, std::filesystem::path run_path) {
    unmarked_run u{eq.cfg.name, run_path.filename().string(), eq.cfg.marker_name, {}};
    const bool live = store && [&] {
        auto found = store->find_live(u.equipment, u.run_id);
        return found && *found;
    }();
    if (!live) {
        auto list_task = [run_path, marker = u.expected_marker] {
            return find_marker_like(run_path, marker);
        };
        u.marker_like = co_await on_pool(std::move(list_task));
    }
    std::lock_guard lock(waiting_mutex);
    if (live || marker_present(run_path, u.expected_marker))  // it may have come while we listed
        unmarked.erase({u.equipment, u.run_id});
    else
        unmarked[{u.equipment, u.run_id}] = std::move(u);
}

asio::awaitable<void> engine::impl::scan_root(equipment_runtime& eq) {
    std::vector<std::filesystem::path> runs;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(eq.cfg.runs_root, ec)) {
        if (entry.is_symlink(ec) || !entry.is_directory(ec)) continue;
        runs.push_back(entry.path());
    }
    {  // runs removed since the last scan no longer wait for a marker
        std::lock_guard lock(waiting_mutex);
        std::erase_if(unmarked, [&](const auto& item) {
            return item.first.first == eq.cfg.name &&
                   std::none_of(runs.begin(), runs.end(),
                                [&](const auto& run) { return run.filename() == item.first.second; });
        });
    }
    if (ec)
        log(log_level::warning, "{}: cannot scan runs root {}: {}", eq.cfg.name, eq.cfg.runs_root.string(),
            ec.message());
    std::sort(runs.begin(), runs.end());
    for (const auto& r : runs) {
        if (stopping) co_return;
        co_await consider_run(eq, r);
    }
}

asio::awaitable<void> engine::impl::rescan_loop() {
    auto next_scan = std::chrono::steady_clock::now();  // scan at start: runs that arrived while we were down
    while (!stopping) {
        const auto steady_now = std::chrono::steady_clock::now();
        if (steady_now >= next_scan || rescan_requested) {
            rescan_requested = false;
            for (auto& [name, eq] : equipment)
                if (eq.cfg.watch) co_await scan_root(eq);
            next_scan = config.rescan_interval.count() > 0
                            ? std::chrono::steady_clock::now() + config.rescan_interval
                            : std::chrono::steady_clock::time_point::max();
        }
        // Runs whose settle deadline has passed are looked at again.
        const auto t = now();
        auto deadline = next_scan;
        for (auto& [name, eq] : equipment) {
            std::vector<std::string> due;
            for (const auto& [run, when] : eq.settle_pending) {
                if (when <= t)
                    due.push_back(run);
                else  // looked at again at least hourly: a far-future mtime must not overflow the timer
                    deadline = std::min(deadline, std::chrono::steady_clock::now() +
                                                      std::min<std::chrono::steady_clock::duration>(
                                                          std::chrono::hours(1), when - t));
            }
            for (const auto& run : due) {
                if (stopping) co_return;
                eq.settle_pending.erase(run);
                co_await consider_run(eq, eq.cfg.runs_root / run);
            }
            if (!eq.settle_pending.empty() && !due.empty()) deadline = std::chrono::steady_clock::now();
        }
        if (stopping) break;
        rescan_timer->expires_at(deadline);
        boost::system::error_code ec;
        co_await rescan_timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

asio::awaitable<void> engine::impl::watch() {
    // ONE inotify instance for every watched runs root: the kernel allows 128 instances per user
    // by default, and a thousand equipment must not each hold one (nor a descriptor each).
    const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
        log(log_level::warning, "inotify unavailable ({}); relying on the periodic rescan",
            std::strerror(errno));
        co_return;
    }
    inotify = std::make_unique<asio::posix::stream_descriptor>(strand, fd);
    struct watched {
        equipment_runtime* eq = nullptr;
        std::filesystem::path run;  // empty = the equipment's runs root
    };
    std::map<int, watched> dirs;  // watch descriptor -> what it watches
    const auto watch_run = [&](equipment_runtime& eq, const std::filesystem::path& run) {
        const int wd = ::inotify_add_watch(
            fd, run.c_str(),
            IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB | IN_ONLYDIR | IN_DONT_FOLLOW);
        if (wd >= 0) dirs[wd] = {&eq, run};
    };
    for (auto& [name, eq] : equipment) {
        if (!eq.cfg.watch) continue;
        const auto root_wd =
            ::inotify_add_watch(fd, eq.cfg.runs_root.c_str(), IN_CREATE | IN_MOVED_TO | IN_ONLYDIR);
        if (root_wd < 0 || dirs.count(root_wd)) {
            log(log_level::warning, "{}: cannot watch {}: {}; relying on the periodic rescan", eq.cfg.name,
                eq.cfg.runs_root.string(),
                root_wd < 0 ? std::strerror(errno) : "the directory is watched for another equipment");
            continue;
        }
        dirs[root_wd] = {&eq, {}};
        std::error_code ec;
        for (const auto& entry : std::filesystem::directory_iterator(eq.cfg.runs_root, ec))
            if (!entry.is_symlink(ec) && entry.is_directory(ec) &&
                !marker_present(entry.path(), eq.cfg.marker_name))
                watch_run(eq, entry.path());  // runs with a marker are the rescan's business
    }
    std::vector<char> buf(64 * 1024);
    while (!stopping) {
        boost::system::error_code ec;
        const std::size_t n = co_await inotify->async_read_some(
            asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
        if (ec == asio::error::would_block || ec == asio::error::try_again) continue;
        if (ec) break;  // cancelled (stop) or the descriptor failed
        std::vector<std::pair<equipment_runtime*, std::filesystem::path>> candidates;
        for (std::size_t off = 0; off + sizeof(inotify_event) <= n;) {
            auto* ev = reinterpret_cast<const inotify_event*>(buf.data() + off);
            off += sizeof(inotify_event) + ev->len;
            const std::string name = ev->len ? std::string(ev->name) : std::string();
            if (ev->mask & IN_Q_OVERFLOW) {
                rescan_requested = true;
                rescan_timer->cancel();
                continue;
            }
            auto it = dirs.find(ev->wd);
            if (it == dirs.end()) continue;
            if (ev->mask & IN_IGNORED) {
                dirs.erase(it);
                continue;
            }
            auto& eq = *it->second.eq;
            if (it->second.run.empty()) {  // the runs root
                if ((ev->mask & IN_ISDIR) && !name.empty()) {
                    const auto run = eq.cfg.runs_root / name;
                    watch_run(eq, run);
                    // The marker may have been written before the watch existed; without it the
                    // run is listed as waiting for its marker.
                    candidates.emplace_back(&eq, run);
                }
                continue;
            }
            if (name == eq.cfg.marker_name) {
                candidates.emplace_back(&eq, it->second.run);
                ::inotify_rm_watch(fd, ev->wd);  // done watching this run
            }
        }
        std::sort(candidates.begin(), candidates.end(),
                  [](const auto& a, const auto& b) { return a.second < b.second; });
        candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
        for (auto& [eq, run] : candidates) {
            if (stopping) break;
            co_await consider_run(*eq, run);
        }
    }
}

}  // namespace labsync::engine
