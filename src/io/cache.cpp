#include "io/cache.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "io/safe_path.h"

namespace ia {

namespace fs = std::filesystem;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::string home_cache() {
  std::string xdg = env("XDG_CACHE_HOME");
  if (!xdg.empty()) return xdg;
  std::string home = env("HOME");
  return (home.empty() ? std::string("/tmp") : home) + "/.cache";
}

bool all_hex(const std::string& s, size_t n) {
  if (s.size() != n) return false;
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c)) || std::isupper(static_cast<unsigned char>(c))) return false;
  return true;
}

}  // namespace

std::string default_hub_cache_dir() {
  for (const char* name : {"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"}) {
    std::string v = env(name);
    if (!v.empty()) return v;
  }
  std::string hf_home = env("HF_HOME");
  if (!hf_home.empty()) return hf_home + "/hub";
  return home_cache() + "/huggingface/hub";
}

std::string default_ia_cache_dir() {
  std::string v = env("IA_CACHE_DIR");
  if (!v.empty()) return v;
  return home_cache() + "/ipfs-accelerate";
}

bool is_commit_hash(const std::string& s) { return all_hex(s, 40); }
bool is_sha256_hex(const std::string& s) { return all_hex(s, 64); }

std::string HubCache::repo_folder_name(const std::string& repo) {
  std::string out = "models--";
  for (char c : repo) {
    if (c == '/') out += "--";
    else out.push_back(c);
  }
  return out;
}

std::string HubCache::repo_dir(const std::string& repo) const { return root_ + "/" + repo_folder_name(repo); }
std::string HubCache::blob_path(const std::string& repo, const std::string& etag) const {
  return repo_dir(repo) + "/blobs/" + etag;
}
std::string HubCache::snapshot_dir(const std::string& repo, const std::string& commit) const {
  return repo_dir(repo) + "/snapshots/" + commit;
}
std::string HubCache::snapshot_path(const std::string& repo, const std::string& commit, const std::string& file) const {
  return checked_join(snapshot_dir(repo, commit), file, "file name in " + repo).string();
}
std::string HubCache::lock_path(const std::string& repo, const std::string& etag) const {
  return root_ + "/.locks/" + repo_folder_name(repo) + "/" + etag + ".lock";
}

std::optional<std::string> HubCache::resolve_ref(const std::string& repo, const std::string& revision) const {
  if (is_commit_hash(revision)) return revision;
  std::ifstream in(repo_dir(repo) + "/refs/" + revision);
  if (!in) return std::nullopt;
  std::string commit;
  std::getline(in, commit);
  while (!commit.empty() && std::isspace(static_cast<unsigned char>(commit.back()))) commit.pop_back();
  if (!is_commit_hash(commit)) return std::nullopt;
  return commit;
}

void HubCache::write_ref(const std::string& repo, const std::string& revision, const std::string& commit) const {
  if (revision == commit) return;
  fs::path p = repo_dir(repo) + "/refs/" + revision;
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  IA_CHECK(!ec, ErrorKind::Io, "cannot create {}: {}", p.parent_path().string(), ec.message());
  {
    std::ifstream in(p);
    std::string cur;
    if (in && std::getline(in, cur) && cur == commit) return;
  }
  // Written whole then renamed, so a concurrent reader sees the old or the new commit, never half of one.
  std::string tmp = p.string() + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << commit;  // huggingface_hub writes the bare commit, no newline
    IA_CHECK(out.good(), ErrorKind::Io, "cannot write {}", tmp);
  }
  fs::rename(tmp, p, ec);
  IA_CHECK(!ec, ErrorKind::Io, "cannot write {}: {}", p.string(), ec.message());
}

std::optional<std::string> HubCache::cached_file(const std::string& repo, const std::string& revision,
                                                 const std::string& file) const {
  auto commit = resolve_ref(repo, revision);
  if (!commit) return std::nullopt;
  std::string p = snapshot_path(repo, *commit, file);
  std::error_code ec;
  if (!fs::exists(p, ec)) return std::nullopt;  // follows the symlink: a dangling link is a miss
  return p;
}

std::string HubCache::link_snapshot(const std::string& repo, const std::string& commit, const std::string& file,
                                    const std::string& etag) const {
  fs::path link = snapshot_path(repo, commit, file);
  std::error_code ec;
  fs::create_directories(link.parent_path(), ec);
  IA_CHECK(!ec, ErrorKind::Io, "cannot create {}: {}", link.parent_path().string(), ec.message());
  fs::path target = fs::relative(blob_path(repo, etag), link.parent_path(), ec);
  IA_CHECK(!ec, ErrorKind::Io, "cannot relate {} to {}: {}", blob_path(repo, etag), link.string(), ec.message());
  // A per-process temporary name then rename(2): concurrent linkers never see a missing or partial link.
  fs::path tmp = link.string() + ".tmp." + std::to_string(::getpid());
  fs::remove(tmp, ec);
  fs::create_symlink(target, tmp, ec);
  IA_CHECK(!ec, ErrorKind::Io, "cannot create symlink {} -> {}: {}", tmp.string(), target.string(), ec.message());
  fs::rename(tmp, link, ec);
  IA_CHECK(!ec, ErrorKind::Io, "cannot create symlink {}: {}", link.string(), ec.message());
  return link.string();
}

FileLock::FileLock(const std::string& path) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  IA_CHECK(!ec, ErrorKind::Io, "cannot create lock directory for {}: {}", path, ec.message());
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  IA_CHECK(fd_ >= 0, ErrorKind::Io, "cannot open lock file {}: {}", path, std::strerror(errno));
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    int e = errno;
    ::close(fd_);
    fail(ErrorKind::Io, "cannot lock {}: {}", path, std::strerror(e));
  }
}

FileLock::~FileLock() {
  if (fd_ >= 0) {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
}

}  // namespace ia
