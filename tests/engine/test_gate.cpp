// The pre-sync gate: the pure decision over constructed inputs, then the I/O half against real
// directories (symlinks, fifos, meta.json) and a real external validator process.
#include "labsync/engine/external_check.hpp"
#include "labsync/engine/gate.hpp"

#include "temp_dir.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <limits>

using namespace labsync::engine;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using labsync::test::temp_dir;
using labsync::test::write_file;

namespace {

equipment_config eq() {
    equipment_config e;
    e.name = "scope-1";
    e.settle = 10s;
    return e;
}

bool has_code(const std::vector<gate_finding>& f, std::string_view code, severity s) {
    return std::any_of(f.begin(), f.end(), [&](const auto& x) { return x.code == code && x.level == s; });
}

gate_inputs clean_inputs(std::int64_t marker_mtime_ns = 2'000'000'000'000'000'000) {
    gate_inputs in;
    in.marker_present = true;
    in.walk.files.push_back({"a.bin", 100, 1'000'000'000'000'000'000, 0100644});
    in.walk.files.push_back({"done.marker", 0, marker_mtime_ns, 0100644});
    return in;
}

}  // namespace

TEST_CASE("gate: a clean run has no findings and settles settle seconds after its newest file", "[gate]") {
    auto out = evaluate_gate(clean_inputs(), eq(), true);
    CHECK(out.findings.empty());
    CHECK_FALSE(out.blocked());
    CHECK(out.total_bytes == 100);
    CHECK(out.file_count == 2);
    CHECK(out.settled_at == std::chrono::system_clock::time_point(std::chrono::seconds(2'000'000'000) + 10s));
}

TEST_CASE("gate: marker missing is hard for the watcher and soft for an API enqueue", "[gate]") {
    auto in = clean_inputs();
    in.marker_present = false;
    CHECK(has_code(evaluate_gate(in, eq(), true).findings, "marker_missing", severity::hard));
    auto soft_out = evaluate_gate(in, eq(), false);
    CHECK(has_code(soft_out.findings, "marker_missing", severity::soft));
    CHECK_FALSE(soft_out.blocked());
}

TEST_CASE("gate: symlinks escaping are hard, inside soft, special files hard", "[gate]") {
    using labsync::verifier::finding_kind;
    auto in = clean_inputs();
    in.walk.findings = {
        {finding_kind::symlink, "sub/in", "symlink"}, {finding_kind::symlink, "sub/out", "symlink"},
        {finding_kind::symlink, "abs", "symlink"},    {finding_kind::symlink, "gone", "symlink"},
        {finding_kind::fifo, "pipe", "fifo"},         {finding_kind::device, "dev", "device"},
        {finding_kind::socket, "sock", "socket"},     {finding_kind::unreadable, "secret", "EACCES"}};
    in.symlinks = {{"sub/in", "../a.bin"}, {"sub/out", "../../etc/passwd"}, {"abs", "/etc/passwd"}};
    auto f = evaluate_gate(in, eq(), true).findings;
    auto find = [&](std::string_view path) {
        return *std::find_if(f.begin(), f.end(), [&](const auto& x) { return x.path == path; });
    };
    CHECK(find("sub/in").level == severity::soft);
    CHECK(find("sub/out").code == "symlink_escape");
    CHECK(find("sub/out").level == severity::hard);
    CHECK(find("abs").code == "symlink_escape");
    CHECK(find("gone").code == "symlink_unreadable");
    CHECK(find("pipe").code == "special_file");
    CHECK(find("dev").code == "special_file");
    CHECK(find("sock").code == "special_file");
    CHECK(find("secret").code == "unreadable");
    CHECK(find("secret").level == severity::hard);
}

TEST_CASE("gate: symlink escape is decided lexically", "[gate]") {
    CHECK_FALSE(symlink_escapes("a", "b"));
    CHECK_FALSE(symlink_escapes("d/a", "../b"));
    CHECK(symlink_escapes("a", "../b"));
    CHECK(symlink_escapes("d/a", "../../b"));
    CHECK_FALSE(symlink_escapes("d/a", "x/../../b"));
    CHECK(symlink_escapes("d/a", "x/../../../b"));
    CHECK(symlink_escapes("a", "/abs"));
    CHECK(symlink_escapes("a", ""));
    CHECK_FALSE(symlink_escapes("a", "./././b"));
    CHECK(symlink_escapes("a", ".."));
}

TEST_CASE("gate: size and file-count limits", "[gate]") {
    auto e = eq();
    e.gate.max_bytes = 100;
    e.gate.max_files = 2;
    CHECK(evaluate_gate(clean_inputs(), e, true).findings.empty());
    e.gate.max_bytes = 99;
    e.gate.max_files = 1;
    auto f = evaluate_gate(clean_inputs(), e, true).findings;
    CHECK(has_code(f, "too_large", severity::hard));
    CHECK(has_code(f, "too_many_files", severity::hard));
}

TEST_CASE("gate: meta.json required, missing, malformed, not an object", "[gate]") {
    auto e = eq();
    auto in = clean_inputs();
    CHECK(evaluate_gate(in, e, true).findings.empty());  // not required, absent: fine
    e.gate.meta_json_required = true;
    CHECK(has_code(evaluate_gate(in, e, true).findings, "meta_json_missing", severity::hard));
    in.meta_json = R"({"sample": 1})";
    CHECK(evaluate_gate(in, e, true).findings.empty());
    in.meta_json = R"({"sample": )";
    auto f = evaluate_gate(in, e, true).findings;
    REQUIRE(has_code(f, "meta_json_invalid", severity::hard));
    CHECK_THAT(f.front().message, Catch::Contains("at byte"));
    in.meta_json = "[1,2]";
    CHECK(has_code(evaluate_gate(in, e, true).findings, "meta_json_invalid", severity::hard));
    e.gate.meta_json_required = false;
    CHECK(has_code(evaluate_gate(in, e, true).findings, "meta_json_invalid", severity::soft));
    in.meta_json.reset();
    in.meta_json_error = "Permission denied";
    CHECK(has_code(evaluate_gate(in, e, true).findings, "meta_json_invalid", severity::soft));
}

TEST_CASE("gate: a walk failure is hard", "[gate]") {
    auto in = clean_inputs();
    in.walk.error = std::make_error_code(std::errc::permission_denied);
    CHECK(has_code(evaluate_gate(in, eq(), true).findings, "walk_failed", severity::hard));
}

TEST_CASE("external check: interpreting what the program did", "[gate]") {
    const std::vector<std::string> argv{"/opt/check"};
    external_run r;
    CHECK(interpret_external_run(argv, r, 5s).front().code == "external_not_started");
    r.started = true;
    r.timed_out = true;
    auto f = interpret_external_run(argv, r, 5s);
    CHECK(f.front().code == "external_timeout");
    CHECK_THAT(f.front().message, Catch::Contains("5000 ms"));
    r.timed_out = false;
    r.signal = 11;
    CHECK(interpret_external_run(argv, r, 5s).front().code == "external_crashed");
    r.signal = 0;
    r.exit_code = 0;
    r.out = "not json";
    CHECK(interpret_external_run(argv, r, 5s).front().code == "external_bad_output");
    r.exit_code = 3;
    CHECK(interpret_external_run(argv, r, 5s).front().code == "external_failed");
    r.out = R"({"findings":[{"severity":"soft","code":"odd","message":"m","path":"p"}]})";
    f = interpret_external_run(argv, r, 5s);  // soft findings but exit 3 -> a hard failure too
    CHECK(has_code(f, "external:odd", severity::soft));
    CHECK(has_code(f, "external_failed", severity::hard));
    r.exit_code = 0;
    CHECK(interpret_external_run(argv, r, 5s).size() == 1);
    r.out = R"([{"severity":"hard","code":"no_sample_id"}])";
    CHECK(has_code(interpret_external_run(argv, r, 5s), "external:no_sample_id", severity::hard));
    r.out = R"({"findings":[{"severity":"fatal","code":"x"}]})";
    CHECK_THAT(interpret_external_run(argv, r, 5s).front().message, Catch::Contains("findings[0]"));
    r.out = R"({"findings":[{"severity":"hard"}]})";
    CHECK(interpret_external_run(argv, r, 5s).front().code == "external_bad_output");
    r.out = R"({"other":1})";
    CHECK(interpret_external_run(argv, r, 5s).front().code == "external_bad_output");
    r.out = R"({"findings":[]})";
    CHECK(interpret_external_run(argv, r, 5s).empty());
}

TEST_CASE("external check: real processes (ok, findings, crash, timeout, missing)", "[gate]") {
    temp_dir dir;
    fs::create_directories(dir / "run");
    const auto sh = [](std::string script) {
        return std::vector<std::string>{"/bin/sh", "-c", script, "check"};
    };
    // The run path is appended: $1 in the script.
    auto f = run_external_check(sh(R"(test -d "$1" && echo '{"findings":[]}')"), dir / "run", 10s);
    CHECK(f.empty());
    f = run_external_check(sh(R"(echo '[{"severity":"hard","code":"bad_sample","path":"x"}]')"), dir / "run",
                           10s);
    CHECK(has_code(f, "external:bad_sample", severity::hard));
    f = run_external_check(sh("kill -SEGV $$"), dir / "run", 10s);
    CHECK(has_code(f, "external_crashed", severity::hard));
    const auto start = std::chrono::steady_clock::now();
    f = run_external_check(sh("sleep 30"), dir / "run", 300ms);
    CHECK(has_code(f, "external_timeout", severity::hard));
    CHECK(std::chrono::steady_clock::now() - start < 5s);
    f = run_external_check({"/nonexistent/validator"}, dir / "run", 10s);
    CHECK(has_code(f, "external_not_started", severity::hard));
    CHECK_THAT(f.front().message, Catch::Contains("/nonexistent/validator"));
    f = run_external_check(sh("echo oops >&2; exit 2"), dir / "run", 10s);
    CHECK(has_code(f, "external_failed", severity::hard));
    CHECK_THAT(f.front().message, Catch::Contains("oops"));
}

TEST_CASE("gate: collecting inputs from a real run directory", "[gate]") {
    temp_dir dir;
    const auto run = dir / "run-1";
    write_file(run / "data/a.bin", "hello");
    write_file(run / "meta.json", R"({"ok":true})");
    write_file(run / "done.marker", "");
    fs::create_symlink("../meta.json", run / "data/link-in");
    fs::create_symlink("/etc/hostname", run / "link-out");
    REQUIRE(::mkfifo((run / "fifo").c_str(), 0600) == 0);
    auto e = eq();
    e.gate.meta_json_required = true;
    auto in = collect_gate_inputs(run, e);
    CHECK(in.marker_present);
    REQUIRE(in.meta_json);
    auto out = evaluate_gate(in, e, true);
    CHECK(has_code(out.findings, "symlink", severity::soft));
    CHECK(has_code(out.findings, "symlink_escape", severity::hard));
    CHECK(has_code(out.findings, "special_file", severity::hard));
    CHECK(out.file_count == 3);
    CHECK(out.total_bytes == 5 + 11);

    fs::remove(run / "done.marker");
    fs::create_symlink("data/a.bin", run / "done.marker");  // a symlinked marker does not count
    CHECK_FALSE(collect_gate_inputs(run, e).marker_present);

    // The run path itself must not be a symlink.
    fs::create_directory_symlink(run, dir / "alias");
    CHECK(has_code(evaluate_gate(collect_gate_inputs(dir / "alias", e), e, true).findings, "walk_failed",
                   severity::hard));

    e.gate.external_command = {"/bin/sh", "-c",
                               "echo '{\"findings\":[{\"severity\":\"hard\",\"code\":\"x\"}]}'", "v"};
    CHECK(
        has_code(evaluate_gate(collect_gate_inputs(run, e), e, true).findings, "external:x", severity::hard));
}

// Found by fuzz_gate_json (docs/reliability.md): a number out of double range made nlohmann throw
// out_of_range, which escaped interpret_external_run instead of becoming a hard finding.
TEST_CASE("external check: a number out of range is bad output, not an exception", "[gate][fuzz]") {
    external_run r;
    r.started = true;
    r.exit_code = 0;
    r.out = "9E999";
    auto f = interpret_external_run({"/opt/check"}, r, 5s);
    REQUIRE(f.size() == 1);
    CHECK(f.front().code == "external_bad_output");
    r.out = R"({"findings":[{"severity":"hard","code":"x","size":1e400}]})";
    CHECK(interpret_external_run({"/opt/check"}, r, 5s).front().code == "external_bad_output");
}

TEST_CASE("gate: a newest mtime at the end of the nanosecond range saturates settled_at", "[gate]") {
    auto in = clean_inputs(std::numeric_limits<std::int64_t>::max());  // a file dated past 2262
    const auto out = evaluate_gate(in, eq(), true);
    CHECK(out.newest_mtime == std::chrono::system_clock::time_point(
                                  std::chrono::nanoseconds(std::numeric_limits<std::int64_t>::max())));
    CHECK(out.settled_at == std::chrono::system_clock::time_point::max());  // not wrapped into the past
    CHECK(out.settled_at > std::chrono::system_clock::now());
}

TEST_CASE("gate: why a run waits, in words", "[gate]") {
    const auto now = std::chrono::system_clock::now();
    CHECK(describe_settle_wait(now + 24h, now + 24h + 10s, now) == "mtime 1 day in the future, waiting");
    CHECK(describe_settle_wait(now + 24h - 3s, now + 24h, now) == "mtime 1 day in the future, waiting");
    CHECK(describe_settle_wait(now + 3h, now + 3h, now) == "mtime 3 hours in the future, waiting");
    CHECK(describe_settle_wait(now - 5s, now + 40s, now) == "settling, ships in 40 seconds");
    CHECK(describe_settle_wait(now - 50s, now - 40s, now) == "settled, about to be queued");
    CHECK_THAT(describe_settle_wait(std::chrono::system_clock::time_point::max(),
                                    std::chrono::system_clock::time_point::max(), now),
               Catch::EndsWith("years in the future, waiting"));
    CHECK(human_span(1s) == "1 second");
    CHECK(human_span(2min) == "2 minutes");
    CHECK(human_span(48h) == "2 days");
}

TEST_CASE("gate: describe_blocking names hard findings, cut to a readable line", "[gate]") {
    std::vector<gate_finding> findings{
        {severity::soft, "marker_missing", "no marker", ""},
        {severity::hard, "symlink_escape", "symlink 'cal' points outside the run (-> '/etc')", "cal"},
        {severity::hard, "special_file", "is a fifo", "pipe"},
    };
    CHECK(
        describe_blocking(findings) ==
        "[symlink_escape] symlink 'cal' points outside the run (-> '/etc'); [special_file] pipe: is a fifo");
    for (int i = 0; i < 10; ++i)
        findings.push_back({severity::hard, "too_large", std::string(500, 'x'), "f"});
    const auto line = describe_blocking(findings, 3);
    CHECK_THAT(line, Catch::EndsWith("; (+9 more: syncd show RUN)"));
    CHECK(line.size() < 3 * 210 + 40);
    // The findings a created event recorded come back from its message.
    const auto back = findings_from_event("blocked by the pre-sync gate: ... findings=" + to_json(findings));
    CHECK(back == findings);
    CHECK(findings_from_event("enqueued (API)").empty());
}
