// The backend-op test: `ipfs-accelerate test-backend-ops` compares every op of a backend with the CPU reference
// (random inputs, NMSE, NaN/Inf, guard bytes). The CPU self-check runs everywhere and keeps the harness honest;
// the CUDA run needs a GPU and is skipped, with the reason, when there is none.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

// IA_CLI overrides the build-time path (a prebuilt bundle run elsewhere, scripts/gpu-verify.sh --prebuilt).
std::string cli_path() {
  const char* p = std::getenv("IA_CLI");
  return p && *p ? p : IA_CLI_PATH;
}

struct CliRun {
  int exit_code = -1;
  std::string output;
  std::vector<nlohmann::json> lines;  // the JSON lines of the output
};

CliRun run_cli(const std::string& args) {
  CliRun r;
  const std::string cmd = cli_path() + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  while (fgets(buf, sizeof buf, p)) r.output += buf;
  const int st = pclose(p);
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  size_t pos = 0;
  while (pos < r.output.size()) {
    size_t end = r.output.find('\n', pos);
    if (end == std::string::npos) end = r.output.size();
    const std::string line = r.output.substr(pos, end - pos);
    if (!line.empty() && line[0] == '{') {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_discarded()) r.lines.push_back(j);
    }
    pos = end + 1;
  }
  return r;
}

std::string failures(const CliRun& r) {
  std::string out;
  for (const auto& j : r.lines)
    if (j.contains("status") && j["status"] != "ok" && j["status"] != "not supported") out += j.dump() + "\n";
  return out;
}

TEST(BackendOps, HarnessSelfCheckOnCpu) {
  const CliRun r = run_cli("test-backend-ops --device cpu --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  int ok = 0;
  for (const auto& j : r.lines) {
    if (!j.contains("status")) continue;
    const std::string status = j["status"];
    EXPECT_TRUE(status == "ok" || status == "not supported") << j.dump();
    if (status == "ok") {
      ++ok;
      EXPECT_EQ(j["nmse"].get<double>(), 0.0) << "cpu against itself must be exact: " << j.dump();
    } else {  // only the transfer kernels have no cpu entry (cpu<->cpu transfers use copy)
      EXPECT_TRUE(j["op"] == "to_host" || j["op"] == "from_host") << j.dump();
    }
  }
  EXPECT_GT(ok, 150) << r.output;
  ASSERT_FALSE(r.lines.empty());
  const auto& summary = r.lines.back();
  ASSERT_TRUE(summary.contains("summary")) << summary.dump();
  for (const auto& op : summary["summary"]["ops_without_cases"])
    std::printf("note: op '%s' has no case in test-backend-ops yet\n", op.get<std::string>().c_str());
}

TEST(BackendOps, CudaMatchesCpu) {
  const CliRun r = run_cli("test-backend-ops --device cuda --json");
  if (r.exit_code == 3) {
    std::string reason = r.output;
    for (const auto& j : r.lines)
      if (j.contains("reason")) reason = j["reason"];
    GTEST_SKIP() << "cuda: " << reason;
  }
  ASSERT_EQ(r.exit_code, 0) << failures(r) << r.output;
  int ok = 0;
  for (const auto& j : r.lines)
    if (j.contains("status") && j["status"] == "ok") ++ok;
  EXPECT_GT(ok, 150);
  const auto& summary = r.lines.back()["summary"];
  for (const auto& op : summary["unsupported_ops"])
    std::printf("cuda: op '%s' not supported\n", op.get<std::string>().c_str());
}

}  // namespace
