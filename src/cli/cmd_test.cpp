// `ipfs-accelerate test`: runs the model suite (catalog models x backends, each test in a child process), records
// results in SQLite, prints the coverage table and writes reports. `__test-worker` is the child side.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/command.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "testing/report.h"
#include "testing/runner.h"

namespace fs = std::filesystem;

namespace {

std::string self_exe() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  IA_CHECK(n > 0, ia::ErrorKind::Io, "cannot resolve /proc/self/exe");
  return std::string(buf, static_cast<size_t>(n));
}

std::string command_line() {
  std::ifstream in("/proc/self/cmdline");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()), out;
  for (char ch : all) out += ch == '\0' ? ' ' : ch;
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string default_conformance_dir() {
  const std::string d = std::string(IA_SOURCE_DIR) + "/tests/data/conformance";
  return fs::is_directory(d) ? d : "";
}

struct TestArgs {
  std::vector<std::string> ids;
  bool all = false;
  std::vector<std::string> families;
  std::string device = "auto", weights = "tiny", shard, results = "results.db", junit, report_dir;
  std::string catalog, conformance;
  int jobs = 1;
  double timeout = 300;
  int64_t memory_mb = 8192;
  bool resume = false;
  bool bench = false;
  ia::suite::BenchSettings bench_settings{10, 2, 16};
  std::string raw_args;
};

int run_test(const TestArgs& a) {
  using namespace ia::suite;
  const bool json = ia::cli::globals().json;
  IA_CHECK(a.weights == "tiny" || a.weights == "hub", ia::ErrorKind::InvalidArgument,
           "--weights: expected tiny or hub, got '{}'", a.weights);
  const std::string catalog_dir = a.catalog.empty() ? default_catalog_dir() : a.catalog;
  Catalog catalog = Catalog::load(catalog_dir);
  std::vector<const CatalogEntry*> models;
  if (!a.ids.empty()) {
    for (const auto& id : a.ids) {
      const CatalogEntry* e = catalog.find(id);
      IA_CHECK(e != nullptr, ia::ErrorKind::NotFound, "{}: not in the catalog ({}); add it with `ipfs-accelerate catalog add`",
               id, catalog_dir);
      models.push_back(e);
    }
  } else {
    IA_CHECK(a.all || !a.families.empty(), ia::ErrorKind::InvalidArgument,
             "name models (catalog ids), --family F or --all");
    for (const auto& e : catalog.entries())
      if (a.families.empty() || std::find(a.families.begin(), a.families.end(), e.family) != a.families.end())
        models.push_back(&e);
    IA_CHECK(!models.empty(), ia::ErrorKind::NotFound, "no catalog entry in family {}", fmt::join(a.families, ","));
  }
  const auto backends = plan_backends(a.device);
  std::vector<SuiteJob> jobs;
  for (const auto* e : models)
    for (const auto& b : backends) jobs.push_back({e, b});
  const Shard shard = resolve_shard(a.shard);
  jobs = shard_jobs(jobs, shard);

  RunnerOptions o;
  o.catalog_dir = fs::absolute(catalog_dir).string();
  o.conformance_dir = a.conformance.empty() ? default_conformance_dir() : a.conformance;
  o.weights = a.weights;
  o.jobs = a.jobs;
  o.timeout_s = a.timeout;
  o.memory_limit_mb = a.memory_mb;
  o.resume = a.resume;
  if (a.bench) {
    o.bench = a.bench_settings;
    // Benchmarks share the machine's cores between the tests running at once (the checks alone use one each).
    o.bench_threads = std::max(1, ia::num_threads() / a.jobs);
  }
  o.progress = ia::cli::interactive();
  o.quiet = json;
  o.self_exe = self_exe();
  o.args = a.raw_args;
  if (!json) {
    fmt::print("ipfs-accelerate test: {} models x {} backend(s) = {} tests (shard {}), weights {}, {} job(s)\n",
               models.size(), backends.size(), jobs.size(), shard.str(), a.weights, a.jobs);
    if (a.bench)
      fmt::print("  benchmarks: {} warm-up + {} timed runs per scenario, {} thread(s) per test{}\n", o.bench.warmup,
                 o.bench.reps, o.bench_threads, a.jobs > 1 ? " (tests run at once share the machine: use -j 1 for figures to quote)" : "");
    for (const auto& b : backends)
      fmt::print("  backend {}: {} ({})\n", b.name, b.available ? "device " + b.device.str() : "unavailable", b.reason);
  }
  ResultsDb db(a.results);
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t run_id = run_suite(jobs, o, shard, db);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::vector<RunInfo> runs;
  for (const auto& r : db.runs())
    if (r.id == run_id) runs.push_back(r);
  CoverageReport rep = build_report(catalog, db.results(run_id), runs, db.bench_history());
  if (!a.report_dir.empty()) write_report_dir(rep, a.report_dir);
  if (!a.junit.empty()) {
    std::ofstream out(a.junit);
    IA_CHECK(out.good(), ia::ErrorKind::Io, "{}: cannot write", a.junit);
    out << junit_xml(rep);
  }
  int failed = 0;
  for (const auto& t : rep.results)
    if (t.status == "failed" || t.status == "timeout" || t.status == "crashed" || t.status == "oom") ++failed;
  if (json) {
    auto j = rep.to_json();
    j["run_id"] = run_id;
    j["seconds"] = secs;
    j["results_db"] = a.results;
    std::cout << j.dump() << std::endl;
  } else {
    fmt::print("\n{}", coverage_table(rep));
    if (const std::string bt = bench_table(rep); !bt.empty()) fmt::print("\n{}", bt);
    fmt::print("\n{} tests in {:.1f} s; {} failed; results in {} (run {})", rep.results.size(), secs, failed, a.results,
               run_id);
    if (!a.report_dir.empty()) fmt::print("; report in {}/index.html", a.report_dir);
    fmt::print("\n");
  }
  return failed ? 1 : 0;
}

void setup(CLI::App& app) {
  auto a = std::make_shared<TestArgs>();
  auto* c = app.add_subcommand("test", "Run the model suite: catalog models x backends, isolated, recorded in SQLite");
  c->add_option("ids", a->ids, "Catalog model ids to test");
  c->add_flag("--all", a->all, "Test the whole catalog");
  c->add_option("--family", a->families, "Only this family (repeatable)");
  c->add_option("--device", a->device, "auto | all | comma list of cpu, cuda[:N], rocm, mps, openvino, qnn")
      ->capture_default_str();
  c->add_option("--weights", a->weights, "tiny (synthesized small configs, offline) | hub (real checkpoints via the Hub client and HF cache; --offline uses the cache only)")->capture_default_str();
  c->add_option("--jobs,-j", a->jobs, "Tests run at once")->capture_default_str()->check(CLI::PositiveNumber);
  c->add_option("--shard", a->shard, "I/N: run partition I of N (default: GTEST_SHARD_INDEX/GTEST_TOTAL_SHARDS or JOB_COMPLETION_INDEX)");
  c->add_option("--timeout", a->timeout, "Seconds per model x backend test")->capture_default_str();
  c->add_option("--memory-limit-mb", a->memory_mb, "Address-space limit of CPU test processes (0: none)")->capture_default_str();
  c->add_flag("--resume", a->resume, "Continue the latest run in --results, skipping finished tests");
  c->add_flag("--bench", a->bench, "Benchmark every passing model (forward latency, generation tokens/s, peak memory) into --results");
  c->add_option("--bench-reps", a->bench_settings.reps, "Timed runs per benchmark")->capture_default_str()->check(CLI::PositiveNumber);
  c->add_option("--bench-warmup", a->bench_settings.warmup, "Untimed runs before them")->capture_default_str()->check(CLI::NonNegativeNumber);
  c->add_option("--bench-new-tokens", a->bench_settings.new_tokens, "Tokens generated per row by the generate benchmark")->capture_default_str()->check(CLI::PositiveNumber);
  c->add_option("--results", a->results, "SQLite results file")->capture_default_str();
  c->add_option("--junit", a->junit, "Write JUnit XML here");
  c->add_option("--report", a->report_dir, "Write coverage.txt, report.json, junit.xml, index.html here");
  c->add_option("--catalog", a->catalog, "Catalog directory (default: $IA_CATALOG_DIR or the source tree's catalog/)");
  c->add_option("--conformance", a->conformance, "HF golden cases directory (default: tests/data/conformance)");
  c->add_flag("--json", ia::cli::globals().json, "Print the report as JSON");
  c->callback([a] {
    a->raw_args = command_line();
    ia::cli::set_exit_code(run_test(*a));
  });

  // The child side of one test (re-exec'ed by the runner; not for direct use).
  struct WorkerArgs {
    std::string id, device = "cpu", weights = "tiny", catalog, conformance, out;
    std::vector<std::string> refs;
    ia::suite::BenchSettings bench;
  };
  auto w = std::make_shared<WorkerArgs>();
  auto* wc = app.add_subcommand("__test-worker", "")->group("");
  wc->add_option("--id", w->id)->required();
  wc->add_option("--device", w->device);
  wc->add_option("--weights", w->weights);
  wc->add_option("--catalog", w->catalog)->required();
  wc->add_option("--conformance", w->conformance);
  wc->add_option("--reference", w->refs);
  wc->add_option("--out", w->out)->required();
  wc->add_option("--bench-reps", w->bench.reps);
  wc->add_option("--bench-warmup", w->bench.warmup);
  wc->add_option("--bench-new-tokens", w->bench.new_tokens);
  wc->callback([w] {
    using namespace ia::suite;
    Catalog catalog = Catalog::load(w->catalog);
    const CatalogEntry* e = catalog.find(w->id);
    IA_CHECK(e != nullptr, ia::ErrorKind::NotFound, "{}: not in the catalog", w->id);
    std::vector<ia::Device> refs;
    for (const auto& r : w->refs) refs.push_back(ia::Device::parse(r));
    ia::cli::set_exit_code(run_test_worker(*e, ia::Device::parse(w->device), refs, w->weights, w->conformance, w->bench, w->out));
  });
}

}  // namespace

IA_REGISTER_COMMAND(test, 40, setup)
