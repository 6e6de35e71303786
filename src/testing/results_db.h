// The SQLite results store of `ipfs-accelerate test`: runs (host, hardware, commit, start/end), one tests row per
// model x backend, one results row per model x backend x check and (`--bench`) one benchmarks row per scenario, each test committed as it completes (WAL), so a
// killed run loses nothing finished and `--resume` continues it; shards merge into one file.
#pragma once
#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "testing/model_test.h"

struct sqlite3;

namespace ia::suite {

struct RunInfo {
  int64_t id = 0;
  std::string uid;  // random, kept by merges: the run's identity across databases (empty: begin_run makes one)
  std::string host, hardware, commit, args, shard, weights, started_at, ended_at;
  nlohmann::json to_json() const;
};

// One model x backend test.
struct TestRecord {
  int64_t run_id = 0;
  std::string model_id, family, model_type, architecture, test_class;
  std::string backend;           // the backend asked for ("cpu", "cuda", ...)
  std::string requested_device;  // the --device value
  std::string device;            // the device that ran it ("" when none did)
  std::string fallback_reason;   // why device differs from the request / why the backend is unavailable
  std::string status;  // passed, failed, unsupported, unavailable, timeout, crashed, oom
  std::string message;
  double duration_ms = 0.0;
  int64_t peak_rss_kb = 0;
  std::string started_at, finished_at;
  std::vector<CheckResult> checks;
  std::vector<BenchResult> benchmarks;  // `test --bench`
  nlohmann::json to_json() const;
};

// One benchmark with the run it belongs to: the history the dashboard charts across runs.
struct BenchPoint {
  RunInfo run;
  std::string model_id, family, backend, device;
  BenchResult bench;
};

class ResultsDb {
 public:
  explicit ResultsDb(const std::string& path);  // creates the schema when new
  ~ResultsDb();
  ResultsDb(const ResultsDb&) = delete;
  ResultsDb& operator=(const ResultsDb&) = delete;

  int64_t begin_run(const RunInfo& info);
  void end_run(int64_t run_id);
  std::optional<RunInfo> latest_run() const;
  std::vector<RunInfo> runs() const;
  // (model_id, backend) pairs already recorded in `run_id`.
  std::set<std::pair<std::string, std::string>> completed(int64_t run_id) const;
  // One transaction: the tests row and its check rows. Throws ErrorKind::Io naming the test and the database
  // (e.g. disk full); the database then holds exactly what it held before.
  void record(const TestRecord& r);
  // Results of one run, or (run_id 0) the latest result of every model x backend across all runs.
  std::vector<TestRecord> results(int64_t run_id = 0) const;
  // Every benchmark of every run, oldest run first.
  std::vector<BenchPoint> bench_history() const;
  // Copies every run of `other_path` into this database (run ids renumbered, runs matched by uid: idempotent).
  void merge_from(const std::string& other_path);
  const std::string& path() const { return path_; }

 private:
  void exec(const std::string& sql) const;
  void insert(const TestRecord& r);  // inside a transaction
  void rollback() const;              // of the open transaction, if any
  std::string path_;
  sqlite3* db_ = nullptr;
};

std::string now_iso8601();

}  // namespace ia::suite
