// The on-disk model cache, laid out exactly as Python's huggingface_hub does, so either tool reuses the
// other's downloads:
//   {cache}/models--{org}--{name}/blobs/{etag}             file content (etag: sha256 for LFS, git sha1 else)
//   {cache}/models--{org}--{name}/snapshots/{commit}/{path} relative symlink to ../../blobs/{etag}
//   {cache}/models--{org}--{name}/refs/{revision}           the commit a branch/tag pointed to
//   {cache}/.locks/models--{org}--{name}/{etag}.lock        flock(2) lock held while a blob is written
#pragma once
#include <optional>
#include <string>

namespace ia {

// The hub cache directory: HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, $HF_HOME/hub, $XDG_CACHE_HOME/huggingface/hub,
// or ~/.cache/huggingface/hub.
std::string default_hub_cache_dir();
// Where ipfs-accelerate keeps what is not the Hub's (IPFS-fetched models): IA_CACHE_DIR, or
// $XDG_CACHE_HOME/ipfs-accelerate, or ~/.cache/ipfs-accelerate.
std::string default_ia_cache_dir();

// A 40-hex-digit git commit id.
bool is_commit_hash(const std::string& s);
// A 64-hex-digit sha256 (the ETag of an LFS file).
bool is_sha256_hex(const std::string& s);

class HubCache {
 public:
  explicit HubCache(std::string root) : root_(std::move(root)) {}
  const std::string& root() const { return root_; }

  static std::string repo_folder_name(const std::string& repo);  // "org/name" -> "models--org--name"
  std::string repo_dir(const std::string& repo) const;
  std::string blob_path(const std::string& repo, const std::string& etag) const;
  std::string snapshot_dir(const std::string& repo, const std::string& commit) const;
  std::string snapshot_path(const std::string& repo, const std::string& commit, const std::string& file) const;
  std::string lock_path(const std::string& repo, const std::string& etag) const;

  // The commit a revision names: a commit hash is itself, a branch/tag is read from refs/.
  std::optional<std::string> resolve_ref(const std::string& repo, const std::string& revision) const;
  void write_ref(const std::string& repo, const std::string& revision, const std::string& commit) const;
  // snapshots/{commit}/{file} if it exists (and its blob does), for the commit `revision` names.
  std::optional<std::string> cached_file(const std::string& repo, const std::string& revision,
                                         const std::string& file) const;
  // Points snapshots/{commit}/{file} at blobs/{etag} (relative symlink, replacing what was there).
  std::string link_snapshot(const std::string& repo, const std::string& commit, const std::string& file,
                            const std::string& etag) const;

 private:
  std::string root_;
};

// An exclusive flock(2) on a lock file (created with its directories), released on destruction.
// Compatible with the `filelock` package huggingface_hub uses on POSIX.
class FileLock {
 public:
  explicit FileLock(const std::string& path);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace ia
