// Interoperability: tus-js-client 4.x (npm), a client this project did not write, in its
// `ietf-draft-05` mode creates, aborts, resumes and completes an upload against a TLS receiver
// (tus_upload.js). Needs node and npm; the package is installed on first use into a cache dir
// next to this test binary (the npm registry is the only network it reaches). Without node or
// npm, or when the install fails, the test reports itself skipped.
#include "upload_client.hpp"

#include "skip.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

using namespace labsync::test;
namespace fs = std::filesystem;

namespace {

bool have(const std::string& program) {
    return run_process({"sh", "-c", "command -v " + program}).exit_code == 0;
}

// <dir of this binary>/tusjs-cache/node_modules, with tus-js-client@4 installed.
fs::path tus_modules() {
    if (!have("node") || !have("npm")) skip_test("node or npm is not installed");
    const fs::path cache = fs::read_symlink("/proc/self/exe").parent_path() / "tusjs-cache";
    const fs::path modules = cache / "node_modules";
    if (fs::exists(modules / "tus-js-client" / "package.json")) return modules;
    fs::create_directories(cache);
    process_options o;
    o.timeout = std::chrono::minutes(4);
    auto r = run_process({"npm", "install", "--prefix", cache.string(), "--no-audit", "--no-fund", "--silent",
                          "tus-js-client@4"},
                         o);
    if (r.exit_code != 0 || !fs::exists(modules / "tus-js-client" / "package.json"))
        skip_test("npm install tus-js-client@4 failed: " + r.err);
    return modules;
}

}  // namespace

TEST_CASE("tus-js-client (ietf-draft-05) upload: creates, aborts, resumes and completes over TLS",
          "[receiver][upload][tusjs]") {
    const auto modules = tus_modules();
    receiver_options o;
    o.tls = true;
    o.extra_args = {"--max-body", "256K"};
    receiver_fixture rx(o);
    temp_dir tmp;
    auto archive = make_run_archive(tmp.path(), false, 1500000);
    const auto size = fs::file_size(archive);
    const std::string digest = repr_digest_header(archive).substr(std::string("Repr-Digest: ").size());

    process_options po;
    po.env = {{"NODE_PATH", modules.string()}, {"NODE_EXTRA_CA_CERTS", rx.pki().ca_cert.string()}};
    po.timeout = std::chrono::minutes(2);
    auto r = run_process({"node", std::string(LABSYNC_TEST_SOURCE_DIR) + "/tests/receiver/tus_upload.js",
                          rx.run_url("eq1", "run-tus"), archive.string(), rx.token(), digest, "262144"},
                         po);
    INFO("node stderr: " << r.err << "\nreceiver: " << rx.stderr_text());
    REQUIRE(r.exit_code == 0);
    auto result = nlohmann::json::parse(r.out);
    CHECK(result["done"] == true);
    CHECK(result["url"].get<std::string>().find("/v1/uploads/") != std::string::npos);
    // Resumed from where the receiver was, not from zero.
    CHECK(result["resumedFrom"].get<std::uint64_t>() > 0);
    CHECK(read_file(rx.store() / "eq1" / "run-tus.tar.zst") == read_file(archive));
    auto sidecar = nlohmann::json::parse(read_file(rx.store() / "eq1" / "run-tus.json"));
    CHECK(sidecar["sha256"] == sha256_of_file(archive));
    CHECK(sidecar["bytes"] == size);
}
