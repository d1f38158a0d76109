// queue_crash_child DB SEED: drives jobs through random legal transitions forever, announcing
// each write on stdout before ("intent") and after ("done") its commit, unbuffered, so the parent
// test can SIGKILL it at any moment and know which states each job may legitimately be in.
//
//   done <id> <state>                  a job the store replayed on open (running -> queued)
//   opened
//   intent create <run>                about to create a job for <run>
//   done create <id> <run> <state>     committed
//   intent <id> <state>                about to move job <id> to <state>
//   done <id> <state>                  committed

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>

#include "labsync/queue/job_store.hpp"
#include "labsync/queue/state_machine.hpp"

using namespace labsync::queue;

namespace {

// One write(2) per line: nothing sits in a stdio buffer when the kill comes.
void say(const std::string& line) {
    std::string text = line + "\n";
    const char* p = text.data();
    std::size_t left = text.size();
    while (left > 0) {
        ssize_t n = ::write(1, p, left);
        if (n <= 0) std::_Exit(4);
        p += n;
        left -= static_cast<std::size_t>(n);
    }
}

[[noreturn]] void die(const std::string& what, const store_error& err) {
    std::fprintf(stderr, "queue_crash_child: %s: %s\n", what.c_str(), err.message.c_str());
    std::_Exit(3);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: queue_crash_child DB SEED\n");
        return 2;
    }
    const std::string seed = argv[2];
    std::mt19937_64 rng(std::stoull(seed));
    auto opened = job_store::open(argv[1]);
    if (!opened) die("open", opened.error());
    auto store = std::move(opened).value();
    for (auto id : store.replayed().requeued) say("done " + std::to_string(id) + " queued");
    say("opened");

    // The walk's own view of the jobs it may still move (everything but cleaned).
    std::map<std::int64_t, job_state> live;
    auto all = store.list({});
    if (!all) die("list", all.error());
    for (const auto& j : *all) {
        if (j.state != job_state::cleaned) live[j.id] = j.state;
    }

    for (std::uint64_t step = 0; step < 1'000'000; ++step) {
        if (live.size() < 6 || rng() % 8 == 0) {
            const std::string run = "run-" + seed + "-" + std::to_string(step);
            const auto initial = rng() % 5 == 0 ? job_state::blocked_by_validation : job_state::queued;
            say("intent create " + run);
            auto created = store.create_job("crash", run, "/runs/" + run, initial, "crash test");
            if (!created) die("create " + run, created.error());
            say("done create " + std::to_string(created->id) + " " + run + " " +
                std::string(to_string(initial)));
            live[created->id] = initial;
            continue;
        }
        auto it = live.begin();
        std::advance(it, static_cast<long>(rng() % live.size()));
        const auto [id, from] = *it;
        auto next = state_machine::successors(from);
        const auto to = next[rng() % next.size()];
        say("intent " + std::to_string(id) + " " + std::string(to_string(to)));
        store_error err;
        if (from == job_state::blocked_by_validation) {
            err = store.record_override(id, "crash-test", "step " + std::to_string(step));
        } else if (from == job_state::failed) {
            err = store.retry(id, "crash-test");
        } else {
            transition_details details;
            details.message = "step " + std::to_string(step);
            details.attempts = to == job_state::running ? attempts_update::increment : attempts_update::keep;
            if (to == job_state::failed) details.error = error_info{"network", "simulated"};
            err = store.transition(id, to, details);
        }
        if (err) die("move job " + std::to_string(id), err);
        say("done " + std::to_string(id) + " " + std::string(to_string(to)));
        if (to == job_state::cleaned) {
            live.erase(id);
        } else {
            live[id] = to;
        }
    }
    return 0;
}
