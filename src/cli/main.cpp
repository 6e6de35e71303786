// Entry point of the `ipfs-accelerate` command: global flags, then the registered subcommands.
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "cli/command.h"
#include "core/error.h"
#include "core/thread_pool.h"

int main(int argc, char** argv) {
  CLI::App app{"ipfs-accelerate: run and validate HuggingFace models natively on every backend"};
  app.set_version_flag("--version", std::string("ipfs-accelerate ") + IA_VERSION);
  app.require_subcommand(1);
  app.fallthrough();
  auto& g = ia::cli::globals();
  app.add_option("--threads", g.threads, "CPU threads (default: IA_NUM_THREADS or physical cores)")
      ->check(CLI::NonNegativeNumber);
  bool offline = false;
  app.add_flag("--offline", offline, "never touch the network (same as HF_HUB_OFFLINE=1)");
  app.parse_complete_callback([&] {
    if (g.threads > 0) ia::set_num_threads(g.threads);
    if (offline) setenv("IA_OFFLINE", "1", 1);
  });
  ia::cli::setup_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const ia::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  return ia::cli::exit_code();
}
