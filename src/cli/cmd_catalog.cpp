// `ipfs-accelerate catalog list|show|add`: browse the model catalog and add a model from its HF config.
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

#include "cli/command.h"
#include "core/error.h"
#include "models/model.h"
#include "testing/catalog.h"
#include "testing/model_test.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A config.json path, a model directory, or an HF id found in the local HF cache.
std::pair<std::string, json> read_hf_config(const std::string& what) {
  fs::path p(what);
  if (fs::is_directory(p)) {
    p /= "config.json";
    if (!fs::exists(p) && fs::exists(p.parent_path() / "model_index.json")) p = p.parent_path() / "unet" / "config.json";
  }
  if (!fs::exists(p)) {
    // HF cache layout: $HF_HUB_CACHE or $HF_HOME/hub or ~/.cache/huggingface/hub / models--org--name/snapshots/*/
    std::string cache;
    if (const char* c = std::getenv("HF_HUB_CACHE")) cache = c;
    else if (const char* h = std::getenv("HF_HOME")) cache = std::string(h) + "/hub";
    else if (const char* home = std::getenv("HOME")) cache = std::string(home) + "/.cache/huggingface/hub";
    std::string dir = "models--" + what;
    for (size_t i = 0; (i = dir.find('/', i)) != std::string::npos;) dir.replace(i, 1, "--");
    const fs::path snaps = fs::path(cache) / dir / "snapshots";
    IA_CHECK(fs::is_directory(snaps), ia::ErrorKind::NotFound,
             "{}: not a config.json, a model directory, or an HF id in the local HF cache ({}); download it first or "
             "pass its config.json",
             what, snaps.string());
    for (const auto& s : fs::directory_iterator(snaps))
      if (fs::exists(s.path() / "config.json")) p = s.path() / "config.json";
    IA_CHECK(fs::exists(p), ia::ErrorKind::NotFound, "{}: no config.json in {}", what, snaps.string());
  }
  std::ifstream in(p);
  json j = json::parse(in, nullptr, false);
  IA_CHECK(!j.is_discarded() && j.is_object(), ia::ErrorKind::Format, "{}: not a JSON object", p.string());
  return {p.string(), j};
}

std::string guess_id(const std::string& what, const json& cfg) {
  if (cfg.contains("_name_or_path") && cfg["_name_or_path"].is_string()) {
    std::string n = cfg["_name_or_path"].get<std::string>();
    if (!n.empty() && n.find('/') != std::string::npos && n[0] != '/' && n[0] != '.') return n;
  }
  if (!fs::exists(what)) return what;  // an HF id
  return "";
}

void print_entry(const ia::suite::CatalogEntry& e) {
  const std::string why = ia::suite::ModelTest::create(e)->unsupported_reason();
  fmt::print("{}\n  family        {}\n  model_type    {}\n  architecture  {}\n  task          {}\n  params        {}\n",
             e.id, e.family, e.model_type, e.architecture, e.task, e.params);
  if (!e.norm.empty()) fmt::print("  norm          {}\n", e.norm);
  if (!e.position.empty()) fmt::print("  position      {}\n", e.position);
  if (!e.tags.empty()) fmt::print("  tags          {}\n", fmt::join(e.tags, ", "));
  fmt::print("  test class    {}\n  engine        {}\n  source        {}\n  config        {}\n",
             ia::suite::ModelTest::create(e)->class_name(), why.empty() ? "implemented" : why, e.source, e.config.dump());
}

void setup(CLI::App& app) {
  auto* c = app.add_subcommand("catalog", "The model catalog: list, show, add (from an HF config)");
  c->require_subcommand(1);
  auto dir = std::make_shared<std::string>();
  c->add_option("--catalog", *dir, "Catalog directory (default: $IA_CATALOG_DIR or the source tree's catalog/)");
  auto catalog_dir = [dir] { return dir->empty() ? ia::suite::default_catalog_dir() : *dir; };

  auto family = std::make_shared<std::string>();
  auto* list = c->add_subcommand("list", "List catalog entries");
  list->add_option("--family", *family, "Only this family");
  list->add_flag("--json", ia::cli::globals().json, "JSON lines");
  list->callback([family, catalog_dir] {
    auto cat = ia::suite::Catalog::load(catalog_dir());
    int n = 0;
    for (const auto& e : cat.entries()) {
      if (!family->empty() && e.family != *family) continue;
      ++n;
      if (ia::cli::globals().json) {
        auto j = e.to_json();
        j["implemented"] = ia::model_supports(e.model_type, e.architecture);
        std::cout << j.dump() << "\n";
      } else {
        fmt::print("{:<62} {:<28} {:<18} {:<40} {}\n", e.id, e.family, e.model_type, e.architecture,
                   ia::model_supports(e.model_type, e.architecture) ? "implemented" : "-");
      }
    }
    if (!ia::cli::globals().json) fmt::print("{} entries\n", n);
  });

  auto id = std::make_shared<std::string>();
  auto tiny = std::make_shared<bool>(false);
  auto* show = c->add_subcommand("show", "Show one entry");
  show->add_option("id", *id, "Catalog id")->required();
  show->add_flag("--tiny", *tiny, "Print the tiny config `test --weights tiny` synthesizes");
  show->add_flag("--json", ia::cli::globals().json, "JSON");
  show->callback([id, tiny, catalog_dir] {
    auto cat = ia::suite::Catalog::load(catalog_dir());
    const auto* e = cat.find(*id);
    IA_CHECK(e != nullptr, ia::ErrorKind::NotFound, "{}: not in the catalog", *id);
    if (*tiny) {
      std::cout << ia::suite::make_tiny_config(*e).dump(2) << std::endl;
    } else if (ia::cli::globals().json) {
      std::cout << e->to_json().dump(2) << std::endl;
    } else {
      print_entry(*e);
    }
  });

  struct AddArgs {
    std::string source, id;
    bool dry_run = false;
  };
  auto a = std::make_shared<AddArgs>();
  auto* add = c->add_subcommand("add", "Add a model: classify its family from model_type/architectures, fill the template");
  add->add_option("source", a->source, "config.json | model directory | HF id (in the local HF cache)")->required();
  add->add_option("--id", a->id, "HF model id (default: the HF id given, or _name_or_path)");
  add->add_flag("--dry-run", a->dry_run, "Print the entry without writing it");
  add->add_flag("--json", ia::cli::globals().json, "Print the entry as JSON");
  add->callback([a, catalog_dir] {
    auto [path, cfg] = read_hf_config(a->source);
    const std::string id = a->id.empty() ? guess_id(a->source, cfg) : a->id;
    IA_CHECK(!id.empty(), ia::ErrorKind::InvalidArgument, "{}: cannot tell the HF id; pass --id org/name", path);
    const std::string dir = catalog_dir();
    std::optional<ia::suite::Catalog> cat;
    if (fs::is_directory(dir)) cat = ia::suite::Catalog::load(dir);
    auto e = ia::suite::entry_from_hf_config(id, cfg, cat ? &*cat : nullptr);
    if (!a->dry_run) {
      ia::suite::append_entry(dir, e);
      e.source = (fs::path(dir) / (e.family + ".jsonl")).string();
    }
    if (ia::cli::globals().json) std::cout << e.to_json().dump() << std::endl;
    else {
      print_entry(e);
      fmt::print("{}\n", a->dry_run ? "(dry run: not written)" : "added to " + e.source);
    }
  });
}

}  // namespace

IA_REGISTER_COMMAND(catalog, 41, setup)
