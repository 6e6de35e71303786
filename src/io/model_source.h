// Where a model comes from: every command that takes a model passes its argument to resolve_model(), which
// accepts a local directory or file, a Hugging Face repo id (`org/name`, `name`, `org/name@revision`, optionally
// prefixed `hf://`), or `ipfs://<cid>`, and returns a local path with the model's files.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace ia {

struct ModelLocation {
  enum class Kind { Local, Hub, Ipfs };
  Kind kind = Kind::Local;
  std::string path;      // Local: the path as given
  std::string repo;      // Hub: "org/name"
  std::string revision;  // Hub: branch, tag or commit ("main" when not given)
  std::string cid;       // Ipfs: the root CID text
};

// Classifies a model argument; InvalidArgument/NotFound when it is none of the three.
ModelLocation parse_model_location(const std::string& spec);

struct ModelSourceOptions {
  std::string revision;              // Hub: overrides an "@revision" in the spec
  std::vector<std::string> include;  // Hub: fetch files matching these globs instead of the model's files
  std::optional<bool> offline;       // unset: HF_HUB_OFFLINE / IA_OFFLINE from the environment
  std::optional<bool> progress;      // unset: progress bars on a terminal unless HF_HUB_DISABLE_PROGRESS_BARS
};

// A local directory (or file) holding the model: a local path as is; a Hub repo from the HF cache, downloading
// what is missing unless offline (config, tokenizer and safetensors weights -- every shard of a sharded
// checkpoint); an IPFS CID from the ipfs-accelerate cache, fetched through IPFS_GATEWAY with every block verified.
std::string resolve_model(const std::string& spec, const ModelSourceOptions& opts = {});

}  // namespace ia
