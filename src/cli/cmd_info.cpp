// `ipfs-accelerate info <model-dir>`: what a checkpoint is and whether the engine can load it.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "io/model_source.h"
#include "models/model.h"

namespace {

struct Args {
  std::string model;
};

int run(const Args& a) {
  namespace fs = std::filesystem;
  const std::string dir = ia::resolve_model(a.model);
  IA_CHECK(fs::is_directory(dir), ia::ErrorKind::NotFound, "{}: not a model directory", dir);
  ia::ModelConfig config = ia::ModelConfig::load((fs::path(dir) / "config.json").string());
  auto ckpt = ia::Checkpoint::open(dir);
  std::map<std::string, int64_t> by_dtype;
  int64_t params = 0;
  for (const auto& n : ckpt->names()) {
    const auto& t = ckpt->info(n);
    const int64_t numel = ia::shape_numel(t.shape);
    params += numel;
    by_dtype[ia::dtype_name(t.dtype)] += numel;
  }
  std::string dtype = "?";
  int64_t best = -1;
  for (const auto& [d, n] : by_dtype)
    if (n > best) best = n, dtype = d;

  nlohmann::json j;
  j["path"] = dir;
  j["model_type"] = config.model_type();
  j["architectures"] = config.architectures();
  j["weights_file"] = ckpt->path();
  j["shards"] = ckpt->files().size();
  j["tensors"] = ckpt->names().size();
  j["parameters"] = params;
  j["dtype"] = dtype;
  j["file_bytes"] = ckpt->total_bytes();
  const ia::ModelSpec* spec = ia::find_model_type(config.model_type());
  j["family"] = spec ? spec->family : "";
  j["implemented"] = spec != nullptr;
  int rc = 0;
  if (spec) {
    ia::WeightLoader loader(ckpt, ia::Device::cpu(), /*strict=*/false);
    try {
      auto model = ia::build_model(config, loader, "");
      j["hf_class"] = model->hf_class();
      const auto& r = loader.report();
      j["missing"] = r.missing;
      j["shape_mismatches"] = r.mismatched;
      j["unexpected"] = r.unexpected(*ckpt);
      // f32 compute: tensors stored in another float dtype are widened once at load.
      int64_t widened = 0;
      for (const auto& n : r.used)
        if (ckpt->has(n) && ckpt->info(n).dtype != ia::DType::F32) widened += ia::shape_numel(ckpt->info(n).shape) * 4;
      j["memory_bytes"] = ckpt->total_bytes() + widened;
      j["loadable"] = r.missing.empty() && r.mismatched.empty();
      if (!j["loadable"].get<bool>()) rc = 1;
    } catch (const ia::Error& e) {
      j["loadable"] = false;
      j["error"] = e.what();
      rc = 1;
    }
  } else {
    j["loadable"] = false;
    j["error"] = fmt::format("unsupported: {}", config.model_type());
    rc = 1;
  }
  if (ia::cli::globals().json) {
    std::cout << j.dump(2) << std::endl;
    return rc;
  }
  auto human = [](double b) {
    const char* u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (b >= 1024 && i < 4) b /= 1024, ++i;
    return fmt::format("{:.1f} {}", b, u[i]);
  };
  fmt::print("model:        {}\n", dir);
  fmt::print("model_type:   {} ({})\n", j["model_type"].get<std::string>(),
             spec ? spec->family : std::string("not implemented"));
  if (j.contains("hf_class")) fmt::print("class:        {}\n", j["hf_class"].get<std::string>());
  fmt::print("weights:      {} ({} shard{}, {} tensors)\n", ckpt->path(), ckpt->files().size(),
             ckpt->files().size() == 1 ? "" : "s", ckpt->names().size());
  fmt::print("parameters:   {} ({:.2f} M)\n", params, params / 1e6);
  fmt::print("dtype:        {}\n", dtype);
  fmt::print("file size:    {}\n", human(static_cast<double>(ckpt->total_bytes())));
  if (j.contains("memory_bytes")) fmt::print("memory (f32): {}\n", human(j["memory_bytes"].get<double>()));
  if (j.contains("missing")) {
    fmt::print("missing:      {}\n", j["missing"].empty() ? "none" : fmt::format("{}", fmt::join(j["missing"].get<std::vector<std::string>>(), ", ")));
    for (const auto& m : j["shape_mismatches"]) fmt::print("mismatch:     {}\n", m.get<std::string>());
    fmt::print("unexpected:   {}\n", j["unexpected"].empty() ? "none" : fmt::format("{}", fmt::join(j["unexpected"].get<std::vector<std::string>>(), ", ")));
  }
  if (j.contains("error")) fmt::print("error:        {}\n", j["error"].get<std::string>());
  fmt::print("loadable:     {}\n", j["loadable"].get<bool>() ? "yes" : "no");
  return rc;
}

void setup(CLI::App& app) {
  auto args = std::make_shared<Args>();
  auto* c = app.add_subcommand("info", "Describe a model directory: type, family, parameters, dtype, memory, tensors");
  c->add_option("model", args->model, "Model: local directory, HF id (org/name[@revision]) or ipfs://<cid>")->required();
  c->add_flag("--json", ia::cli::globals().json, "machine-readable output");
  c->callback([args] { ia::cli::set_exit_code(run(*args)); });
}

}  // namespace

IA_REGISTER_COMMAND(info, 20, setup)
