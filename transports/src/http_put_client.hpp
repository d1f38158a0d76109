#pragma once
// The HTTP(S) client of http_put: a small pool of kept-alive connections to one receiver, a
// streaming PUT with Expect: 100-continue, and a GET. Plain header: Beast stays in the .cpp.

#include "labsync/transports/http_put_config.hpp"
#include "labsync/transports/http_status.hpp"
#include "labsync/transports/transport.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace labsync::transports::detail {

using header_list = std::vector<std::pair<std::string, std::string>>;

struct http_exchange {
    bool completed = false;  // a full response was read
    int status = 0;
    std::string reason;
    std::string body;                     // at most 64 KiB
    std::optional<http_failure> failure;  // set when !completed
    std::string failure_detail;           // the system/TLS error text
    bool body_sent = false;
    header_list headers;  // the final response's fields
};

// The value of a response field (case-insensitive name), nullopt when absent.
std::optional<std::string> field_of(const http_exchange& x, std::string_view name);

// A request body: `size` bytes of an open file from `offset`, read with pread in chunks, or
// taken from memory through `view` (http_put's spool) when set. Progress is reported as
// (offset + sent, total).
struct file_body {
    int fd = -1;
    // Up to `max` contiguous bytes at `at` (an absolute offset, like `offset`), valid until the
    // request completes; empty means they are gone (a local error).
    std::function<std::span<const std::byte>(std::uint64_t at, std::size_t max)> view;
    std::uint64_t size = 0;
    std::uint64_t offset = 0;
    std::uint64_t total = 0;  // 0: size
    std::size_t chunk_bytes = 1 << 20;
    bandwidth_lease* limiter = nullptr;  // this upload's share of the budget; null = unlimited
    const progress_fn* on_progress = nullptr;
};

class http_client {
public:
    // Builds the TLS context (CA, client certificate); nullptr and `why` on a bad file.
    static std::unique_ptr<http_client> create(const parsed_url& url, const http_put_config& config,
                                               std::string* why);
    ~http_client();

    // The arguments are referenced until the returned awaitable completes (await it at once).
    // `response_timeout` bounds the wait for the final response once the request is sent, and a
    // PUT's wait for 100 Continue (at least the config's io_timeout): the receiver may read a
    // stored archive before answering.
    boost::asio::awaitable<http_exchange> put(const std::string& target, const header_list& headers,
                                              file_body& body, std::chrono::milliseconds response_timeout);
    boost::asio::awaitable<http_exchange> get(const std::string& target, const header_list& headers,
                                              std::chrono::milliseconds response_timeout);
    // Resumable uploads (docs/protocol.md): POST without a body, HEAD, DELETE, PATCH with a body.
    boost::asio::awaitable<http_exchange> post(const std::string& target, const header_list& headers,
                                               std::chrono::milliseconds response_timeout);
    boost::asio::awaitable<http_exchange> head(const std::string& target, const header_list& headers,
                                               std::chrono::milliseconds response_timeout);
    boost::asio::awaitable<http_exchange> del(const std::string& target, const header_list& headers,
                                              std::chrono::milliseconds response_timeout);
    boost::asio::awaitable<http_exchange> patch(const std::string& target, const header_list& headers,
                                                file_body& body, std::chrono::milliseconds response_timeout);

    std::uint64_t connections_opened() const noexcept;

    struct impl;

private:
    explicit http_client(std::unique_ptr<impl> p);
    std::unique_ptr<impl> impl_;
};

}  // namespace labsync::transports::detail
