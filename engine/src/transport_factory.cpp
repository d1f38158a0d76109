// The real drivers behind engine_config.transport.kind.
#include "labsync/engine/engine.hpp"

#include "labsync/transports/http_put.hpp"

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
            case transport_kind::rsync_ssh:
            case transport_kind::rclone:
                why = fmt::format("the {} driver is not part of this build yet", to_string(e.transport.kind));
                return nullptr;
        }
        why = "unknown transport kind";
        return nullptr;
    };
}

}  // namespace labsync::engine
