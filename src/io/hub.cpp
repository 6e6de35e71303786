#include "io/hub.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "io/hub_http.h"
#include "io/hub_progress.h"
#include "io/sha256.h"
#include "io/safe_path.h"

namespace ia {

namespace fs = std::filesystem;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

bool env_true(const char* name) {
  std::string v = env(name);
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return v == "1" || v == "true" || v == "yes" || v == "on";
}

std::string read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  if (in) std::getline(in, s);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

// The Hub could not be reached (connection refused, DNS, timeout, 5xx after retries): callers may fall back
// to the cache, as huggingface_hub does.
class HubUnreachable : public Error {
 public:
  explicit HubUnreachable(const std::string& msg) : Error(ErrorKind::Io, msg) {}
};

std::string strip_etag(std::string e) {
  if (e.rfind("W/", 0) == 0) e = e.substr(2);
  if (e.size() >= 2 && e.front() == '"' && e.back() == '"') e = e.substr(1, e.size() - 2);
  return e;
}

bool retryable_status(long s) { return s == 429 || s >= 500; }

void backoff(const HubOptions& o, int attempt) {
  long ms = long(o.retry_base_ms) << std::min(attempt, 4);
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

// A clear error for a Hub HTTP failure, using the Hub's X-Error-Code where it sent one.
[[noreturn]] void throw_http_error(const http::Response& r, const std::string& endpoint, const std::string& repo,
                                   const std::string& revision, const std::string& file, bool have_token) {
  std::string code = r.header("x-error-code");
  std::string msg = r.header("x-error-message");
  std::string where = file.empty() ? fmt::format("{}@{}", repo, revision) : fmt::format("{} in {}@{}", file, repo, revision);
  std::string detail = msg.empty() ? "" : fmt::format(" (Hub says: {})", msg);
  if (code == "GatedRepo" || (r.status == 403 && code.empty())) {
    fail(ErrorKind::Io,
         "{} is a gated (restricted) model: HTTP {} for {}. Accept its conditions at {}/{} with your account, then "
         "set HF_TOKEN to a token of that account{}{}",
         repo, r.status, where, endpoint, repo, have_token ? " (the token sent was not granted access)" : "", detail);
  }
  if (code == "RepoNotFound" || (r.status == 401 && code.empty())) {
    fail(ErrorKind::NotFound,
         "repository {} not found on {} (HTTP {}){}; if it is private or gated, set HF_TOKEN{}", repo, endpoint,
         r.status, have_token ? " with the token sent" : "", have_token ? " to a token with access" : "", detail);
  }
  if (code == "RevisionNotFound") fail(ErrorKind::NotFound, "revision '{}' not found in {} (HTTP {}){}", revision, repo, r.status, detail);
  if (code == "EntryNotFound" || r.status == 404) fail(ErrorKind::NotFound, "{} not found (HTTP {}){}", where, r.status, detail);
  fail(ErrorKind::Io, "{}: HTTP {} from {}{}", where, r.status, r.url, detail);
}

}  // namespace

HubOptions HubOptions::from_env() {
  HubOptions o;
  std::string ep = env("HF_ENDPOINT");
  if (!ep.empty()) o.endpoint = ep;
  while (!o.endpoint.empty() && o.endpoint.back() == '/') o.endpoint.pop_back();
  o.token = env("HF_TOKEN");
  if (o.token.empty()) o.token = env("HUGGING_FACE_HUB_TOKEN");
  if (o.token.empty()) {
    std::string path = env("HF_TOKEN_PATH");
    if (path.empty()) {
      std::string hf_home = env("HF_HOME");
      if (hf_home.empty()) {
        std::string xdg = env("XDG_CACHE_HOME");
        hf_home = (xdg.empty() ? env("HOME") + "/.cache" : xdg) + "/huggingface";
      }
      path = hf_home + "/token";
    }
    o.token = read_first_line(path);
  }
  o.cache_dir = default_hub_cache_dir();
  o.offline = env_true("HF_HUB_OFFLINE") || env_true("TRANSFORMERS_OFFLINE") || env_true("IA_OFFLINE");
  o.progress = !env_true("HF_HUB_DISABLE_PROGRESS_BARS");
  if (!env("IA_HUB_RETRY_BASE_MS").empty()) o.retry_base_ms = std::max(0, std::atoi(env("IA_HUB_RETRY_BASE_MS").c_str()));
  if (!env("IA_HUB_MAX_RETRIES").empty()) o.max_retries = std::max(0, std::atoi(env("IA_HUB_MAX_RETRIES").c_str()));
  if (!env("HF_HUB_ETAG_TIMEOUT").empty()) o.connect_timeout_s = std::max(1, std::atoi(env("HF_HUB_ETAG_TIMEOUT").c_str()));
  return o;
}

std::optional<RepoRef> RepoRef::parse(const std::string& spec) {
  static const std::regex id(R"(^([A-Za-z0-9][A-Za-z0-9._-]{0,95})(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?(@[^\s@]+)?$)");
  std::smatch m;
  if (!std::regex_match(spec, m, id)) return std::nullopt;
  RepoRef r;
  r.repo = m[1].str() + m[2].str();
  if (r.repo.find("--") != std::string::npos || r.repo.find("..") != std::string::npos) return std::nullopt;
  if (m[3].matched) r.revision = m[3].str().substr(1);
  if (r.revision.find("..") != std::string::npos) return std::nullopt;
  return r;
}

bool hub_glob_match(const std::string& pattern, const std::string& path) {
  return ::fnmatch(pattern.c_str(), path.c_str(), 0) == 0;
}

struct HubClient::FileMeta {
  std::string commit;
  std::string etag;
  int64_t size = -1;
};

HubClient::HubClient(HubOptions opts) : opts_(std::move(opts)), cache_(opts_.cache_dir) {
  while (!opts_.endpoint.empty() && opts_.endpoint.back() == '/') opts_.endpoint.pop_back();
}

std::vector<std::string> HubClient::auth_headers() const {
  if (opts_.token.empty()) return {};
  return {"Authorization: Bearer " + opts_.token};
}

RepoListing HubClient::list_files(const std::string& repo, const std::string& revision) {
  IA_CHECK(!opts_.offline, ErrorKind::Io, "offline mode: not listing {}@{}", repo, revision);
  std::string url = fmt::format("{}/api/models/{}/revision/{}", opts_.endpoint, repo, http::url_quote(revision, ""));
  http::Response r;
  for (int attempt = 0;; ++attempt) {
    http::Request req;
    req.url = url;
    req.headers = auth_headers();
    req.connect_timeout_s = opts_.connect_timeout_s;
    req.low_speed_time_s = opts_.low_speed_time_s;
    r = http::perform(req);
    bool transient = r.transport_failed() || retryable_status(r.status);
    if (!transient) break;
    if (r.curl_code == 7 || r.curl_code == 6 || attempt >= opts_.max_retries)  // refused / no DNS: don't wait
      throw HubUnreachable(fmt::format("cannot list {}@{} at {}: {}", repo, revision, url,
                                       r.transport_failed() ? r.error : fmt::format("HTTP {}", r.status)));
    backoff(opts_, attempt);
  }
  if (r.status != 200) throw_http_error(r, opts_.endpoint, repo, revision, "", !opts_.token.empty());
  return parse_repo_listing(r.body, url);
}

RepoListing parse_repo_listing(std::string_view body, const std::string& url) {
  RepoListing out;
  check_json_depth(body, url);
  try {
    auto j = nlohmann::json::parse(body);
    out.commit = j.at("sha").get<std::string>();
    for (const auto& s : j.at("siblings")) out.files.push_back(s.at("rfilename").get<std::string>());
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::Format, "unexpected listing from {}: {}", url, e.what());
  }
  IA_CHECK(is_commit_hash(out.commit), ErrorKind::Format, "listing from {} has sha '{}', not a commit id", url, out.commit);
  return out;
}

HubClient::FileMeta HubClient::head(const std::string& repo, const std::string& revision, const std::string& file) {
  std::string url = fmt::format("{}/{}/resolve/{}/{}", opts_.endpoint, repo, http::url_quote(revision, ""),
                                http::url_quote(file, "/"));
  http::Response r;
  for (int hops = 0, attempt = 0;;) {
    http::Request req;
    req.method = "HEAD";
    req.url = url;
    req.headers = auth_headers();
    req.follow_redirects = false;  // the LFS redirect carries X-Linked-Etag/X-Linked-Size; don't leave it
    req.connect_timeout_s = opts_.connect_timeout_s;
    req.low_speed_time_s = opts_.low_speed_time_s;
    r = http::perform(req);
    if (r.transport_failed() || retryable_status(r.status)) {
      if (r.curl_code == 7 || r.curl_code == 6 || attempt >= opts_.max_retries)
        throw HubUnreachable(fmt::format("cannot reach {}: {}", url,
                                         r.transport_failed() ? r.error : fmt::format("HTTP {}", r.status)));
      backoff(opts_, attempt++);
      continue;
    }
    if (r.status >= 300 && r.status < 400) {
      std::string loc = r.header("location");
      if (!loc.empty() && loc[0] == '/' && ++hops < 5) {  // relative: a renamed repo; follow it
        auto scheme_end = url.find("://");
        url = url.substr(0, url.find('/', scheme_end + 3)) + loc;
        continue;
      }
    }
    break;
  }
  if (r.status >= 400) throw_http_error(r, opts_.endpoint, repo, revision, file, !opts_.token.empty());
  FileMeta m;
  m.commit = r.header("x-repo-commit");
  m.etag = strip_etag(r.header("x-linked-etag"));
  if (m.etag.empty()) m.etag = strip_etag(r.header("etag"));
  std::string size = r.header("x-linked-size");
  if (size.empty()) size = r.header("content-length");
  if (!size.empty()) {
    IA_CHECK(size.size() <= 18 && std::all_of(size.begin(), size.end(), [](char c) { return c >= '0' && c <= '9'; }),
             ErrorKind::Format, "{}: size header '{}' is not a byte count: refused", url, size);
    m.size = std::stoll(size);
  }
  IA_CHECK(!m.commit.empty() && !m.etag.empty(), ErrorKind::Format,
           "{}: the response (HTTP {}) lacks X-Repo-Commit or ETag; is {} a Hugging Face Hub endpoint?", url, r.status,
           opts_.endpoint);
  // Both name cache paths (snapshots/<commit>, blobs/<etag>): a hostile server must not steer them elsewhere.
  IA_CHECK(is_commit_hash(m.commit), ErrorKind::Format, "{}: X-Repo-Commit '{}' is not a commit id: refused", url,
           m.commit);
  IA_CHECK(is_safe_relative_path(m.etag) && m.etag.find('/') == std::string::npos, ErrorKind::Format,
           "{}: ETag '{}' is not usable as a blob name: refused", url, m.etag);
  return m;
}

std::string HubClient::fetch_blob(const std::string& repo, const FileMeta& meta, const std::string& file,
                                  int progress_id) {
  std::string blob = cache_.blob_path(repo, meta.etag);
  std::error_code ec;
  fs::create_directories(fs::path(blob).parent_path(), ec);
  IA_CHECK(!ec, ErrorKind::Io, "cannot create {}: {}", fs::path(blob).parent_path().string(), ec.message());
  FileLock lock(cache_.lock_path(repo, meta.etag));
  if (fs::exists(blob)) return blob;  // another process finished it while we waited for the lock

  std::string part = blob + ".incomplete";
  std::string url = fmt::format("{}/{}/resolve/{}/{}", opts_.endpoint, repo, meta.commit, http::url_quote(file, "/"));
  bool lfs = is_sha256_hex(meta.etag);
  for (int attempt = 0;; ++attempt) {
    int64_t have = 0;
    struct stat st{};
    if (::stat(part.c_str(), &st) == 0) have = st.st_size;
    if (meta.size >= 0 && have > meta.size) {
      fs::remove(part, ec);
      have = 0;
    }
    if (progress_) progress_->set_done(progress_id, have);
    int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    IA_CHECK(fd >= 0, ErrorKind::Io, "cannot write {}: {}", part, std::strerror(errno));
    int64_t written = 0;
    bool truncated = false;
    http::Request req;
    req.url = url;
    req.headers = auth_headers();
    req.connect_timeout_s = opts_.connect_timeout_s;
    req.low_speed_time_s = opts_.low_speed_time_s;
    if (have > 0) req.headers.push_back(fmt::format("Range: bytes={}-", have));
    std::string write_error;
    req.on_body = [&](long status, std::string_view chunk) {
      if (!truncated) {
        truncated = true;
        if (status != 206) {  // the server ignored the Range: start over
          have = 0;
          if (progress_) progress_->set_done(progress_id, 0);
        }
        if (::ftruncate(fd, have) != 0 || ::lseek(fd, have, SEEK_SET) < 0) {
          write_error = std::strerror(errno);
          return false;
        }
      }
      const char* p = chunk.data();
      size_t left = chunk.size();
      while (left > 0) {
        ssize_t w = ::write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
          write_error = std::strerror(errno);
          return false;
        }
        p += w, left -= size_t(w);
      }
      written += int64_t(chunk.size());
      if (progress_) progress_->advance(progress_id, int64_t(chunk.size()));
      return true;
    };
    http::Response r = http::perform(req);
    ::close(fd);
    IA_CHECK(write_error.empty(), ErrorKind::Io, "cannot write {}: {}", part, write_error);
    if (r.status == 416 && meta.size >= 0 && have == meta.size) break;  // already complete
    if (r.status == 416) {
      fs::remove(part, ec);
      continue;
    }
    bool transient = r.transport_failed() || retryable_status(r.status);
    if (transient) {
      IA_CHECK(attempt < opts_.max_retries, ErrorKind::Io, "downloading {} from {} failed after {} attempts: {}",
               file, url, attempt + 1, r.transport_failed() ? r.error : fmt::format("HTTP {}", r.status));
      backoff(opts_, attempt);
      continue;
    }
    if (r.status >= 400) throw_http_error(r, opts_.endpoint, repo, meta.commit, file, !opts_.token.empty());
    int64_t got = int64_t(fs::file_size(part, ec));
    if (meta.size >= 0 && got < meta.size) {  // the server closed early without an error
      IA_CHECK(attempt < opts_.max_retries, ErrorKind::Io, "{}: got {} of {} bytes after {} attempts", url, got,
               meta.size, attempt + 1);
      backoff(opts_, attempt);
      continue;
    }
    break;
  }
  int64_t got = int64_t(fs::file_size(part, ec));
  if (meta.size >= 0 && got != meta.size) {
    fs::remove(part, ec);
    fail(ErrorKind::Format, "{} of {}@{}: downloaded {} bytes, the Hub announced {}; the partial file was removed",
         file, repo, meta.commit, got, meta.size);
  }
  if (lfs) {
    std::string digest = sha256_file_hex(part);
    if (digest != meta.etag) {
      fs::remove(part, ec);
      fail(ErrorKind::Format,
           "{} of {}@{} is corrupt: its sha256 is {} but the Hub's ETag says {}; the download was discarded, nothing "
           "entered the cache",
           file, repo, meta.commit, digest, meta.etag);
    }
  }
  fs::rename(part, blob, ec);
  IA_CHECK(!ec, ErrorKind::Io, "cannot move {} to {}: {}", part, blob, ec.message());
  return blob;
}

std::string HubClient::download_file(const std::string& repo, const std::string& revision, const std::string& file) {
  IA_CHECK(is_safe_relative_path(file), ErrorKind::InvalidArgument, "not a repo-relative file name ({}): '{}'",
           unsafe_path_reason(file), file);
  if (opts_.offline) {
    auto p = cache_.cached_file(repo, revision, file);
    IA_CHECK(p.has_value(), ErrorKind::NotFound,
             "offline mode (HF_HUB_OFFLINE/--offline): {} of {}@{} is not in the cache {}; download it while online",
             file, repo, revision, cache_.root());
    return *p;
  }
  if (is_commit_hash(revision)) {  // a commit's files never change: a cached one needs no request
    std::string p = cache_.snapshot_path(repo, revision, file);
    if (fs::exists(p) && !opts_.verify_cached) return p;
  }
  FileMeta meta;
  try {
    meta = head(repo, revision, file);
  } catch (const HubUnreachable& e) {
    auto p = cache_.cached_file(repo, revision, file);
    if (!p) throw;
    std::fprintf(stderr, "warning: %s; using the cached %s\n", e.what(), p->c_str());
    return *p;
  }
  cache_.write_ref(repo, revision, meta.commit);
  std::string blob = cache_.blob_path(repo, meta.etag);
  if (fs::exists(blob) && opts_.verify_cached && is_sha256_hex(meta.etag)) {
    FileLock lock(cache_.lock_path(repo, meta.etag));
    if (sha256_file_hex(blob) != meta.etag) {
      std::fprintf(stderr, "warning: cached blob %s of %s is corrupt (sha256 mismatch); downloading it again\n",
                   blob.c_str(), file.c_str());
      fs::remove(blob);
    }
  }
  if (!fs::exists(blob)) {
    std::unique_ptr<DownloadProgress> own;
    if (!progress_) {
      own = std::make_unique<DownloadProgress>(opts_.progress);
      progress_ = own.get();
    }
    int id = progress_->add_file(file, meta.size);
    try {
      fetch_blob(repo, meta, file, id);
    } catch (...) {
      if (own) progress_ = nullptr;
      throw;
    }
    progress_->finish(id);
    if (own) progress_ = nullptr;
  }
  return cache_.link_snapshot(repo, meta.commit, file, meta.etag);
}

std::string HubClient::cached_snapshot(const std::string& repo, const std::string& revision,
                                       const std::string& why) const {
  auto commit = cache_.resolve_ref(repo, revision);
  std::string dir = commit ? cache_.snapshot_dir(repo, *commit) : std::string();
  IA_CHECK(commit && fs::is_directory(dir), ErrorKind::NotFound,
           "{}, and {}@{} is not in the cache {}; run `ipfs-accelerate download {}{}` while online", why, repo, revision,
           cache_.root(), repo, revision == "main" ? "" : " --revision " + revision);
  return dir;
}

std::string HubClient::snapshot_download(const std::string& repo, const std::string& revision,
                                         const std::vector<std::string>& patterns) {
  if (opts_.offline) return cached_snapshot(repo, revision, "offline mode (HF_HUB_OFFLINE/--offline)");
  RepoListing listing;
  try {
    listing = list_files(repo, revision);
  } catch (const HubUnreachable& e) {
    std::string dir = cached_snapshot(repo, revision, e.what());
    std::fprintf(stderr, "warning: %s; using the cached snapshot %s\n", e.what(), dir.c_str());
    return dir;
  }
  const std::string& commit = listing.commit;
  DownloadProgress progress(opts_.progress);  // one board for the index and the files
  progress_ = &progress;
  struct Reset {
    DownloadProgress*& p;
    ~Reset() { p = nullptr; }
  } reset{progress_};
  std::vector<std::string> files;
  if (patterns.empty()) {
    std::string note;
    auto read_index = [&](const std::string& name) {
      std::ifstream in(download_file(repo, commit, name), std::ios::binary);
      return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    };
    files = select_model_files(listing.files, read_index, &note);
    if (!note.empty()) std::fprintf(stderr, "note: %s@%s: %s\n", repo.c_str(), revision.c_str(), note.c_str());
  } else {
    for (const auto& f : listing.files)
      for (const auto& p : patterns)
        if (hub_glob_match(p, f)) {
          files.push_back(f);
          break;
        }
  }
  IA_CHECK(!files.empty(), ErrorKind::NotFound, "no file of {}@{} matches{}", repo, revision,
           patterns.empty() ? std::string(" what a model needs") : " --include " + fmt::format("{}", fmt::join(patterns, " ")));
  cache_.write_ref(repo, revision, commit);

  std::atomic<size_t> next{0};
  std::mutex err_mu;
  std::exception_ptr first_error;
  auto worker = [&] {
    for (;;) {
      {
        std::lock_guard<std::mutex> g(err_mu);
        if (first_error) return;
      }
      size_t i = next.fetch_add(1);
      if (i >= files.size()) return;
      try {
        download_file(repo, commit, files[i]);
      } catch (...) {
        std::lock_guard<std::mutex> g(err_mu);
        if (!first_error) first_error = std::current_exception();
      }
    }
  };
  size_t n = std::min<size_t>(files.size(), size_t(std::max(1, opts_.max_workers)));
  std::vector<std::thread> threads;
  for (size_t i = 0; i + 1 < n; ++i) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  if (first_error) std::rethrow_exception(first_error);
  return cache_.snapshot_dir(repo, commit);
}

std::vector<std::string> select_model_files(const std::vector<std::string>& files,
                                            const std::function<std::string(const std::string&)>& read_index,
                                            std::string* note) {
  auto ends_with = [](const std::string& s, const std::string& suf) {
    return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
  };
  auto top_level = [](const std::string& s) { return s.find('/') == std::string::npos; };
  std::set<std::string> present(files.begin(), files.end());
  std::set<std::string> out;
  for (const auto& f : files) {
    if (ends_with(f, ".index.json")) continue;  // chosen with the weights below
    if (ends_with(f, ".json") || ends_with(f, ".txt") || ends_with(f, ".model") || ends_with(f, ".tiktoken"))
      out.insert(f);
  }
  auto add_sharded = [&](const std::string& index) {
    out.insert(index);
    std::string text = read_index(index);
    nlohmann::json j;
    check_json_depth(text, index);
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      fail(ErrorKind::Format, "{}: not valid JSON: {}", index, e.what());
    }
    IA_CHECK(j.contains("weight_map") && j["weight_map"].is_object(), ErrorKind::Format, "{}: no weight_map object",
             index);
    std::string dir = index.find('/') == std::string::npos ? "" : index.substr(0, index.rfind('/') + 1);
    for (const auto& [name, shard] : j["weight_map"].items()) {
      std::string path = dir + shard.get<std::string>();
      IA_CHECK(present.count(path), ErrorKind::NotFound, "{} names shard {} (tensor {}), which the repo lacks", index,
               path, name);
      out.insert(path);
    }
  };
  std::vector<std::string> st_index, st_files, bin_index, bin_files;
  for (const auto& f : files) {
    if (!top_level(f)) continue;
    if (ends_with(f, ".safetensors.index.json")) st_index.push_back(f);
    else if (ends_with(f, ".safetensors")) st_files.push_back(f);
    else if (ends_with(f, ".bin.index.json")) bin_index.push_back(f);
    else if (ends_with(f, ".bin") && f.find("pytorch_model") != std::string::npos) bin_files.push_back(f);
  }
  if (present.count("model.safetensors.index.json")) {
    add_sharded("model.safetensors.index.json");
  } else if (present.count("model.safetensors")) {
    out.insert("model.safetensors");
  } else if (!st_index.empty()) {
    for (const auto& i : st_index) add_sharded(i);
  } else if (!st_files.empty()) {
    for (const auto& f : st_files) out.insert(f);
  } else if (!bin_index.empty() || !bin_files.empty()) {
    std::string chosen;
    if (!bin_index.empty()) {
      for (const auto& i : bin_index) add_sharded(i);
      chosen = fmt::format("{}", fmt::join(bin_index, ", "));
    } else {
      for (const auto& f : bin_files) out.insert(f);
      chosen = fmt::format("{}", fmt::join(bin_files, ", "));
    }
    if (note)
      *note = fmt::format(
          "no *.safetensors weights at this revision; fetching {} instead. ipfs-accelerate loads safetensors only: "
          "convert them, or pick a revision that has model.safetensors (the Hub's conversion bot often opens one as "
          "refs/pr/N)",
          chosen);
  } else if (note) {
    *note = "no weights (*.safetensors or pytorch_model*.bin) at the top level of the repo; fetching configs only";
  }
  return std::vector<std::string>(out.begin(), out.end());
}

}  // namespace ia
