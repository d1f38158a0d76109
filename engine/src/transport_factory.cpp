// The real drivers behind engine_config.transport.kind.
#include "labsync/engine/engine.hpp"

#include "labsync/transports/http_put.hpp"
#include "labsync/transports/rclone.hpp"
#include "labsync/transports/rsync_ssh.hpp"

#include <boost/asio/thread_pool.hpp>

#include <fmt/format.h>

namespace labsync::engine {

transport_factory default_transport_factory() {
    return [](const equipment_config& e, const transport_context& ctx,
              std::string& why) -> std::unique_ptr<transports::transport> {
        switch (e.transport.kind) {
            case transport_kind::http_put: {
                const auto& p = e.transport.http_put;
                transports::http_put_config c;
                c.url = p.url;
                c.ca_file = p.ca_file;
                c.client_cert = p.client_cert;
                c.client_key = p.client_key;
                c.token_file = p.token_file;
                c.outbox = ctx.outbox_dir;
                c.zstd_level = p.zstd_level;
                c.connect_timeout = p.connect_timeout;
                c.io_timeout = p.io_timeout;
                c.code_commit = p.code_commit;
                return transports::http_put::create(std::move(c), ctx.cpu_pool.get_executor(), &why);
            }
            case transport_kind::rsync_ssh: {
                const auto& p = e.transport.rsync_ssh;
                if (p.port < 1 || p.port > 65535) {
                    why = fmt::format("rsync_ssh.port {} is not a TCP port", p.port);
                    return nullptr;
                }
                transports::rsync_ssh_config c;
                c.host = p.host;
                c.port = static_cast<std::uint16_t>(p.port);
                c.user = p.user;
                c.identity_file = p.key_file;
                c.known_hosts = p.known_hosts;
                c.dest = p.remote_dir;
                c.rsync_binary = p.rsync_binary;
                c.ssh_binary = p.ssh_binary;
                c.extra_rsync_args = p.extra_args;
                return transports::rsync_ssh::create(std::move(c), ctx.cpu_pool.get_executor(), &why);
            }
            case transport_kind::rclone: {
                const auto& p = e.transport.rclone;
                transports::rclone_config c;
                c.remote = p.remote;
                c.config_file = p.config_file;
                c.rclone_binary = p.rclone_binary;
                c.extra_args = p.extra_args;
                if (ctx.log) {
                    auto log = ctx.log;
                    auto name = e.name;
                    c.log = [log, name](std::string_view line) {
                        log(log_level::info, fmt::format("{}: rclone: {}", name, line));
                    };
                }
                return transports::rclone::create(std::move(c), ctx.cpu_pool.get_executor(), &why);
            }
        }
        why = "unknown transport kind";
        return nullptr;
    };
}

}  // namespace labsync::engine
