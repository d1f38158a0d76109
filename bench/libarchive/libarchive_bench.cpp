// Issue 17 §6: libarchive's pax writer (pack path) and reader (member check) against labsync's
// own code, measured in one process on the same run, alternating. Built only on demand
// (`cmake --build build --target libarchive_bench`, needs libarchive-dev); not a test.
//
//   libarchive_bench pack  RUN_DIR OUT_DIR ROUNDS   pack_run vs libarchive pax+zstd writer
//   libarchive_bench check ARCHIVE ROUNDS           archive_checker (1 and 2 threads) vs reader
//
// Both sides do the same work: the writer hashes every member and the compressed output, appends
// the sha256sum manifest as the last member and fsyncs + renames; the reader hashes the raw
// stream and every member and compares them with the embedded manifest. The libarchive side
// skips labsync's path-safety and pax-field checks, so it is favoured, not handicapped.
#include "labsync/verifier/archive_checker.hpp"
#include "labsync/verifier/archive_writer.hpp"
#include "labsync/verifier/run_walker.hpp"
#include "labsync/verifier/sha256.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace fs = std::filesystem;
namespace v = labsync::verifier;

namespace {

struct sample {
    double wall = 0;  // seconds
    double cpu = 0;   // user + system seconds of the whole process (every thread)
};

double cpu_seconds() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

sample timed(const std::function<void()>& f) {
    const double c0 = cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const auto t1 = std::chrono::steady_clock::now();
    return {std::chrono::duration<double>(t1 - t0).count(), cpu_seconds() - c0};
}

void check_la(int rc, archive* a, const char* what) {
    if (rc < ARCHIVE_WARN) throw std::runtime_error(std::string(what) + ": " + archive_error_string(a));
}

// --- pack ---------------------------------------------------------------------------------

struct output_sink {
    int fd = -1;
    v::sha256 hash;
};

la_ssize_t sink_write(archive*, void* ctx, const void* data, size_t n) {
    auto* s = static_cast<output_sink*>(ctx);
    const auto* p = static_cast<const char*>(data);
    s->hash.update(std::string_view(p, n));
    size_t left = n;
    while (left > 0) {
        const ssize_t w = ::write(s->fd, p, left);
        if (w < 0) return -1;
        p += w;
        left -= static_cast<size_t>(w);
    }
    return static_cast<la_ssize_t>(n);
}

void set_entry(archive_entry* e, const std::string& path, std::uint64_t size, unsigned mode,
               std::int64_t mtime) {
    archive_entry_clear(e);
    archive_entry_set_pathname(e, path.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, mode & 07777);
    archive_entry_set_size(e, static_cast<la_int64_t>(size));
    archive_entry_set_mtime(e, mtime, 0);
}

std::string libarchive_pack(const fs::path& run, const fs::path& out, int level, unsigned threads) {
    const auto walk = v::walk_run(run);
    if (walk.error) throw std::runtime_error("walk: " + walk.error.message());
    const fs::path partial = out.string() + ".partial";
    output_sink sink;
    sink.fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (sink.fd < 0) throw std::runtime_error("open " + partial.string());
    archive* a = archive_write_new();
    check_la(archive_write_set_format_pax_restricted(a), a, "format");
    check_la(archive_write_add_filter_zstd(a), a, "zstd");
    check_la(archive_write_set_filter_option(a, "zstd", "compression-level", std::to_string(level).c_str()),
             a, "level");
    if (threads > 0)
        check_la(archive_write_set_filter_option(a, "zstd", "threads", std::to_string(threads).c_str()), a,
                 "threads");
    check_la(archive_write_set_bytes_in_last_block(a, 1), a, "last block");
    check_la(archive_write_open2(a, &sink, nullptr, sink_write, nullptr, nullptr), a, "open");
    archive_entry* e = archive_entry_new();
    std::vector<char> buf(2u << 20);
    std::string manifest_text;
    for (const auto& f : walk.files) {
        const std::string path(f.path);
        set_entry(e, path, f.size, f.mode, f.mtime_s);
        check_la(archive_write_header(a, e), a, "header");
        const int fd = ::open((run / path).c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) throw std::runtime_error("open " + path);
        v::sha256 h;
        for (;;) {
            const ssize_t n = ::read(fd, buf.data(), buf.size());
            if (n < 0) throw std::runtime_error("read " + path);
            if (n == 0) break;
            h.update(std::string_view(buf.data(), static_cast<size_t>(n)));
            if (archive_write_data(a, buf.data(), static_cast<size_t>(n)) != n)
                throw std::runtime_error(std::string("write: ") + archive_error_string(a));
        }
        ::close(fd);
        manifest_text += v::to_hex(h.finish()) + "  " + path + "\n";
    }
    set_entry(e, std::string(v::archive_manifest_path), manifest_text.size(), 0644, 0);
    check_la(archive_write_header(a, e), a, "manifest header");
    archive_write_data(a, manifest_text.data(), manifest_text.size());
    check_la(archive_write_close(a), a, "close");
    archive_entry_free(e);
    archive_write_free(a);
    ::fsync(sink.fd);
    ::close(sink.fd);
    fs::rename(partial, out);
    const int dir = ::open(out.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ::fsync(dir);
    ::close(dir);
    return v::to_hex(sink.hash.finish());
}

// --- check --------------------------------------------------------------------------------

struct input_source {
    int fd = -1;
    v::sha256 hash;
    std::vector<char> buf = std::vector<char>(1u << 20);
};

la_ssize_t source_read(archive*, void* ctx, const void** out) {
    auto* s = static_cast<input_source*>(ctx);
    const ssize_t n = ::read(s->fd, s->buf.data(), s->buf.size());
    if (n > 0) s->hash.update(std::string_view(s->buf.data(), static_cast<size_t>(n)));
    *out = s->buf.data();
    return n;
}

// Returns the number of members matched against the embedded manifest; throws on a mismatch.
std::uint64_t libarchive_check(const fs::path& file) {
    input_source src;
    src.fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (src.fd < 0) throw std::runtime_error("open " + file.string());
    archive* a = archive_read_new();
    check_la(archive_read_support_filter_zstd(a), a, "zstd");
    check_la(archive_read_support_format_tar(a), a, "tar");
    check_la(archive_read_open(a, &src, nullptr, source_read, nullptr), a, "open");
    std::unordered_map<std::string, std::string> digests;
    std::string manifest_text;
    archive_entry* e = nullptr;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        if (archive_entry_filetype(e) != AE_IFREG) continue;  // directories
        const std::string path = archive_entry_pathname(e);
        const bool is_manifest = path == v::archive_manifest_path;
        v::sha256 h;
        const void* block = nullptr;
        size_t size = 0;
        la_int64_t offset = 0;
        int rc;
        while ((rc = archive_read_data_block(a, &block, &size, &offset)) == ARCHIVE_OK) {
            const std::string_view data(static_cast<const char*>(block), size);
            if (is_manifest)
                manifest_text.append(data);
            else
                h.update(data);
        }
        check_la(rc, a, "data");
        if (!is_manifest) digests.emplace(path, v::to_hex(h.finish()));
    }
    archive_read_free(a);
    ::close(src.fd);
    (void)v::to_hex(src.hash.finish());
    std::uint64_t matched = 0;
    std::size_t start = 0;
    while (start < manifest_text.size()) {
        const auto end = manifest_text.find('\n', start);
        const std::string line = manifest_text.substr(start, end - start);
        start = end == std::string::npos ? manifest_text.size() : end + 1;
        const auto it = digests.find(line.substr(66));
        if (it == digests.end() || it->second != line.substr(0, 64))
            throw std::runtime_error("member mismatch: " + line);
        ++matched;
    }
    if (matched != digests.size()) throw std::runtime_error("members outside the manifest");
    return matched;
}

std::uint64_t labsync_check(const fs::path& file, v::archive_check_threads threads) {
    v::archive_checker checker(true, threads);
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    std::vector<std::byte> buf(1u << 20);
    for (;;) {
        const ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n <= 0) break;
        if (auto ec = checker.feed(std::span(buf.data(), static_cast<size_t>(n))))
            throw std::runtime_error("feed: " + ec.message());
    }
    ::close(fd);
    if (auto ec = checker.finish())
        throw std::runtime_error("finish: " + ec.message() + " " + checker.error_path());
    return checker.files_checked();
}

// --- reporting ----------------------------------------------------------------------------

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

void report(const char* name, const std::vector<sample>& s, const std::vector<sample>& base) {
    std::vector<double> wall, cpu, ratio;
    for (std::size_t i = 0; i < s.size(); ++i) {
        wall.push_back(s[i].wall);
        cpu.push_back(s[i].cpu);
        ratio.push_back(s[i].wall / base[i].wall);
    }
    std::printf(
        "  %-34s wall median %7.3f s (min %.3f max %.3f)  cpu median %7.3f s  wall / labsync: median %.2f"
        " (min %.2f max %.2f)\n",
        name, median(wall), *std::min_element(wall.begin(), wall.end()),
        *std::max_element(wall.begin(), wall.end()), median(cpu), median(ratio),
        *std::min_element(ratio.begin(), ratio.end()), *std::max_element(ratio.begin(), ratio.end()));
}

}  // namespace

int main(int argc, char** argv) try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "pack" && argc == 5) {
        const fs::path run = argv[2], out = argv[3];
        const int rounds = std::stoi(argv[4]);
        std::vector<sample> ours, theirs;
        v::pack_options options;  // level 3, two zstd workers: http_put's defaults
        std::uint64_t our_bytes = 0;
        for (int i = -1; i < rounds; ++i) {  // round -1 warms the page cache and is not counted
            const fs::path a = out / "labsync.tar.zst", b = out / "libarchive.tar.zst";
            fs::remove(a);
            fs::remove(b);
            // Alternate which side goes first so neither always inherits the other's cache state.
            sample s_ours, s_theirs;
            auto run_ours = [&] {
                s_ours = timed([&] {
                    auto r = v::pack_run(run, a, options);
                    if (!r.ok()) throw std::runtime_error("pack_run: " + r.error_message);
                    our_bytes = r.compressed_bytes;
                });
            };
            auto run_theirs = [&] {
                s_theirs = timed([&] { libarchive_pack(run, b, options.level, options.threads); });
            };
            if (i % 2 == 0) {
                run_ours();
                run_theirs();
            } else {
                run_theirs();
                run_ours();
            }
            if (i < 0) continue;
            ours.push_back(s_ours);
            theirs.push_back(s_theirs);
            std::printf("round %d: labsync %.3f s, libarchive %.3f s, ratio %.2f\n", i, s_ours.wall,
                        s_theirs.wall, s_theirs.wall / s_ours.wall);
        }
        std::printf("pack %s: %d rounds, archives labsync %llu bytes, libarchive %llu bytes\n", run.c_str(),
                    rounds, static_cast<unsigned long long>(our_bytes),
                    static_cast<unsigned long long>(fs::file_size(out / "libarchive.tar.zst")));
        report("labsync pack_run (level 3, 2 thr)", ours, ours);
        report("libarchive pax+zstd (level 3, 2 thr)", theirs, ours);
        // The libarchive archive must pass labsync's own check (it is a usable upload).
        std::printf("libarchive archive passes archive_checker: %llu files\n",
                    static_cast<unsigned long long>(
                        labsync_check(out / "libarchive.tar.zst", v::archive_check_threads::one)));
        return 0;
    }
    if (mode == "check" && argc == 4) {
        const fs::path file = argv[2];
        const int rounds = std::stoi(argv[3]);
        std::vector<sample> one, two, la;
        for (int i = -1; i < rounds; ++i) {
            sample s1, s2, s3;
            auto a = [&] { s1 = timed([&] { labsync_check(file, v::archive_check_threads::one); }); };
            auto b = [&] { s2 = timed([&] { labsync_check(file, v::archive_check_threads::two); }); };
            auto c = [&] { s3 = timed([&] { libarchive_check(file); }); };
            if (i % 2 == 0) {
                a(), b(), c();
            } else {
                c(), b(), a();
            }
            if (i < 0) continue;
            one.push_back(s1);
            two.push_back(s2);
            la.push_back(s3);
            std::printf("round %d: checker/1 %.3f s, checker/2 %.3f s, libarchive %.3f s\n", i, s1.wall,
                        s2.wall, s3.wall);
        }
        std::printf("check %s (%llu bytes): %d rounds\n", file.c_str(),
                    static_cast<unsigned long long>(fs::file_size(file)), rounds);
        report("labsync archive_checker, 1 thread", one, one);
        report("labsync archive_checker, 2 threads", two, one);
        report("libarchive reader, 1 thread", la, one);
        return 0;
    }
    std::fprintf(stderr,
                 "usage: libarchive_bench pack RUN_DIR OUT_DIR ROUNDS\n"
                 "       libarchive_bench check ARCHIVE ROUNDS\n");
    return 2;
} catch (const std::exception& e) {
    std::fprintf(stderr, "libarchive_bench: %s\n", e.what());
    return 1;
}
