// Component tests: the threaded builder on real files, vanishing and changing files.
#include "labsync/verifier/errc.hpp"
#include "labsync/verifier/manifest_builder.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <deque>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

using namespace labsync::verifier;
namespace fs = std::filesystem;
using labsync::test::temp_dir;
using labsync::test::write_file;

TEST_CASE("builder hashes every regular file, any thread count", "[builder]") {
    temp_dir t;
    auto run = t / "run";
    std::string big(3 * 1024 * 1024 + 17, 'x');  // several reads of 1 MiB plus a tail
    for (std::size_t i = 0; i < big.size(); i += 4099) big[i] = static_cast<char>(i);
    write_file(run / "big.bin", big);
    std::vector<manifest_entry> expected{{"big.bin", big.size(), sha256::of(big)}};
    std::deque<std::string> names;  // what `expected` views (a deque never moves its strings)
    for (int i = 0; i < 40; ++i) {
        const auto& name = names.emplace_back("d" + std::to_string(i % 4) + "/f" + std::to_string(i));
        std::string content(static_cast<std::size_t>(i) * 37, static_cast<char>('a' + i % 26));
        write_file(run / name, content);
        expected.push_back({name, content.size(), sha256::of(content)});
    }
    fs::create_symlink("big.bin", run / "link");
    for (unsigned threads : {1u, 2u, 7u}) {
        INFO("threads " << threads);
        build_options options;
        options.threads = threads;
        options.read_size = 1;  // raised to 1 MiB
        auto r = build_manifest(run, options);
        REQUIRE(r.ok());
        CHECK(r.manifest == manifest(expected));
        REQUIRE(r.findings.size() == 1);
        CHECK(r.findings[0].kind == finding_kind::symlink);
    }
}

TEST_CASE("a file that vanishes before it is read fails with local_file_vanished", "[builder]") {
    temp_dir t;
    auto run = t / "run";
    write_file(run / "keep", "k");
    write_file(run / "sub" / "victim", "v");
    build_options options;
    options.threads = 2;
    options.before_open = [&](std::string_view path) {
        if (path == "sub/victim") fs::remove(run / "sub" / "victim");
    };
    auto r = build_manifest(run, options);
    CHECK(r.error == errc::local_file_vanished);
    CHECK(r.error_path == "sub/victim");
    CHECK(r.manifest.entries().empty());
}

TEST_CASE("a file that grows or is rewritten after the walk fails with local_file_changed", "[builder]") {
    temp_dir t;
    auto run = t / "run";
    write_file(run / "grows", "1234");
    write_file(run / "touched", "abcd");
    SECTION("grows") {
        build_options options;
        options.before_open = [&](std::string_view path) {
            if (path != "grows") return;
            std::ofstream(run / "grows", std::ios::app) << "more";
        };
        auto r = build_manifest(run, options);
        CHECK(r.error == errc::local_file_changed);
        CHECK(r.error_path == "grows");
    }
    SECTION("same size, new mtime") {
        build_options options;
        options.before_open = [&](std::string_view path) {
            if (path != "touched") return;
            timespec times[2] = {{0, UTIME_OMIT}, {12345, 0}};
            REQUIRE(::utimensat(AT_FDCWD, (run / "touched").c_str(), times, 0) == 0);
        };
        auto r = build_manifest(run, options);
        CHECK(r.error == errc::local_file_changed);
        CHECK(r.error_path == "touched");
    }
    SECTION("replaced by a symlink") {
        build_options options;
        options.before_open = [&](std::string_view path) {
            if (path != "grows") return;
            fs::remove(run / "grows");
            fs::create_symlink("touched", run / "grows");
        };
        auto r = build_manifest(run, options);
        CHECK(r.error == errc::local_file_changed);
        CHECK(r.error_path == "grows");
    }
}

TEST_CASE("a file appended to by another thread while it is read fails with local_file_changed",
          "[builder]") {
    temp_dir t;
    auto run = t / "run";
    write_file(run / "live.dat", std::string(8u << 20, 'd'));
    // A second thread appends while the builder opens and reads; whichever check sees it first
    // (size/mtime against the walk, short read, fstat after the read) must refuse the file.
    // The writer keeps appending until the build returns, and the hook waits for its first
    // append, so the file changes after the walk on every run (no scheduling luck involved).
    std::atomic<bool> done{false};
    std::atomic<int> appends{0};
    std::jthread writer;
    build_options options;
    options.threads = 1;
    options.before_open = [&](std::string_view) {
        writer = std::jthread([&run, &done, &appends] {
            while (!done) {
                std::ofstream(run / "live.dat", std::ios::app) << "tail";
                ++appends;
            }
        });
        while (appends == 0) std::this_thread::yield();
    };
    auto r = build_manifest(run, options);
    done = true;
    writer.join();
    CHECK(r.error == errc::local_file_changed);
    CHECK(r.error_path == "live.dat");
}

TEST_CASE("empty run and missing run", "[builder]") {
    temp_dir t;
    fs::create_directory(t / "empty");
    auto r = build_manifest(t / "empty");
    REQUIRE(r.ok());
    CHECK(r.manifest.entries().empty());
    CHECK(r.manifest.to_sha256sum().empty());
    auto missing = build_manifest(t / "nope");
    CHECK(missing.error == std::errc::no_such_file_or_directory);
}
