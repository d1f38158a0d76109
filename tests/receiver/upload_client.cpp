#include "upload_client.hpp"

#include "labsync/receiver/upload_rules.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <stdexcept>

namespace labsync::test {
namespace fs = std::filesystem;

std::string upload_reply::header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string{} : it->second;
}

std::uint64_t upload_reply::offset() const {
    auto v = header("upload-offset");
    if (v.empty())
        throw std::runtime_error("no Upload-Offset in the answer (status " + std::to_string(status) + ")");
    return std::stoull(v);
}

upload_client::upload_client(const receiver_fixture& rx, std::string token)
    : url_(rx.url()), curl_args_(tls_args(rx)) {
    auto a = auth_args(token);
    curl_args_.insert(curl_args_.end(), a.begin(), a.end());
}

upload_reply upload_client::request(const std::string& method, const std::string& location,
                                    std::vector<std::string> headers, const std::optional<fs::path>& body) {
    const auto hdr = tmp_ / ("headers." + std::to_string(parts_++));
    std::vector<std::string> args{"-D", hdr.string()};
    if (method == "HEAD") {
        args.push_back("-I");
    } else {
        args.insert(args.end(), {"-X", method});
    }
    if (body) args.insert(args.end(), {"--data-binary", "@" + body->string()});
    for (const auto& h : headers) args.insert(args.end(), {"-H", h});
    args.insert(args.end(), curl_args_.begin(), curl_args_.end());
    auto r = curl(url_ + location, args);
    upload_reply out;
    out.status = r.status;
    out.body = r.body;
    // The file holds every response (interim 1xx ones first); keep the last block's fields.
    std::ifstream in(hdr);
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.starts_with("HTTP/")) {
            out.headers.clear();
            continue;
        }
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        auto name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        auto value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        out.headers[name] = value;
    }
    return out;
}

upload_reply upload_client::create(const std::string& equipment, const std::string& run,
                                   std::optional<std::uint64_t> length, std::vector<std::string> extra) {
    extra.push_back("Upload-Complete: ?0");
    if (length) extra.push_back("Upload-Length: " + std::to_string(*length));
    return request("POST", "/v1/runs/" + equipment + "/" + run, extra);
}

upload_reply upload_client::head(const std::string& location) {
    return request("HEAD", location, {});
}

upload_reply upload_client::patch(const std::string& location, const fs::path& file, std::uint64_t from,
                                  std::uint64_t to, bool complete, std::vector<std::string> extra,
                                  std::optional<std::uint64_t> offset) {
    auto data = read_file(file);
    const auto part = tmp_ / ("part." + std::to_string(parts_++));
    write_file(part, std::string_view(data).substr(from, to - from));
    extra.push_back("Upload-Offset: " + std::to_string(offset.value_or(from)));
    extra.push_back(std::string("Upload-Complete: ") + (complete ? "?1" : "?0"));
    extra.push_back("Content-Type: application/partial-upload");
    return request("PATCH", location, extra, part);
}

upload_reply upload_client::del(const std::string& location) {
    return request("DELETE", location, {});
}

std::string repr_digest_header(const fs::path& file) {
    return "Repr-Digest: " + receiver::repr_digest_of(sha256_of_file(file));
}

}  // namespace labsync::test
