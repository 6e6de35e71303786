// `ipfs-accelerate cid <file|dir|model>`: the CIDv1 that `ipfs add --cid-version 1` gives, computed locally;
// with --manifest, the content-addressed model manifest of a directory (or of a resolved model); --car
// exports every block so any IPFS node can serve it (`ipfs dag import`).
#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "cli/command.h"
#include "core/error.h"
#include "io/cid.h"
#include "io/ipfs.h"
#include "io/model_source.h"

namespace {

struct CidArgs {
  std::string path;
  bool manifest = false;
  std::string write;
  std::string car;
};

// Streams a CARv1: header with the root first, then each distinct block once.
class CarWriter {
 public:
  explicit CarWriter(const std::string& path) : path_(path) {
    if (!path.empty()) {
      out_.open(path, std::ios::binary | std::ios::trunc);
      IA_CHECK(out_.good(), ia::ErrorKind::Io, "cannot write {}", path);
      out_ << ia::ipfs::car_header({});  // rewritten with the root at close()
      header_len_ = size_t(out_.tellp());
    }
  }
  ia::ipfs::BlockSink sink() {
    if (path_.empty()) return {};
    return [this](const ia::ipfs::Cid& c, std::string_view b) {
      if (seen_.insert(c.binary()).second) out_ << ia::ipfs::car_section(c, b);
    };
  }
  // The root is only known at the end: write a fresh file with it first, then the sections.
  void close(const ia::ipfs::Cid& root) {
    if (path_.empty()) return;
    out_.close();
    std::ifstream in(path_, std::ios::binary);
    std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out << ia::ipfs::car_header({root}) << std::string_view(body).substr(header_len_);
    IA_CHECK(out.good(), ia::ErrorKind::Io, "cannot write {}", path_);
  }

 private:
  std::string path_;
  std::ofstream out_;
  size_t header_len_ = 0;
  std::set<std::string> seen_;
};

void setup(CLI::App& app) {
  auto a = std::make_shared<CidArgs>();
  auto* cmd = app.add_subcommand("cid", "IPFS CIDv1 of a file or directory, as `ipfs add --cid-version 1` computes it");
  cmd->add_option("path", a->path, "File or directory (with --manifest also a model: org/name[@rev], ipfs://<cid>)")
      ->required();
  cmd->add_flag("--manifest", a->manifest, "Print the CID of the model manifest (each file's CID and size)");
  cmd->add_option("--write", a->write, "With --manifest: also write the manifest JSON to this file");
  cmd->add_option("--car", a->car, "Also write every block (and the manifest's) to this CARv1 file");
  cmd->add_flag("--json", ia::cli::globals().json, "Machine-readable output");
  cmd->callback([a] {
    bool json = ia::cli::globals().json;
    CarWriter car(a->car);
    if (!a->manifest) {
      auto e = ia::ipfs::add_path(a->path, car.sink());
      car.close(e.cid);
      if (json) {
        fmt::print("{}\n", nlohmann::json{{"path", a->path}, {"cid", e.cid.to_string()}, {"size", e.size},
                                          {"dag_size", e.tsize}}.dump());
      } else {
        fmt::print("{}\n", e.cid.to_string());
      }
      return;
    }
    std::string dir = ia::resolve_model(a->path);
    auto m = ia::ipfs::make_manifest(dir);
    std::string text = m.to_json();
    auto sink = car.sink();
    if (sink) {
      for (const auto& f : m.files) ia::ipfs::add_file(dir + "/" + f.path, sink);
    }
    auto root = ia::ipfs::add_bytes(text, sink).cid;
    car.close(root);
    if (!a->write.empty()) {
      std::ofstream out(a->write, std::ios::binary | std::ios::trunc);
      out << text;
      IA_CHECK(out.good(), ia::ErrorKind::Io, "cannot write {}", a->write);
    }
    if (json) {
      fmt::print("{}\n", nlohmann::json{{"path", dir}, {"manifest_cid", root.to_string()},
                                        {"manifest", nlohmann::json::parse(text)}}.dump());
    } else {
      fmt::print("{}\n", root.to_string());
    }
  });
}

}  // namespace

IA_REGISTER_COMMAND(cid, 60, setup)
