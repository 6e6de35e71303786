// The suite runner behind `ipfs-accelerate test`: picks catalog models and backends, partitions them into shards,
// runs each model x backend test in its own child process (re-exec of this binary) with a timeout and a memory
// limit, records every result in the SQLite store as it completes, and shows progress.
#pragma once
#include <string>
#include <vector>

#include "core/dtype.h"
#include "testing/catalog.h"
#include "testing/results_db.h"

namespace ia::suite {

// A backend the run targets: available (with the device that will run it) or not, with the reason.
struct BackendTarget {
  std::string name;       // "cpu", "cuda", ...
  std::string requested;  // the --device value it came from
  Device device;
  bool available = false;
  bool fell_back = false;  // the hardware layer did not honour the request as asked
  std::string reason;      // the selection decision (requested, used, why) or why the backend is unavailable
};

// Turns --device (auto | all | a comma list of cpu, cuda[:N], rocm, mps, openvino, qnn) into targets through the
// hardware layer's device selection (no silent fallback: an explicit backend that cannot run is unavailable).
std::vector<BackendTarget> plan_backends(const std::string& device_flag);

struct Shard {
  int index = 0, count = 1;
  std::string str() const { return std::to_string(index) + "/" + std::to_string(count); }
};
// --shard I/N, else GTEST_SHARD_INDEX/GTEST_TOTAL_SHARDS, else JOB_COMPLETION_INDEX with IA_TOTAL_SHARDS or
// GTEST_TOTAL_SHARDS; none: 0/1.
Shard resolve_shard(const std::string& flag);

struct SuiteJob {
  const CatalogEntry* entry = nullptr;
  BackendTarget backend;
};
// Deterministic partition: job i (catalog order x backend order) belongs to shard i % count.
std::vector<SuiteJob> shard_jobs(const std::vector<SuiteJob>& all, const Shard& shard);

struct RunnerOptions {
  std::string catalog_dir, conformance_dir, weights = "tiny";
  int jobs = 1;
  double timeout_s = 300;
  int64_t memory_limit_mb = 8192;  // address-space limit of CPU test children; 0: none
  bool resume = false;
  bool progress = false;  // live progress bar (terminal) instead of plain lines
  bool quiet = false;     // no per-test lines (--json)
  BenchSettings bench;    // --bench: benchmarks of passed tests (reps 0: none)
  int bench_threads = 1;  // threads of each test process when benchmarking (otherwise 1)
  std::string self_exe;   // this binary, re-executed for each test
  std::string args;       // the command line, stored with the run
};

// Runs `jobs` (already sharded), recording into `db` under a new run (or, with resume, the latest run, skipping
// what it already holds). Returns the run id.
int64_t run_suite(const std::vector<SuiteJob>& jobs, const RunnerOptions& o, const Shard& shard, ResultsDb& db);

// The child side: runs one test and writes the TestOutcome JSON to `out_path`. Two test hooks of the durability
// tests (tests/unit/testing/durability_test.cpp, docs/reliability.md), inert unless set: IA_TEST_START_LOG=<file>
// appends "<id> <device>" to the file as each test starts; IA_TEST_FAULTS=<id>=<fault>[,...] makes that model's
// child segfault, abort, hang, oom (allocate until refused), exit (code 7, no result) or sleep:MS before testing.
int run_test_worker(const CatalogEntry& e, const Device& device, const std::vector<Device>& references,
                    const std::string& weights, const std::string& conformance_dir, const BenchSettings& bench,
                    const std::string& out_path);

std::string host_name();
std::string hardware_summary();
std::string git_commit();  // of the source tree, "<short hash>[-dirty]"

}  // namespace ia::suite
