#include "io/ipfs.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/error.h"
#include "io/cache.h"
#include "io/hub_http.h"
#include "io/hub_progress.h"
#include "io/safe_path.h"

namespace ia::ipfs {

namespace fs = std::filesystem;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

bool env_true(const char* name) {
  std::string v = env(name);
  return v == "1" || v == "true" || v == "TRUE" || v == "yes" || v == "on";
}

void collect_files(const fs::path& dir, const std::string& prefix, std::vector<ManifestEntry>& out) {
  std::vector<std::pair<std::string, fs::path>> entries;
  std::error_code ec;
  for (const auto& de : fs::directory_iterator(dir, ec)) {
    std::string name = de.path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    entries.emplace_back(name, de.path());
  }
  IA_CHECK(!ec, ErrorKind::Io, "cannot list {}: {}", dir.string(), ec.message());
  std::sort(entries.begin(), entries.end());
  for (const auto& [name, p] : entries) {
    if (fs::is_directory(p)) {
      collect_files(p, prefix + name + "/", out);
    } else if (fs::is_regular_file(p)) {
      DagEntry e = add_file(p.string());
      out.push_back({prefix + name, e.cid, e.size});
    }
  }
}

// Fetches and verifies blocks from one gateway and writes files out of them.
class Fetcher {
 public:
  explicit Fetcher(const GatewayOptions& o) : o_(o), progress_(o.progress) {
    gateway_ = o.gateway;
    while (!gateway_.empty() && gateway_.back() == '/') gateway_.pop_back();
  }

  // One block, verified against its CID.
  std::string block(const Cid& c, bool whole_dag = false) {
    {
      std::lock_guard<std::mutex> g(mu_);
      auto it = car_blocks_.find(c);
      if (it != car_blocks_.end()) return it->second;
    }
    std::string cid = c.to_string();
    if (o_.car) {
      std::string url = fmt::format("{}/ipfs/{}?format=car&dag-scope={}", gateway_, cid, whole_dag ? "all" : "block");
      std::string body = get(url, "application/vnd.ipld.car", cid);
      CarFile car = read_car(body, fmt::format("CAR for {} from gateway {}", cid, gateway_));
      std::lock_guard<std::mutex> g(mu_);
      for (auto& [k, v] : car.blocks) car_blocks_.emplace(k, std::move(v));
      auto it = car_blocks_.find(c);
      IA_CHECK(it != car_blocks_.end(), ErrorKind::Format, "the CAR for {} from gateway {} lacks that block", cid,
               gateway_);
      return it->second;
    }
    std::string body = get(fmt::format("{}/ipfs/{}?format=raw", gateway_, cid), "application/vnd.ipld.raw", cid);
    IA_CHECK(c.verifies(body), ErrorKind::Format,
             "block {} from gateway {} failed verification: its {} bytes hash to sha2-256 {}, the CID demands {}; the "
             "gateway served tampered or corrupt data, and nothing was written to the cache",
             cid, gateway_, body.size(), to_hex(sha256(body)), to_hex(c.digest));
    return body;
  }

  // The UnixFS file (or raw block) `root` written to `dest`; returns its size.
  uint64_t file(const Cid& root, const std::string& dest, const std::string& name, int64_t expected_size) {
    int fd = ::open(dest.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    IA_CHECK(fd >= 0, ErrorKind::Io, "cannot write {}: {}", dest, std::strerror(errno));
    try {
      if (o_.car && root.codec == Codec::DagPb) block(root, true);  // one CAR with the whole file
      std::vector<Leaf> leaves;
      uint64_t size = plan(root, 0, UINT64_MAX, fd, leaves);
      bool raw_root = size == UINT64_MAX;  // one raw block: its size is known once fetched
      int id = progress_.add_file(name, raw_root ? expected_size : int64_t(size));
      uint64_t fetched = fetch_leaves(leaves, fd, id);
      if (raw_root) size = fetched;
      progress_.finish(id);
      IA_CHECK(expected_size < 0 || uint64_t(expected_size) == size, ErrorKind::Format,
               "{} ({}): the manifest says {} bytes, the DAG holds {}", name, root.to_string(), expected_size, size);
      IA_CHECK(::ftruncate(fd, off_t(size)) == 0, ErrorKind::Io, "cannot size {}: {}", dest, std::strerror(errno));
      ::close(fd);
      std::lock_guard<std::mutex> g(mu_);
      car_blocks_.clear();
      return size;
    } catch (...) {
      ::close(fd);
      throw;
    }
  }

  // A UnixFS directory written under `dest` (created).
  void directory(const Cid& c, const std::string& dest, const std::string& name) {
    PbNode node = decode_pb_node(block(c));
    UnixFsData d = decode_unixfs(node.data);
    IA_CHECK(d.type == UnixFsType::Directory, ErrorKind::Unsupported,
             "{} ({}) is a UnixFS node of type {}, expected a directory{}", name, c.to_string(), int(d.type),
             d.type == UnixFsType::HamtShard ? " (sharded directories are not supported)" : "");
    fs::create_directories(dest);
    for (const auto& l : node.links) {
      IA_CHECK(is_safe_relative_path(l.name) && l.name.find('/') == std::string::npos, ErrorKind::Format,
               "directory {} has an unsafe entry name ({}), refused: '{}'", c.to_string(),
               l.name.find('/') != std::string::npos ? "contains '/'" : unsafe_path_reason(l.name), l.name);
      std::string child = dest + "/" + l.name;
      if (l.cid.codec == Codec::DagPb) {
        PbNode cn = decode_pb_node(block(l.cid));
        if (decode_unixfs(cn.data).type == UnixFsType::Directory) {
          directory(l.cid, child, name + "/" + l.name);
          continue;
        }
      }
      file(l.cid, child, name + "/" + l.name, -1);
    }
  }

 private:
  struct Leaf {
    Cid cid;
    uint64_t offset;
    uint64_t size;  // UINT64_MAX: unknown (a raw root)
  };

  std::string get(const std::string& url, const std::string& accept, const std::string& cid) {
    for (int attempt = 0;; ++attempt) {
      http::Request req;
      req.url = url;
      req.headers = {"Accept: " + accept};
      req.connect_timeout_s = o_.connect_timeout_s;
      req.low_speed_time_s = o_.low_speed_time_s;
      http::Response r = http::perform(req);
      if (r.status == 200 && !r.transport_failed()) return std::move(r.body);
      bool transient = r.transport_failed() || r.status == 429 || r.status >= 500;
      IA_CHECK(!(r.status == 404 || r.status == 410), ErrorKind::NotFound, "gateway {} does not have block {} (HTTP {})",
               gateway_, cid, r.status);
      IA_CHECK(transient && attempt < o_.max_retries, ErrorKind::Io, "cannot fetch {} from gateway {}: {}", cid,
               gateway_, r.transport_failed() ? r.error : fmt::format("HTTP {} {}", r.status, r.body.substr(0, 200)));
      std::this_thread::sleep_for(std::chrono::milliseconds(long(o_.retry_base_ms) << std::min(attempt, 4)));
    }
  }

  // Walks a file's DAG: inline data is written now, raw leaves are queued; returns the file size.
  uint64_t plan(const Cid& c, uint64_t offset, uint64_t expected, int fd, std::vector<Leaf>& leaves) {
    if (c.codec == Codec::Raw) {
      leaves.push_back({c, offset, expected});
      return expected;  // UINT64_MAX for a raw root: known once fetched
    }
    PbNode node = decode_pb_node(block(c));
    UnixFsData d = decode_unixfs(node.data);
    IA_CHECK(d.type == UnixFsType::File || d.type == UnixFsType::Raw, ErrorKind::Unsupported,
             "{} is a UnixFS node of type {}, expected a file", c.to_string(), int(d.type));
    IA_CHECK(node.links.size() == d.blocksizes.size(), ErrorKind::Format,
             "UnixFS file {} has {} links but {} blocksizes", c.to_string(), node.links.size(), d.blocksizes.size());
    if (!d.data.empty()) write_at(fd, d.data, offset);
    uint64_t off = offset + d.data.size();
    for (size_t i = 0; i < node.links.size(); ++i) {
      plan(node.links[i].cid, off, d.blocksizes[i], fd, leaves);
      off += d.blocksizes[i];
    }
    uint64_t size = off - offset;
    IA_CHECK(!d.has_filesize || d.filesize == size, ErrorKind::Format, "UnixFS file {} claims {} bytes, holds {}",
             c.to_string(), d.filesize, size);
    IA_CHECK(expected == UINT64_MAX || expected == size, ErrorKind::Format,
             "UnixFS node {} holds {} bytes, its parent says {}", c.to_string(), size, expected);
    return size;
  }

  // Fetches the queued leaves in parallel, writing each at its offset; returns the bytes written.
  uint64_t fetch_leaves(std::vector<Leaf>& leaves, int fd, int progress_id) {
    if (leaves.size() == 1 && leaves[0].size == UINT64_MAX) {  // a raw root: the whole file is one block
      std::string b = block(leaves[0].cid);
      write_at(fd, b, 0);
      progress_.advance(progress_id, int64_t(b.size()));
      return b.size();
    }
    uint64_t total = 0;
    for (const auto& l : leaves) total += l.size;
    std::atomic<size_t> next{0};
    std::mutex err_mu;
    std::exception_ptr err;
    auto worker = [&] {
      for (;;) {
        size_t i = next.fetch_add(1);
        if (i >= leaves.size()) return;
        {
          std::lock_guard<std::mutex> g(err_mu);
          if (err) return;
        }
        try {
          const Leaf& l = leaves[i];
          std::string b = block(l.cid);
          IA_CHECK(b.size() == l.size, ErrorKind::Format, "block {} holds {} bytes, its parent says {}",
                   l.cid.to_string(), b.size(), l.size);
          write_at(fd, b, l.offset);
          progress_.advance(progress_id, int64_t(b.size()));
        } catch (...) {
          std::lock_guard<std::mutex> g(err_mu);
          if (!err) err = std::current_exception();
        }
      }
    };
    size_t n = std::min(leaves.size(), size_t(std::max(1, o_.max_workers)));
    std::vector<std::thread> threads;
    for (size_t i = 0; i + 1 < n; ++i) threads.emplace_back(worker);
    worker();
    for (auto& t : threads) t.join();
    if (err) std::rethrow_exception(err);
    return total;
  }

  static void write_at(int fd, std::string_view data, uint64_t offset) {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t w = ::pwrite(fd, data.data() + done, data.size() - done, off_t(offset + done));
      if (w < 0 && errno == EINTR) continue;
      IA_CHECK(w >= 0, ErrorKind::Io, "write failed: {}", std::strerror(errno));
      done += size_t(w);
    }
  }

  const GatewayOptions& o_;
  std::string gateway_;
  DownloadProgress progress_;
  std::mutex mu_;
  std::map<Cid, std::string> car_blocks_;
};

}  // namespace

std::string Manifest::to_json() const {
  nlohmann::json files = nlohmann::json::object();
  for (const auto& f : this->files) files[f.path] = {{"cid", f.cid.to_string()}, {"size", f.size}};
  nlohmann::json j{{"format", kManifestFormat}, {"version", 1}, {"files", files}};
  return j.dump(2) + "\n";
}

Cid Manifest::cid() const { return add_bytes(to_json()).cid; }

bool Manifest::looks_like(std::string_view bytes) {
  return bytes.size() < (64u << 20) && bytes.find(kManifestFormat) != std::string_view::npos &&
         !bytes.empty() && bytes[0] == '{';
}

Manifest Manifest::parse(std::string_view text, const std::string& source) {
  Manifest m;
  check_json_depth(text, source);
  try {
    auto j = nlohmann::json::parse(text);
    IA_CHECK(j.value("format", "") == kManifestFormat, ErrorKind::Format, "{}: not a model manifest (format '{}')",
             source, j.value("format", ""));
    IA_CHECK(j.value("version", 0) == 1, ErrorKind::Unsupported, "{}: manifest version {} (this build reads 1)",
             source, j.value("version", 0));
    for (const auto& [path, e] : j.at("files").items()) {
      IA_CHECK(is_safe_relative_path(path), ErrorKind::Format, "{}: unsafe file path '{}' ({})", source, path,
               unsafe_path_reason(path));
      m.files.push_back({path, Cid::parse(e.at("cid").get<std::string>()), e.at("size").get<uint64_t>()});
    }
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::Format, "{}: invalid model manifest: {}", source, e.what());
  }
  return m;
}

Manifest make_manifest(const std::string& dir) {
  IA_CHECK(fs::is_directory(dir), ErrorKind::NotFound, "{} is not a directory", dir);
  Manifest m;
  collect_files(dir, "", m.files);
  return m;
}

GatewayOptions GatewayOptions::from_env() {
  GatewayOptions o;
  if (!env("IPFS_GATEWAY").empty()) o.gateway = env("IPFS_GATEWAY");
  o.car = env("IPFS_GATEWAY_FORMAT") == "car";
  o.cache_dir = default_ia_cache_dir() + "/ipfs";
  o.offline = env_true("HF_HUB_OFFLINE") || env_true("IA_OFFLINE");
  o.progress = !env_true("HF_HUB_DISABLE_PROGRESS_BARS");
  if (!env("IA_HUB_RETRY_BASE_MS").empty()) o.retry_base_ms = std::max(0, std::atoi(env("IA_HUB_RETRY_BASE_MS").c_str()));
  return o;
}

std::string fetch(const std::string& uri, const GatewayOptions& opts) {
  std::string text = uri;
  for (const char* prefix : {"ipfs://", "/ipfs/"})
    if (text.rfind(prefix, 0) == 0) text = text.substr(std::strlen(prefix));
  while (!text.empty() && text.back() == '/') text.pop_back();
  IA_CHECK(text.find('/') == std::string::npos, ErrorKind::Unsupported,
           "{}: paths inside a CID are not supported; name the model's root CID", uri);
  Cid root = Cid::parse(text);
  Cid v1 = root;
  v1.version = 1;  // a CIDv0 and its CIDv1 name the same DAG: cache both under the v1 name
  std::string key = v1.to_string();
  std::string dest = opts.cache_dir + "/" + key;
  if (fs::exists(dest)) return dest;
  IA_CHECK(!opts.offline, ErrorKind::NotFound, "offline mode: {} is not in the IPFS cache {}", uri, opts.cache_dir);
  fs::create_directories(opts.cache_dir);
  FileLock lock(opts.cache_dir + "/.locks/" + key + ".lock");
  if (fs::exists(dest)) return dest;

  std::string tmp = fmt::format("{}/.partial-{}-{}", opts.cache_dir, key, ::getpid());
  std::error_code ec;
  fs::remove_all(tmp, ec);
  Fetcher f(opts);
  try {
    std::string root_block = f.block(root);
    bool is_dir = root.codec == Codec::DagPb &&
                  decode_unixfs(decode_pb_node(root_block).data).type == UnixFsType::Directory;
    std::string manifest_text;
    if (!is_dir) {
      uint64_t size = f.file(root, tmp, key, -1);
      if (size < (64u << 20)) {  // a manifest is a small file: read it to see
        std::ifstream in(tmp, std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (Manifest::looks_like(bytes)) {
          manifest_text = std::move(bytes);
          fs::remove(tmp);
        }
      }
    }
    if (!manifest_text.empty()) {
      Manifest m = Manifest::parse(manifest_text, "manifest " + key);
      fs::create_directories(tmp);
      for (const auto& e : m.files) {
        std::string path = tmp + "/" + e.path;
        fs::create_directories(fs::path(path).parent_path());
        f.file(e.cid, path, e.path, int64_t(e.size));
      }
      std::ofstream(tmp + "/.ipfs-manifest.json") << manifest_text;
    } else if (is_dir) {
      f.directory(root, tmp, key);
    }
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  fs::rename(tmp, dest, ec);
  IA_CHECK(!ec, ErrorKind::Io, "cannot move {} to {}: {}", tmp, dest, ec.message());
  return dest;
}

}  // namespace ia::ipfs
