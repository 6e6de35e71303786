// `ipfs-accelerate hardware` end to end: the real machine, and fake vendor libraries through IA_LIB_PATH.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "hw_test_util.h"

namespace {

struct CliRun {
  int code;
  std::string out;
};

CliRun run(const std::string& env, const std::string& args) {
  const std::string cmd = env + " " + IA_CLI_PATH + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  CliRun r{-1, ""};
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string fake_env(const ia::hw::testing::FakeRoot& root, const std::string& variants) {
  std::string dirs;
  for (size_t start = 0; start < variants.size();) {
    const size_t end = variants.find(',', start);
    dirs += (dirs.empty() ? "" : ":") + std::string(IA_FAKE_LIB_DIR) + "/" +
            variants.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return "env -u IA_DEVICE_PRIORITY -u IA_HARDWARE_CONFIG XDG_CONFIG_HOME=" + root.path() + " IA_LIB_PATH=" + dirs +
         " IA_LIB_PATH_ONLY=1 IA_SYSFS_ROOT=" + root.path() + "/sys IA_DEVFS_ROOT=" + root.path() + "/dev";
}

const nlohmann::json& backend(const nlohmann::json& j, const std::string& name) {
  for (const auto& b : j["backends"])
    if (b["backend"] == name) return b;
  static const nlohmann::json none;
  return none;
}

TEST(HardwareCommand, ThisMachineListsAllSixBackends) {
  CliRun r = run("env -u IA_DEVICE_PRIORITY -u IA_HARDWARE_CONFIG", "hardware");
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* b : {"cpu", "cuda", "rocm", "mps", "openvino", "qnn"})
    EXPECT_NE(r.out.find(std::string("\n") + b), std::string::npos) << b << "\n" << r.out;
  EXPECT_NE(r.out.find("device priority (default): cuda > rocm > mps > openvino > qnn > cpu"), std::string::npos);
  EXPECT_NE(r.out.find("--device auto -> "), std::string::npos);
}

TEST(HardwareCommand, JsonWithFakeCudaOpenVinoQnn) {
  ia::hw::testing::FakeRoot root;
  CliRun r = run(fake_env(root, "cuda_two,ov_two,qnn_cpu"), "hardware --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["backends"].size(), 6u);
  const auto& cuda = backend(j, "cuda");
  EXPECT_TRUE(cuda["available"].get<bool>());
  ASSERT_EQ(cuda["devices"].size(), 2u);
  EXPECT_EQ(cuda["devices"][1]["total_memory"], 80ull << 30);
  EXPECT_TRUE(backend(j, "openvino")["available"].get<bool>());
  EXPECT_TRUE(backend(j, "qnn")["available"].get<bool>());
  EXPECT_FALSE(backend(j, "rocm")["available"].get<bool>());
  EXPECT_TRUE(backend(j, "cpu")["executor"].get<bool>());
  EXPECT_FALSE(backend(j, "openvino")["executor"].get<bool>());
  EXPECT_EQ(backend(j, "openvino")["executor_summary"], "no executor in this build");
  const auto& sel = j["selection"];
  EXPECT_EQ(sel["requested"], "auto");
  EXPECT_FALSE(sel["used"].get<std::string>().empty());
  EXPECT_EQ(j["probe"]["system_search"], false);
  if (!cuda["executor"].get<bool>()) {
    EXPECT_EQ(sel["used"], "cpu");
    bool said = false;
    for (const auto& s : sel["skipped"])
      said = said || s.get<std::string>().find("cuda: detected (2 devices), no executor in this build") == 0;
    EXPECT_TRUE(said) << sel.dump();
  }
}

TEST(HardwareCommand, NoFallbackAndPriorityOverride) {
  ia::hw::testing::FakeRoot root;
  CliRun r = run(fake_env(root, "cuda_initfail"), "hardware --device rocm --no-fallback");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("error: --device rocm cannot run"), std::string::npos) << r.out;
  r = run(fake_env(root, "") + " IA_DEVICE_PRIORITY=openvino,cpu", "hardware --json");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["priority"]["source"], "IA_DEVICE_PRIORITY");
  EXPECT_EQ(j["priority"]["order"], (nlohmann::json{"openvino", "cpu"}));
  EXPECT_EQ(j["selection"]["used"], "cpu");
  r = run(fake_env(root, ""), "hardware --device tpu");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("expected auto, cpu"), std::string::npos) << r.out;
}

TEST(HardwareCommand, MemoryTooLargeForEveryDeviceIsAnError) {
  ia::hw::testing::FakeRoot root;
  CliRun r = run(fake_env(root, ""), "hardware --memory 1000000TiB");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("no device can run"), std::string::npos) << r.out;
}

}  // namespace
