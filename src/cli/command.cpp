#include "cli/command.h"

#include <unistd.h>

#include <algorithm>

namespace ia::cli {

namespace {
struct Entry {
  std::string name;
  int order;
  CommandSetup setup;
};
std::vector<Entry>& entries() {
  static std::vector<Entry> e;
  return e;
}
int g_exit_code = 0;
}  // namespace

GlobalOptions& globals() {
  static GlobalOptions g;
  return g;
}

void register_command(const std::string& name, int order, CommandSetup setup) {
  entries().push_back({name, order, std::move(setup)});
}

void setup_commands(CLI::App& app) {
  auto& e = entries();
  std::stable_sort(e.begin(), e.end(), [](const Entry& a, const Entry& b) { return a.order < b.order; });
  for (auto& c : e) c.setup(app);
}

void set_exit_code(int code) { g_exit_code = code; }
int exit_code() { return g_exit_code; }

bool interactive() { return !globals().json && isatty(STDOUT_FILENO); }

}  // namespace ia::cli
