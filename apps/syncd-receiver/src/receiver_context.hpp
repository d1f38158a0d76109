#pragma once
// State shared by the listener and every connection. Threading model: `io` is run by
// config.io_threads threads and only moves bytes; each connection lives on its own strand.
// `disk` (an asio::thread_pool) does every blocking store call: hashing, writes, fsync, link,
// statvfs, sidecar reads. Results come back to the connection's strand through common::on_pool.
// A verify request re-reads a whole stored archive: `verify_slots` (a channel whose capacity is
// the limit, one message per re-hash in progress) bounds how many do so at once, so uploads
// always keep disk threads.

#include "labsync/receiver/metrics.hpp"
#include "labsync/receiver/run_store.hpp"
#include "labsync/receiver/upload_store.hpp"
#include "server_config.hpp"

#include <spdlog/logger.h>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <atomic>
#include <list>
#include <memory>
#include <mutex>
#include <optional>

namespace labsync::receiver {

// One open connection as the shutdown path sees it. Touched only on the connection's strand,
// except `registry` bookkeeping under its mutex.
struct connection_control {
    boost::asio::any_io_executor strand;
    boost::beast::tcp_stream* stream = nullptr;  // the lowest layer while the connection lives
    // Set on the strand, read by the acceptor when it must pick a connection to evict.
    std::atomic<bool> busy{false};           // a request is being served
    std::atomic<bool> authenticated{false};  // some request on it was granted (token/cert)
    bool close_requested = false;            // close() was called (strand only)
    void close();                            // call on the strand; before `stream` is set too
};

class connection_registry {
public:
    std::shared_ptr<connection_control> add(boost::asio::any_io_executor strand);
    void remove(const std::shared_ptr<connection_control>& c);
    std::size_t size() const;
    // Closes connections waiting for a request (all when `also_busy`).
    void close(bool also_busy);
    // At --max-connections: closes the oldest connection that never authenticated and is not
    // serving a request (a TLS handshake or an idle socket), so that idle or anonymous clients
    // cannot lock out an authenticated uploader. False when every connection is authenticated
    // or busy; the caller then refuses the new connection.
    bool evict_one_unauthenticated();

private:
    mutable std::mutex mutex_;
    std::list<std::shared_ptr<connection_control>> list_;
};

using slot_channel = boost::asio::experimental::concurrent_channel<void(boost::system::error_code)>;

struct receiver_context {
    const server_config& config;
    run_store store;
    metrics stats;
    boost::asio::io_context& io;
    boost::asio::thread_pool& disk;
    std::optional<boost::asio::ssl::context> tls;
    connection_registry connections;
    std::shared_ptr<spdlog::logger> log;
    std::atomic<bool> stopping{false};
    std::unique_ptr<slot_channel> verify_slots;
    std::unique_ptr<upload_store> uploads;           // resumable uploads under <store>/.uploads
    std::atomic<std::int64_t> last_upload_sweep{0};  // unix seconds of the last expiry sweep
};

}  // namespace labsync::receiver
