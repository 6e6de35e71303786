// Test helpers for the Hub/IPFS tests: temporary directories, deterministic file contents, and the fake Hub +
// trustless gateway (tests/servers/fake_hub.py) run as a child process on 127.0.0.1.
#pragma once
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace ia::testing {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "ia-hub-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

// Bytes from a fixed generator: the same on every run and machine.
inline std::string pattern_bytes(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  uint64_t x = 0x9E3779B97F4A7C15ull ^ seed;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift64
    s[i] = char(x >> 32);
  }
  return s;
}

inline void write_file(const std::string& path, const std::string& content) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class FakeHub {
 public:
  FakeHub() { set_config(nlohmann::json{{"repos", nlohmann::json::object()}, {"token", "hf_valid"}}); }
  ~FakeHub() { stop(); }

  const std::string& root() const { return dir_.path(); }
  nlohmann::json& config() { return cfg_; }
  void set_config(nlohmann::json cfg) {
    cfg_ = std::move(cfg);
    save();
  }
  void save() { write_file(dir_ / "hub.json", cfg_.dump(2)); }

  void add_repo(const std::string& repo, const std::map<std::string, std::string>& refs) {
    cfg_["repos"][repo] = {{"refs", refs}};
    save();
  }
  void add_file(const std::string& repo, const std::string& commit, const std::string& path, const std::string& content) {
    write_file(dir_ / ("repos/" + repo + "/" + commit + "/" + path), content);
  }
  void add_block(const std::string& cid, std::string_view data) { write_file(dir_ / ("blocks/" + cid), std::string(data)); }

  void start() {
    const std::string script = std::string(IA_SOURCE_DIR) + "/tests/servers/fake_hub.py";
    int in_pipe[2], out_pipe[2];
    ASSERT_EQ(::pipe(in_pipe), 0);
    ASSERT_EQ(::pipe(out_pipe), 0);
    pid_ = ::fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      ::dup2(in_pipe[0], 0);
      ::dup2(out_pipe[1], 1);
      ::close(in_pipe[1]);
      ::close(out_pipe[0]);
      // Debian's interpreter directly when there is one (a version-manager shim costs ~0.2 s per start).
      ::execl("/usr/bin/python3", "python3", script.c_str(), root().c_str(), "--max-life", "90", (char*)nullptr);
      ::execlp("python3", "python3", script.c_str(), root().c_str(), "--max-life", "90", (char*)nullptr);
      ::_exit(127);
    }
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    stdin_fd_ = in_pipe[1];
    ::fcntl(stdin_fd_, F_SETFD, FD_CLOEXEC);
    FILE* out = ::fdopen(out_pipe[0], "r");
    char line[64] = {0};
    ASSERT_NE(std::fgets(line, sizeof line, out), nullptr) << "fake hub did not start";
    std::fclose(out);
    ASSERT_EQ(std::sscanf(line, "PORT %d", &port_), 1) << line;
  }

  void stop() {
    if (pid_ <= 0) return;
    ::close(stdin_fd_);  // the server exits when its stdin closes
    for (int i = 0; i < 100; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  std::vector<nlohmann::json> requests() const {
    std::vector<nlohmann::json> out;
    std::ifstream in(dir_ / "requests.log");
    std::string line;
    while (std::getline(in, line))
      if (!line.empty()) out.push_back(nlohmann::json::parse(line));
    return out;
  }

 private:
  TempDir dir_;
  nlohmann::json cfg_;
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int port_ = 0;
};

// Sets an environment variable for a scope, restoring the previous value.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    const char* old = std::getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (had_) ::setenv(name_, old_.c_str(), 1);
    else ::unsetenv(name_);
  }

 private:
  const char* name_;
  bool had_ = false;
  std::string old_;
};

}  // namespace ia::testing
