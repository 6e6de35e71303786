// `ipfs-accelerate results merge A.db B.db ... -o all.db`: combine the results databases of suite shards.
#include <fmt/format.h>

#include <filesystem>

#include "cli/command.h"
#include "core/error.h"
#include "testing/results_db.h"

namespace {

void setup(CLI::App& app) {
  auto* c = app.add_subcommand("results", "Manage suite results databases");
  c->require_subcommand(1);
  auto inputs = std::make_shared<std::vector<std::string>>();
  auto output = std::make_shared<std::string>();
  auto* m = c->add_subcommand("merge", "Merge shard databases into one");
  m->add_option("inputs", *inputs, "Results databases")->required()->check(CLI::ExistingFile);
  m->add_option("-o,--output", *output, "Merged database (created; must not be an input)")->required();
  m->callback([inputs, output] {
    for (const auto& i : *inputs)
      IA_CHECK(std::filesystem::weakly_canonical(i) != std::filesystem::weakly_canonical(*output),
               ia::ErrorKind::InvalidArgument, "{}: output is also an input", *output);
    ia::suite::ResultsDb out(*output);
    for (const auto& i : *inputs) out.merge_from(i);
    size_t n = out.results().size();
    fmt::print("merged {} database(s) into {}: {} runs, {} model x backend results\n", inputs->size(), *output,
               out.runs().size(), n);
  });
}

}  // namespace

IA_REGISTER_COMMAND(results, 43, setup)
