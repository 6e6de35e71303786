// Subcommand registry for the `ipfs-accelerate` CLI: each subcommand lives in its own cmd_<name>.cpp and
// registers a setup function that adds a CLI11 subcommand and its callback.
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace ia::cli {

// Global flags every command sees (set before the subcommand callback runs).
struct GlobalOptions {
  int threads = 0;  // 0: default (IA_NUM_THREADS or physical cores)
  bool json = false;
};
GlobalOptions& globals();

// A command's setup adds a subcommand to `app`; its callback sets the process exit code via set_exit_code().
using CommandSetup = std::function<void(CLI::App& app)>;
void register_command(const std::string& name, int order, CommandSetup setup);
void setup_commands(CLI::App& app);

void set_exit_code(int code);
int exit_code();

// stdout is a terminal (progress bars, colors) and not --json.
bool interactive();

}  // namespace ia::cli

#define IA_REGISTER_COMMAND(ID, ORDER, SETUP) \
  namespace {                                 \
  const bool ia_command_registered_##ID = (::ia::cli::register_command(#ID, ORDER, SETUP), true); \
  }
