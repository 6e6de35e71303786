// `ipfs-accelerate report`: the coverage table, per-backend matrix, benchmarks, JUnit XML, JSON and the static HTML
// dashboard from a results database (the latest result of every model x backend across its runs).
#include <fmt/format.h>

#include <iostream>

#include "cli/command.h"
#include "testing/report.h"

namespace {

struct Args {
  std::string results = "results.db", out_dir = "report", catalog, junit;
  int64_t run = 0;
};

void setup(CLI::App& app) {
  auto a = std::make_shared<Args>();
  auto* c = app.add_subcommand("report", "Coverage table, JUnit XML, JSON and HTML dashboard from a results database");
  c->add_option("--results", a->results, "SQLite results file")->capture_default_str();
  c->add_option("--out,-o", a->out_dir, "Directory for coverage.txt, report.json, junit.xml, index.html, benchmarks.json")
      ->capture_default_str();
  c->add_option("--run", a->run, "Only this run id (default: latest result per model x backend over all runs)");
  c->add_option("--junit", a->junit, "Also write JUnit XML here");
  c->add_option("--catalog", a->catalog, "Catalog directory");
  c->add_flag("--json", ia::cli::globals().json, "Print the report as JSON");
  c->callback([a] {
    using namespace ia::suite;
    Catalog cat = Catalog::load(a->catalog.empty() ? default_catalog_dir() : a->catalog);
    ResultsDb db(a->results);
    std::vector<RunInfo> runs;
    for (const auto& r : db.runs())
      if (a->run == 0 || r.id == a->run) runs.push_back(r);
    CoverageReport rep = build_report(cat, db.results(a->run), runs, db.bench_history());
    if (!a->out_dir.empty()) write_report_dir(rep, a->out_dir);
    if (!a->junit.empty()) std::ofstream(a->junit) << junit_xml(rep);
    if (ia::cli::globals().json) {
      std::cout << rep.to_json().dump() << std::endl;
    } else {
      fmt::print("{}", coverage_table(rep));
      if (const std::string bt = bench_table(rep); !bt.empty()) fmt::print("\n{}", bt);
      if (!a->out_dir.empty()) fmt::print("\nreport written to {}/index.html\n", a->out_dir);
    }
  });
}

}  // namespace

IA_REGISTER_COMMAND(report, 42, setup)
