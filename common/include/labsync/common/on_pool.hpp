#pragma once
// on_pool(pool, f): runs the blocking f() on `pool` (a thread pool's or strand's executor) and
// resumes the awaiting coroutine on its own executor with f's result; an exception thrown by f is
// rethrown there. The one way CPU and disk work leaves an I/O thread (engine, http_put, the
// subprocess drivers, the receiver's disk pool). Requires labsync::asio (Asio is compiled there).
//
//   auto hash = [&] { return build_manifest(path); };   // a named local of the awaiting frame
//   auto built = co_await common::on_pool(cpu, hash);   // or on_pool(cpu, std::move(hash))
//
// Why not co_spawn of a coroutine lambda, and why f is a named object: GCC 12 destroys twice the
// lambda arguments copied into a coroutine frame and the non-trivial temporaries of a co_await
// full-expression. So on_pool is not a coroutine, and f is bound by reference: an lvalue must
// outlive the co_await (it is only referenced), an rvalue is moved into the operation.
// The result type must be default constructible.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>
#include <memory>
#include <type_traits>
#include <utility>

namespace labsync::common {

template <class F>
auto on_pool(const boost::asio::any_io_executor& pool, F&& f) {
    using task = std::remove_cvref_t<F>;
    using result = std::invoke_result_t<task&>;
    static_assert(std::is_default_constructible_v<result>,
                  "on_pool: the result must be default constructible");
    // An lvalue travels as a pointer (trivial to copy into Asio's frames); an rvalue is owned.
    auto owned = [&] {
        if constexpr (std::is_lvalue_reference_v<F>)
            return std::addressof(f);
        else
            return std::make_shared<task>(std::move(f));
    }();
    return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&,
                                       void(std::exception_ptr, result)>(
        [pool](auto handler, auto fn) {
            boost::asio::post(pool, [handler = std::move(handler), fn = std::move(fn)]() mutable {
                std::exception_ptr failure;
                result value{};
                try {
                    value = (*fn)();
                } catch (...) {
                    failure = std::current_exception();
                }
                auto home = boost::asio::get_associated_executor(handler);
                boost::asio::dispatch(
                    home, [handler = std::move(handler), failure, value = std::move(value)]() mutable {
                        std::move(handler)(failure, std::move(value));
                    });
            });
        },
        boost::asio::use_awaitable, std::move(owned));
}

}  // namespace labsync::common
