// Reports over suite results: the per-family coverage table (models in catalog / implemented / passing per backend
// / coverage %), the per-backend status matrix, benchmarks, JUnit XML, JSON and a self-contained static HTML
// dashboard (coverage, performance per backend, performance history across runs of the same host).
#pragma once
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

#include "testing/catalog.h"
#include "testing/results_db.h"

namespace ia::suite {

struct FamilyCoverage {
  std::string family;
  int models = 0;       // in the catalog
  int tested = 0;       // with at least one result
  int implemented = 0;  // the engine computes them: a result whose forward check passed
  std::map<std::string, int> passing;  // backend -> models passing there
};

struct CoverageReport {
  std::vector<std::string> backends;
  std::vector<FamilyCoverage> families;  // all_families() order, then a "total" row
  std::map<std::string, std::map<std::string, int>> matrix;  // backend -> status -> count
  // backend -> check status (passed, failed, skipped, unsupported) -> count over every check of every result;
  // a model can pass with some checks skipped, so the skips are counted here, never as passes.
  std::map<std::string, std::map<std::string, int>> check_matrix;
  // backend -> check name -> how many results skipped it
  std::map<std::string, std::map<std::string, int>> skipped_checks;
  std::vector<TestRecord> results;
  std::vector<RunInfo> runs;
  std::vector<BenchPoint> history;  // every benchmark in the database (ResultsDb::bench_history), for the trends
  nlohmann::json to_json() const;
};

CoverageReport build_report(const Catalog& catalog, const std::vector<TestRecord>& results,
                            const std::vector<RunInfo>& runs, std::vector<BenchPoint> history = {});

// The benchmarks of the report's results as flat rows with llama-bench / optimum-benchmark style fields (model,
// backend, dtype, batch, seq, p50/p90, tokens/s or items/s, peak memory), each naming its run's host and commit.
nlohmann::json benchmark_rows(const CoverageReport& r);
std::string bench_table(const CoverageReport& r);  // plain text, as `test --bench` prints it ("" without benchmarks)

std::string coverage_table(const CoverageReport& r);  // plain text, as `test --all` prints it
std::string junit_xml(const CoverageReport& r);
std::string dashboard_html(const CoverageReport& r);
// Writes coverage.txt, report.json, junit.xml, index.html and (with benchmarks) benchmarks.json into `dir`.
void write_report_dir(const CoverageReport& r, const std::string& dir);

}  // namespace ia::suite
