#pragma once
// The rsync_ssh driver (SPEC §6): rsync over ssh into a staging directory on the remote, one
// rename into DEST/<equipment>/<run>/, and a probe that hashes the remote copy on the remote host
// (sha256sum, the verifier's canonical form) over the same ssh master connection.
//
// Every ssh (and rsync's ssh) shares one ControlMaster socket per destination in a private
// directory, so shipping many runs pays one handshake. Decisions live in rsync_ssh_commands
// (argv, quoting, parsing) and classify_rsync (exit codes, stderr); this class only sequences
// the subprocesses.

#include "labsync/transports/rsync_ssh_commands.hpp"
#include "labsync/transports/rsync_ssh_config.hpp"
#include "labsync/transports/transport.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

namespace labsync::transports {

struct subprocess_result;

class rsync_ssh final : public transport {
public:
    // `cpu` computes a local manifest when a request carries none (only to judge an existing
    // remote run). nullptr and `why` set when the configuration is unusable.
    static std::unique_ptr<rsync_ssh> create(rsync_ssh_config config, boost::asio::any_io_executor cpu,
                                             std::string* why);
    // Closes the master connection (ssh -O exit) and removes a control dir it created.
    ~rsync_ssh() override;

    std::string_view name() const noexcept override { return "rsync_ssh"; }
    // The evidence of a successful push is the manifest the remote computed right after the rename.
    boost::asio::awaitable<push_result> push(const push_request& request) override;
    boost::asio::awaitable<probe_result> probe(const push_request& request) override;

    const rsync_ssh_config& config() const noexcept { return config_; }

private:
    rsync_ssh(rsync_ssh_config config, boost::asio::any_io_executor cpu, bool own_control_dir);

    struct ssh_outcome;
    boost::asio::awaitable<ssh_outcome> run_ssh(const std::string& command, const std::string& equipment);
    boost::asio::awaitable<probe_result> remote_manifest(const std::string& dir,
                                                         const std::string& equipment);
    boost::asio::awaitable<transport_result> judge_existing(const push_request& request,
                                                            const std::string& dir);
    // `moved`: bytes rsync reported sent, added up over restarts.
    boost::asio::awaitable<transport_result> transfer(const push_request& request, const remote_paths& paths,
                                                      std::uint64_t& moved);
    probe_result parse_manifest_output(std::string_view text, const std::string& dir) const;

    rsync_ssh_config config_;
    boost::asio::any_io_executor cpu_;
    bool own_control_dir_ = false;
};

}  // namespace labsync::transports
