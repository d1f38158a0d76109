// common::on_pool: the work runs on the pool, the awaiting coroutine resumes on its own executor
// with the result or the exception, for a task passed by reference and one moved in.
#include "labsync/common/on_pool.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <catch2/catch.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

namespace asio = boost::asio;
using labsync::common::on_pool;

namespace {

struct observed {
    std::thread::id io_thread;
    std::thread::id task_thread;
    std::thread::id resumed_on;
    std::string value;
    std::string error;
};

// Runs `body` as a coroutine on a fresh io_context (this thread) with a one-thread pool beside it.
// The coroutines take references only and name every executor they pass to on_pool (GCC 12, see
// on_pool.hpp).
template <class Body>
observed run(Body body) {
    asio::io_context io;
    asio::thread_pool pool(1);
    const asio::any_io_executor cpu = pool.get_executor();
    observed seen;
    seen.io_thread = std::this_thread::get_id();
    asio::co_spawn(io, body(cpu, seen), [&](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
    });
    io.run();
    pool.join();
    return seen;
}

}  // namespace

TEST_CASE("on_pool: a task by reference runs on the pool, the result comes back to the caller",
          "[common][on_pool]") {
    auto seen = run([](const asio::any_io_executor& cpu, observed& s) -> asio::awaitable<void> {
        auto task = [&s] {
            s.task_thread = std::this_thread::get_id();
            return std::string("hashed");
        };
        s.value = co_await on_pool(cpu, task);
        s.resumed_on = std::this_thread::get_id();
    });
    CHECK(seen.value == "hashed");
    CHECK(seen.task_thread != seen.io_thread);
    CHECK(seen.resumed_on == seen.io_thread);
}

// The moved-from local holds a null pointer: a task that still referred to it would crash.
TEST_CASE("on_pool: a moved task is owned by the operation", "[common][on_pool]") {
    auto seen = run([](const asio::any_io_executor& cpu, observed& s) -> asio::awaitable<void> {
        auto payload = std::make_shared<std::string>("owned");
        auto task = [p = std::move(payload), &s] {
            s.task_thread = std::this_thread::get_id();
            return *p + " by the task";
        };
        s.value = co_await on_pool(cpu, std::move(task));
        s.resumed_on = std::this_thread::get_id();
    });
    CHECK(seen.value == "owned by the task");
    CHECK(seen.task_thread != seen.io_thread);
    CHECK(seen.resumed_on == seen.io_thread);
}

TEST_CASE("on_pool: an exception thrown on the pool is rethrown in the awaiting coroutine",
          "[common][on_pool]") {
    auto seen = run([](const asio::any_io_executor& cpu, observed& s) -> asio::awaitable<void> {
        auto task = []() -> int { throw std::runtime_error("disk gone"); };
        try {
            co_await on_pool(cpu, task);
        } catch (const std::runtime_error& e) {
            s.error = e.what();
            s.resumed_on = std::this_thread::get_id();
        }
    });
    CHECK(seen.error == "disk gone");
    CHECK(seen.resumed_on == seen.io_thread);
}
