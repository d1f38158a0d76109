// The command-line conventions of syncd and syncd-receiver, on the real binaries: usage errors
// exit 2, bare `syncd` lists the subcommands, `--version` names the commit and the build date, and
// `cmake --install` puts the man pages and a bash completion that completes subcommands.
#include "process.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <regex>
#include <string>

using namespace labsync::test;

namespace {

std::string completions(const std::filesystem::path& script, const std::string& words, int cword) {
    auto r = run_process({"bash", "-c",
                          "source \"$0\"; COMP_WORDS=(" + words + "); COMP_CWORD=" + std::to_string(cword) +
                              "; _syncd; echo \"${COMPREPLY[@]}\"",
                          script.string()});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return r.out;
}

}  // namespace

TEST_CASE("usage errors exit 2 and bare syncd lists the subcommands", "[cli]") {
    // Before: CLI11's own codes (105 to 109), and bare `syncd` said only that a subcommand is required.
    for (const auto& argv :
         std::vector<std::vector<std::string>>{{LABSYNC_SYNCD, "--no-such-option"},
                                               {LABSYNC_SYNCD, "no-such-command"},
                                               {LABSYNC_SYNCD, "list", "--state", "nonsense"},
                                               {LABSYNC_SYNCD, "list", "--limit", "many"},
                                               {LABSYNC_SYNCD, "enqueue"},
                                               {LABSYNC_SYNCD, "doctor", "--timeout", "0"},
                                               {LABSYNC_RECEIVER, "--no-such-option"},
                                               {LABSYNC_RECEIVER, "--io-threads", "x"}}) {
        auto r = run_process(argv);
        INFO(argv[1] << " -> " << r.err);
        CHECK(r.exit_code == 2);
        CHECK_FALSE(r.err.empty());
    }
    auto bare = run_process({LABSYNC_SYNCD});
    CHECK(bare.exit_code == 2);
    for (const char* sub : {"run", "status", "list", "enqueue", "show", "doctor", "check-archive", "config"})
        CHECK_THAT(bare.err, Catch::Contains(std::string(sub)));
    auto help = run_process({LABSYNC_SYNCD, "--help"});
    CHECK(help.exit_code == 0);
    CHECK_THAT(help.out, Catch::Contains("doctor"));
}

TEST_CASE("syncd and syncd-receiver --version name the version, the git commit and the build date", "[cli]") {
    const std::regex format(
        R"(^syncd(-receiver)? \d+\.\d+\.\d+ \(commit ([0-9a-f]{12}(-dirty)?|unknown), built )"
        R"(\d{4}-\d{2}-\d{2}\)\n$)");
    for (const char* program : {LABSYNC_SYNCD, LABSYNC_RECEIVER}) {
        auto r = run_process({program, "--version"});
        INFO(r.out);
        CHECK(r.exit_code == 0);
        CHECK(std::regex_match(r.out, format));
    }
}

TEST_CASE("cmake --install puts the man pages and a bash completion that completes subcommands", "[cli]") {
    temp_dir prefix;
    process_options po;
    po.timeout = std::chrono::seconds(120);
    auto r = run_process({"cmake", "--install", LABSYNC_BUILD_DIR, "--prefix", prefix.path().string()}, po);
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    const auto man = prefix / "share" / "man" / "man1";
    for (const char* page : {"syncd.1", "syncd-receiver.1"}) {
        INFO(page);
        REQUIRE(std::filesystem::is_regular_file(man / page));
    }
    const std::string syncd_man = read_file(man / "syncd.1");
    CHECK_THAT(syncd_man, Catch::StartsWith(".TH SYNCD 1 ") && Catch::Contains("syncd enqueue") &&
                              Catch::Contains("\\-\\-dry\\-run") && Catch::Contains(".SH EXIT STATUS"));
    CHECK_THAT(read_file(man / "syncd-receiver.1"), Catch::Contains("\\-\\-tls\\-cert"));
    const auto completion = prefix / "share" / "bash-completion" / "completions" / "syncd";
    REQUIRE(std::filesystem::is_regular_file(completion));
    CHECK(completions(completion, "syncd en", 1) == "enqueue\n");
    CHECK_THAT(completions(completion, "syncd ''", 1), Catch::Contains("doctor") && Catch::Contains("list"));
    CHECK(completions(completion, "syncd config ch", 2) == "check\n");
    CHECK_THAT(completions(completion, "syncd list --", 2),
               Catch::Contains("--equipment") && Catch::Contains("--since") && Catch::Contains("--limit"));
    CHECK_THAT(completions(completion, "syncd doctor --as", 2), Catch::Contains("--as-user"));
}
