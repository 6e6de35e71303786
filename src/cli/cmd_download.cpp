// `ipfs-accelerate download <model>`: fetch a Hub repo (or an ipfs:// model) into the local cache and print
// where it is.
#include <fmt/format.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/error.h"
#include "io/model_source.h"

namespace {

struct DownloadArgs {
  std::string model;
  std::string revision;
  std::vector<std::string> include;
  bool offline = false;
};

void setup(CLI::App& app) {
  auto a = std::make_shared<DownloadArgs>();
  auto* cmd = app.add_subcommand("download", "Download a model into the cache (HF id, org/name@revision, ipfs://<cid>)");
  cmd->add_option("model", a->model, "org/name[@revision], or ipfs://<cid>")->required();
  cmd->add_option("--revision", a->revision, "Branch, tag or commit (overrides @revision; default main)");
  cmd->add_option("--include", a->include,
                  "Only files matching this glob ('*' matches '/'; repeatable). Default: configs, tokenizer files and "
                  "safetensors weights")
      ->take_all();
  cmd->add_flag("--offline", a->offline, "Never touch the network: only report what the cache has (as HF_HUB_OFFLINE=1)");
  cmd->add_flag("--json", ia::cli::globals().json, "Machine-readable output");
  cmd->callback([a] {
    ia::ModelLocation spec = ia::parse_model_location(a->model);
    IA_CHECK(spec.kind != ia::ModelLocation::Kind::Local, ia::ErrorKind::InvalidArgument,
             "{} is a local path; download takes a Hub repo id or ipfs://<cid>", a->model);
    ia::ModelSourceOptions o;
    o.revision = a->revision;
    o.include = a->include;
    if (a->offline) o.offline = true;
    if (ia::cli::globals().json) o.progress = false;
    std::string path = ia::resolve_model(a->model, o);
    if (ia::cli::globals().json) {
      nlohmann::json files = nlohmann::json::array();
      namespace fs = std::filesystem;
      if (fs::is_directory(path)) {
        for (const auto& e : fs::recursive_directory_iterator(path))
          if (fs::is_regular_file(e.path())) files.push_back(fs::relative(e.path(), path).string());
      }
      std::sort(files.begin(), files.end());
      fmt::print("{}\n", nlohmann::json{{"model", a->model}, {"path", path}, {"files", files}}.dump());
    } else {
      fmt::print("{}\n", path);
    }
  });
}

}  // namespace

IA_REGISTER_COMMAND(download, 50, setup)
