// `ipfs-accelerate cid <file|dir>`: the CIDv1 that `ipfs add --cid-version 1` gives, computed locally.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "io/cid.h"

namespace {

void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("cid", "Compute the IPFS CIDv1 of a file or directory (as `ipfs add --cid-version 1`)");
  auto path = std::make_shared<std::string>();
  cmd->add_option("path", *path, "File or directory")->required();
  cmd->add_flag("--json", ia::cli::globals().json, "Machine-readable output");
  cmd->callback([path] {
    auto e = ia::ipfs::add_path(*path);
    if (ia::cli::globals().json) {
      nlohmann::json j{{"path", *path}, {"cid", e.cid.to_string()}, {"size", e.size}, {"dag_size", e.tsize}};
      fmt::print("{}\n", j.dump());
    } else {
      fmt::print("{}\n", e.cid.to_string());
    }
  });
}

}  // namespace

IA_REGISTER_COMMAND(cid, 60, setup)
