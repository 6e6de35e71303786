// IPFS model store: a content-addressed manifest of a model directory, and fetching from `ipfs://<cid>`
// through a trustless HTTP gateway (raw blocks or CAR), verifying every block's sha2-256 before use.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "io/cid.h"

namespace ia::ipfs {

// {"format": "ipfs-accelerate/model-manifest", "version": 1,
//  "files": {"config.json": {"cid": "bafk...", "size": 570}, ...}}   -- keys sorted, 2-space indent, final '\n'.
// The manifest's own CID is the CID of these bytes as a file (what `ipfs add --cid-version 1` gives for it).
struct ManifestEntry {
  std::string path;  // relative, '/'-separated
  Cid cid;
  uint64_t size = 0;
};
struct Manifest {
  std::vector<ManifestEntry> files;  // sorted by path
  std::string to_json() const;
  Cid cid() const;
  static Manifest parse(std::string_view json, const std::string& source);  // Format error naming `source`
  static bool looks_like(std::string_view bytes);  // starts like a manifest (cheap check before parse)
};
constexpr const char* kManifestFormat = "ipfs-accelerate/model-manifest";

// Every regular file under `dir` (recursively; hidden entries skipped; symlinks followed, so an HF snapshot
// directory works) with its CID and size.
Manifest make_manifest(const std::string& dir);

struct GatewayOptions {
  std::string gateway = "https://trustless-gateway.link";  // IPFS_GATEWAY
  bool car = false;       // IPFS_GATEWAY_FORMAT=car: one CAR response per file instead of one request per block
  std::string cache_dir;  // default_ia_cache_dir() + "/ipfs"
  bool offline = false;   // HF_HUB_OFFLINE / IA_OFFLINE
  bool progress = true;
  int max_workers = 8;
  int max_retries = 4;
  int retry_base_ms = 500;  // IA_HUB_RETRY_BASE_MS
  long connect_timeout_s = 10;
  long low_speed_time_s = 30;
  static GatewayOptions from_env();
};

// Fetches `ipfs://<cid>` (or a bare CID) into {cache_dir}/{cid} unless it is there already, and returns that
// path. The root may be a model manifest (its files are fetched into a directory), a UnixFS directory, or a
// single file. Every block is checked against its CID; a mismatch is a Format error naming block and gateway,
// and nothing enters the cache.
std::string fetch(const std::string& uri, const GatewayOptions& opts = GatewayOptions::from_env());

}  // namespace ia::ipfs
