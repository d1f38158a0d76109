// queue_bench [DIR] [JOBS]: store time per job with synchronous=FULL on the disk holding DIR
// (default: the current directory). Each job is what the engine writes on its happy path:
// create + queued->running->awaiting_verify->verified->cleanup_eligible->cleaned (6 commits),
// plus a next_due() lookup per job. Prints writes/s and ms per job.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "labsync/queue/job_store.hpp"

using namespace labsync::queue;
using steady = std::chrono::steady_clock;

namespace {

double ms_since(steady::time_point t) {
    return std::chrono::duration<double, std::milli>(steady::now() - t).count();
}

int fail(const store_error& err) {
    std::fprintf(stderr, "queue_bench: %s\n", err.message.c_str());
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    const std::filesystem::path dir = argc > 1 ? argv[1] : ".";
    const int jobs = argc > 2 ? std::stoi(argv[2]) : 300;
    const auto path = dir / ("queue-bench-" + std::to_string(::getpid()) + ".db");
    auto opened = job_store::open(path);
    if (!opened) return fail(opened.error());
    auto store = std::move(opened).value();

    const job_state happy_path[] = {job_state::running, job_state::awaiting_verify, job_state::verified,
                                    job_state::cleanup_eligible, job_state::cleaned};
    std::vector<double> per_job;
    per_job.reserve(static_cast<std::size_t>(jobs));
    int writes = 0;
    const auto all = steady::now();
    for (int i = 0; i < jobs; ++i) {
        const auto t = steady::now();
        auto created =
            store.create_job("bench", "run-" + std::to_string(i), "/runs/x", job_state::queued, "bench");
        if (!created) return fail(created.error());
        auto due = store.next_due("bench", store.now());
        if (!due) return fail(due.error());
        ++writes;
        for (auto to : happy_path) {
            if (auto err = store.transition(created->id, to, {.message = "bench"})) return fail(err);
            ++writes;
        }
        per_job.push_back(ms_since(t));
    }
    const double total_ms = ms_since(all);
    std::sort(per_job.begin(), per_job.end());
    const auto pct = [&](double p) { return per_job[static_cast<std::size_t>(p * (per_job.size() - 1))]; };
    std::printf("store: %s (synchronous=FULL, WAL)\n", path.string().c_str());
    std::printf("jobs: %d, commits: %d, total: %.0f ms\n", jobs, writes, total_ms);
    std::printf("commits/s: %.0f\n", writes / (total_ms / 1000.0));
    std::printf("store time per job (6 commits + next_due): median %.2f ms, p95 %.2f ms, max %.2f ms\n",
                pct(0.5), pct(0.95), per_job.back());

    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix, ec);
    return 0;
}
