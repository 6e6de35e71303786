// The model suite end to end through the CLI: isolated runs, honest statuses, resume after a kill, shard + merge,
// reports, and the dashboard rendered in headless Chromium.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "models/model.h"
#include "testing/catalog.h"
#include "testing/model_test.h"
#include "testing/report.h"
#include "testing/results_db.h"

namespace fs = std::filesystem;
using namespace ia::suite;

namespace {

const Catalog& catalog() {
  static Catalog c = Catalog::load(std::string(IA_SOURCE_DIR) + "/catalog");
  return c;
}

fs::path scratch(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("ia-suite-test-" + std::to_string(getpid())) / name;
  fs::create_directories(p.parent_path());
  fs::remove(p);
  return p;
}

int run_cli(const std::string& args) {
  const std::string cmd = std::string(IA_CLI_PATH) + " " + args + " > /dev/null 2>&1";
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// Catalog ids whose model the engine implements (first `n`), and one it does not.
std::vector<std::string> implemented_ids(size_t n) {
  std::vector<std::string> ids;
  for (const auto& e : catalog().entries())
    if (ia::model_supports(e.model_type, e.architecture) && ids.size() < n) ids.push_back(e.id);
  return ids;
}

std::string unimplemented_id() {
  for (const auto& e : catalog().entries())
    if (!ia::model_supports(e.model_type, e.architecture)) return e.id;
  return "";
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += " " + x;
  return s;
}

std::map<std::pair<std::string, std::string>, std::string> statuses(const std::string& db_path) {
  ResultsDb db(db_path);
  std::map<std::pair<std::string, std::string>, std::string> m;
  for (const auto& r : db.results()) m[{r.model_id, r.backend}] = r.status;
  return m;
}

}  // namespace

TEST(ModelTestClasses, EveryFamilyHasItsClass) {
  std::map<std::string, std::string> want = {
      {"encoder-only", "EncoderOnlyModelTest"},     {"decoder-only", "DecoderOnlyModelTest"},
      {"encoder-decoder", "EncoderDecoderModelTest"}, {"vision", "VisionModelTest"},
      {"vision-encoder-text-decoder", "VisionTextModelTest"}, {"speech", "SpeechModelTest"},
      {"multimodal", "MultimodalModelTest"},       {"diffusion", "DiffusionModelTest"},
      {"mixture-of-experts", "MoEModelTest"},      {"state-space", "StateSpaceModelTest"},
      {"rag", "RAGModelTest"}};
  for (const auto& [fam, cls] : want) {
    auto entries = catalog().family(fam);
    ASSERT_FALSE(entries.empty()) << fam;
    EXPECT_STREQ(ModelTest::create(*entries[0])->class_name(), cls.c_str());
  }
}

TEST(ModelTestClasses, ImplementedModelPassesAndUnimplementedIsUnsupported) {
  auto ids = implemented_ids(1);
  ASSERT_FALSE(ids.empty()) << "no implemented model in the catalog";
  TestOptions o;
  o.conformance_dir = std::string(IA_TEST_DATA_DIR) + "/conformance";
  TestOutcome r = ModelTest::create(*catalog().find(ids[0]))->run(o);
  EXPECT_EQ(r.status, "passed") << ids[0] << ": " << r.message;
  std::set<std::string> names;
  for (const auto& c : r.checks) names.insert(c.name);
  for (const char* n : {"load", "forward", "output_shapes", "finite", "deterministic", "padding_invariance",
                        "cross_backend", "hf_golden"})
    EXPECT_TRUE(names.count(n)) << n;

  const std::string other = unimplemented_id();
  ASSERT_FALSE(other.empty());
  TestOutcome u = ModelTest::create(*catalog().find(other))->run(o);
  EXPECT_EQ(u.status, "unsupported");
  EXPECT_NE(u.message.find("unsupported: "), std::string::npos) << u.message;
}

TEST(SuiteRunner, ResumeAfterKillLosesNothing) {
  auto ids = implemented_ids(6);
  ASSERT_GE(ids.size(), 3u);
  const fs::path db = scratch("resume.db");
  const std::string args = "test" + join(ids) + " --device cpu --jobs 1 --shard 0/1 --results " + db.string();
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string cmd = std::string(IA_CLI_PATH) + " " + args + " > /dev/null 2>&1";
    execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Kill it once the first result is committed.
  size_t seen = 0;
  for (int i = 0; i < 600 && seen == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (fs::exists(db)) {
      try {
        seen = ResultsDb(db.string()).results().size();
      } catch (...) {
      }
    }
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  ASSERT_GE(seen, 1u);
  const size_t before = ResultsDb(db.string()).results().size();
  EXPECT_EQ(run_cli(args + " --resume"), 0);
  ResultsDb after(db.string());
  EXPECT_EQ(after.runs().size(), 1u) << "resume continues the killed run";
  EXPECT_EQ(after.results().size(), ids.size());
  EXPECT_GE(after.results().size(), before);
  for (const auto& r : after.results()) EXPECT_EQ(r.status, "passed") << r.model_id << ": " << r.message;
}

TEST(SuiteRunner, ShardsMergeToTheUnshardedRun) {
  auto ids = implemented_ids(3);
  ids.push_back(unimplemented_id());
  const std::string sel = "test" + join(ids) + " --device cpu --jobs 2";
  const fs::path full = scratch("full.db"), s0 = scratch("s0.db"), s1 = scratch("s1.db"), merged = scratch("all.db");
  EXPECT_EQ(run_cli(sel + " --shard 0/1 --results " + full.string()), 0);
  EXPECT_EQ(run_cli(sel + " --shard 0/2 --results " + s0.string()), 0);
  // Shard 1 through the GoogleTest sharding variables, as a CI sharder would set them.
  const std::string cmd = "GTEST_SHARD_INDEX=1 GTEST_TOTAL_SHARDS=2 " + std::string(IA_CLI_PATH) + " " + sel +
                          " --results " + s1.string() + " > /dev/null 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_EQ(run_cli("results merge " + s0.string() + " " + s1.string() + " -o " + merged.string()), 0);
  EXPECT_EQ(statuses(full.string()), statuses(merged.string()));
  EXPECT_EQ((statuses(full.string())[{ids.back(), "cpu"}]), "unsupported");
}

TEST(SuiteReport, DashboardRendersInHeadlessChromium) {
  auto ids = implemented_ids(2);
  ids.push_back(unimplemented_id());
  const fs::path db = scratch("report.db"), dir = scratch("report");
  EXPECT_EQ(run_cli("test" + join(ids) + " --device cpu --shard 0/1 --results " + db.string() + " --report " +
                    dir.string() + " --junit " + (dir / "extra-junit.xml").string()),
            0);
  for (const char* f : {"index.html", "report.json", "junit.xml", "coverage.txt", "extra-junit.xml"})
    EXPECT_TRUE(fs::exists(dir / f)) << f;
  std::ifstream html_in(dir / "index.html");
  std::string html((std::istreambuf_iterator<char>(html_in)), std::istreambuf_iterator<char>());
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_EQ(html.find("http://"), std::string::npos) << "the dashboard must not load anything from the network";
  EXPECT_EQ(html.find("https://"), std::string::npos);

  std::string chromium;
  for (const char* c : {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"})
    if (fs::exists(c)) chromium = c;
  if (chromium.empty()) GTEST_SKIP() << "chromium not installed (Debian package `chromium`): dashboard not rendered";
  const fs::path png = dir / "shot.png";
  const std::string cmd = chromium + " --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,900 " +
                          "--screenshot=" + png.string() + " file://" + (dir / "index.html").string() + " > /dev/null 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  ASSERT_TRUE(fs::exists(png));
  EXPECT_GT(fs::file_size(png), 10000u) << "screenshot looks empty";
}

// `test --bench`: each passing model's benchmarks land in the database (forward for every model, generate for a
// generating one), with consistent statistics; a second run makes the dashboard's history; merges copy them once.
TEST(SuiteBench, BenchmarksAreRecordedReportedAndMerged) {
  const std::string lm = "openai-community/gpt2", vit = "google/vit-base-patch16-224";
  ASSERT_NE(catalog().find(lm), nullptr);
  ASSERT_NE(catalog().find(vit), nullptr);
  const fs::path db = scratch("bench.db"), plain = scratch("plain.db"), dir = scratch("bench-report");
  const std::string sel = "test " + lm + " " + vit + " --device cpu --shard 0/1 ";
  EXPECT_EQ(run_cli(sel + "--results " + plain.string()), 0);
  for (const auto& r : ResultsDb(plain.string()).results()) EXPECT_TRUE(r.benchmarks.empty()) << r.model_id;

  const std::string bench = sel + "--bench --bench-reps 3 --bench-warmup 1 --bench-new-tokens 4 --results " + db.string();
  EXPECT_EQ(run_cli(bench), 0);
  EXPECT_EQ(run_cli(bench + " --report " + dir.string()), 0);
  ResultsDb rdb(db.string());
  const auto results = rdb.results();
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) {
    ASSERT_EQ(r.status, "passed") << r.model_id << ": " << r.message;
    std::set<std::string> scenarios;
    for (const auto& b : r.benchmarks) {
      scenarios.insert(b.scenario);
      EXPECT_EQ(b.reps, 3);
      EXPECT_EQ(b.warmup, 1);
      EXPECT_EQ(b.dtype, "f32");
      EXPECT_GE(b.threads, 1);
      EXPECT_GT(b.min_ms, 0.0);
      EXPECT_LE(b.min_ms, b.p50_ms);
      EXPECT_LE(b.p50_ms, b.p90_ms);
      EXPECT_GT(b.peak_memory_kb, 0);
      const double per_run = b.scenario == "generate" ? double(b.batch * b.new_tokens)
                                                      : double(b.seq > 0 ? b.batch * b.seq : b.batch);
      EXPECT_NEAR(b.throughput, per_run / (b.p50_ms * 1e-3), 1e-6 * b.throughput) << r.model_id << " " << b.scenario;
      if (b.scenario == "generate") EXPECT_EQ(b.new_tokens, 4);
      if (b.scenario == "generate") EXPECT_EQ(b.seq, 8) << "the prompt tokens";
    }
    if (r.model_id == lm) {
      EXPECT_EQ(scenarios, (std::set<std::string>{"forward", "generate"}));
      for (const auto& b : r.benchmarks) EXPECT_EQ(b.unit, "tokens");
    } else {
      EXPECT_EQ(scenarios, (std::set<std::string>{"forward"}));
      EXPECT_EQ(r.benchmarks[0].unit, "items");
      EXPECT_EQ(r.benchmarks[0].seq, 0);
    }
  }
  const auto history = rdb.bench_history();
  EXPECT_EQ(history.size(), 6u);  // 3 benchmarks x 2 runs
  for (const auto& p : history) EXPECT_FALSE(p.run.uid.empty());

  std::ifstream json_in(dir / "benchmarks.json");
  const auto rows = nlohmann::json::parse(json_in);
  ASSERT_EQ(rows.size(), 3u);
  for (const auto& row : rows) {
    for (const char* k : {"model", "backend", "dtype", "batch", "seq", "latency_p50_ms", "latency_p90_ms", "throughput",
                          "peak_memory_mb", "host", "commit"})
      EXPECT_TRUE(row.contains(k)) << k;
    EXPECT_EQ(row.contains("tokens_per_s"), row["model"] == lm);
  }
  std::ifstream html_in(dir / "index.html");
  const std::string html((std::istreambuf_iterator<char>(html_in)), std::istreambuf_iterator<char>());
  EXPECT_NE(html.find("Performance per backend"), std::string::npos);
  EXPECT_NE(html.find("Speed index across runs"), std::string::npos);
  EXPECT_NE(html.find(lm), std::string::npos);

  const fs::path merged = scratch("bench-merged.db");
  EXPECT_EQ(run_cli("results merge " + db.string() + " -o " + merged.string()), 0);
  const fs::path again = scratch("bench-again.db");
  {
    ResultsDb m(again.string());
    m.merge_from(merged.string());
    m.merge_from(merged.string());
    EXPECT_EQ(m.bench_history().size(), 6u) << "merging twice must not duplicate benchmarks";
  }
}
