// See receiver_access.hpp.
#include "labsync/transports/receiver_access.hpp"

#include "http_put_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

// GCC 12 reports a false mismatched-new-delete on Asio's coroutine frames (GCC bug 109224).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace labsync::transports {

access_answer ask_receiver_access(const http_put_config& config, std::string_view equipment,
                                  std::chrono::milliseconds timeout) {
    access_answer answer;
    auto fail_setup = [&](std::string why) {
        answer.setup_failed = true;
        answer.detail = std::move(why);
        return answer;
    };
    std::string why;
    auto url = parse_receiver_url(config.url, &why);
    if (!url) return fail_setup(why);
    detail::header_list headers;
    if (!config.token_file.empty()) {
        std::string token = read_token_file(config.token_file, &why);
        if (token.empty()) return fail_setup(why);
        headers.emplace_back("Authorization", "Bearer " + token);
    }
    http_put_config probe = config;
    probe.connect_timeout = timeout;
    probe.io_timeout = timeout;
    auto client = detail::http_client::create(*url, probe, &why);
    if (!client) return fail_setup(why);
    const std::string target = url->base_path + "/v1/ping?equipment=" + std::string(equipment);
    boost::asio::io_context io;
    detail::http_exchange x;
    boost::asio::co_spawn(
        io, [&]() -> boost::asio::awaitable<void> { x = co_await client->post(target, headers, timeout); },
        boost::asio::detached);
    io.run();
    answer.answered = x.completed;
    if (x.completed) {
        answer.status = x.status;
        answer.body = body_excerpt(x.body);
    } else {
        answer.failure = x.failure;
        answer.detail = x.failure_detail;
    }
    return answer;
}

}  // namespace labsync::transports
