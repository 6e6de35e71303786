// Hugging Face Hub client: resolves and downloads a model repo's files at a revision into the
// huggingface_hub-compatible cache (io/cache.h), with resume, retries, auth, offline mode, parallel
// downloads and sha256 verification of LFS files.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/cache.h"

namespace ia {

class DownloadProgress;

struct HubOptions {
  std::string endpoint = "https://huggingface.co";  // HF_ENDPOINT
  std::string token;                                // HF_TOKEN, HUGGING_FACE_HUB_TOKEN, or $HF_HOME/token
  std::string cache_dir;                            // default_hub_cache_dir()
  bool offline = false;                             // HF_HUB_OFFLINE=1: never touch the network
  bool progress = true;                             // bars on stderr when it is a terminal
  bool verify_cached = false;                       // re-hash cached LFS blobs; re-download a corrupt one
  int max_workers = 8;                              // parallel file downloads
  int max_retries = 5;                              // per request, on 5xx/429/timeouts/cut connections
  int retry_base_ms = 1000;                         // backoff: base * 2^attempt, capped at 16x base
  long connect_timeout_s = 10;
  long low_speed_time_s = 30;  // a transfer stalled this long counts as a timeout

  // Defaults overridden by the environment (the variables above; HF_HUB_DISABLE_PROGRESS_BARS;
  // IA_HUB_RETRY_BASE_MS and IA_HUB_MAX_RETRIES for tuning).
  static HubOptions from_env();
};

// An HF repo id with an optional revision: "org/name", "name", "org/name@rev".
struct RepoRef {
  std::string repo;
  std::string revision = "main";
  static std::optional<RepoRef> parse(const std::string& spec);  // nullopt: not a valid repo id
};

struct RepoListing {
  std::string commit;
  std::vector<std::string> files;  // repo-relative paths
};

class HubClient {
 public:
  explicit HubClient(HubOptions opts = HubOptions::from_env());
  const HubOptions& options() const { return opts_; }
  const HubCache& cache() const { return cache_; }

  // The commit and files of a revision (GET /api/models/{repo}/revision/{rev}).
  RepoListing list_files(const std::string& repo, const std::string& revision);

  // One file of the repo at a revision, from the cache or downloaded into it; returns its snapshot path.
  std::string download_file(const std::string& repo, const std::string& revision, const std::string& file);

  // Files at a revision: those matching any of `patterns` (fnmatch globs as huggingface_hub uses, '*' matching
  // '/' too), or with no patterns the model files (select_model_files). Downloads in parallel, then returns the
  // snapshot directory. Offline, or when the Hub is unreachable, returns the cached snapshot if there is one.
  std::string snapshot_download(const std::string& repo, const std::string& revision,
                                const std::vector<std::string>& patterns = {});

 private:
  struct FileMeta;
  FileMeta head(const std::string& repo, const std::string& revision, const std::string& file);
  std::string fetch_blob(const std::string& repo, const FileMeta& meta, const std::string& file, int progress_id);
  std::string cached_snapshot(const std::string& repo, const std::string& revision, const std::string& why) const;
  std::vector<std::string> auth_headers() const;
  HubOptions opts_;
  HubCache cache_;
  DownloadProgress* progress_ = nullptr;
};

// The files a model needs from a repo listing: configs and tokenizer files (*.json, *.txt, *.model,
// *.tiktoken), and its weights: the shards named by a *.safetensors.index.json (read through `read_index`),
// else the top-level *.safetensors, else -- with a note explaining it -- PyTorch *.bin weights.
std::vector<std::string> select_model_files(const std::vector<std::string>& files,
                                            const std::function<std::string(const std::string&)>& read_index,
                                            std::string* note);

// The Hub's revision listing (GET /api/models/{repo}/revision/{rev}) from its JSON body; Format errors name `url`.
RepoListing parse_repo_listing(std::string_view body, const std::string& url);

// Glob match as Python's fnmatch: '*' and '?' match any character including '/'.
bool hub_glob_match(const std::string& pattern, const std::string& path);

}  // namespace ia
