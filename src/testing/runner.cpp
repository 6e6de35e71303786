#include "testing/runner.h"

#include "io/model_source.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <set>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "cli/device_flag.h"
#include "core/error.h"
#include "core/thread_pool.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ia::suite {

std::vector<BackendTarget> plan_backends(const std::string& flag) {
  std::vector<std::string> names;
  if (flag == "all") {
    for (int t = 0; t < kNumDeviceTypes; ++t) names.push_back(device_type_name(static_cast<DeviceType>(t)));
  } else {
    std::stringstream ss(flag);
    std::string item;
    while (std::getline(ss, item, ','))
      if (!item.empty()) names.push_back(item);
  }
  IA_CHECK(!names.empty(), ErrorKind::InvalidArgument, "--device: no backend named in '{}'", flag);
  std::vector<BackendTarget> out;
  for (const auto& n : names) {
    BackendTarget b;
    b.requested = n;
    try {
      cli::DeviceChoice c = cli::resolve_device_flag(n);
      b.device = c.device;
      b.available = true;
      b.reason = c.reason;
      b.fell_back = c.decision.is_object() && c.decision.value("fell_back", false);
      b.name = device_type_name(c.device.type);
      if (c.device.index != 0) b.name = c.device.str();
    } catch (const Error& e) {
      b.name = n;
      b.available = false;
      b.reason = e.what();
    }
    out.push_back(b);
  }
  return out;
}

Shard resolve_shard(const std::string& flag) {
  Shard s;
  auto env_int = [](const char* k) -> int {
    const char* v = std::getenv(k);
    return v && *v ? std::atoi(v) : -1;
  };
  if (!flag.empty()) {
    IA_CHECK(std::sscanf(flag.c_str(), "%d/%d", &s.index, &s.count) == 2, ErrorKind::InvalidArgument,
             "--shard: expected I/N, got '{}'", flag);
  } else if (env_int("GTEST_SHARD_INDEX") >= 0 && env_int("GTEST_TOTAL_SHARDS") > 0) {
    s.index = env_int("GTEST_SHARD_INDEX");
    s.count = env_int("GTEST_TOTAL_SHARDS");
  } else if (env_int("JOB_COMPLETION_INDEX") >= 0) {
    s.index = env_int("JOB_COMPLETION_INDEX");
    s.count = env_int("IA_TOTAL_SHARDS") > 0 ? env_int("IA_TOTAL_SHARDS") : env_int("GTEST_TOTAL_SHARDS");
    IA_CHECK(s.count > 0, ErrorKind::InvalidArgument,
             "JOB_COMPLETION_INDEX is set but the shard count is not: set IA_TOTAL_SHARDS (the Job's completions) "
             "or pass --shard I/N");
  }
  IA_CHECK(s.count > 0 && s.index >= 0 && s.index < s.count, ErrorKind::InvalidArgument,
           "shard {}/{}: need 0 <= I < N", s.index, s.count);
  return s;
}

std::vector<SuiteJob> shard_jobs(const std::vector<SuiteJob>& all, const Shard& shard) {
  std::vector<SuiteJob> out;
  for (size_t i = 0; i < all.size(); ++i)
    if (static_cast<int>(i % shard.count) == shard.index) out.push_back(all[i]);
  return out;
}

std::string host_name() {
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

std::string hardware_summary() {
  std::string cpu;
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  std::string s = fmt::format("{} x {}; {:.1f} GiB RAM", std::thread::hardware_concurrency(), cpu.empty() ? "cpu" : cpu,
                              double(pages) * double(page) / (1024.0 * 1024 * 1024));
  for (const auto& b : plan_backends("all"))
    if (b.available && b.name != "cpu") s += "; " + b.name;
  return s;
}

std::string git_commit() {
  const std::string cmd = std::string("git -C '") + IA_SOURCE_DIR + "' describe --always --dirty --abbrev=7 --exclude='*' 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return "";
  char buf[64] = {0};
  std::string out = fgets(buf, sizeof buf, p) ? buf : "";
  pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

namespace {

// The fault named for `id` in IA_TEST_FAULTS ("id=action,id=action"), or "".
std::string injected_fault(const std::string& id) {
  const char* v = std::getenv("IA_TEST_FAULTS");
  if (!v) return "";
  std::stringstream ss(v);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const size_t eq = item.rfind('=');
    if (eq != std::string::npos && item.substr(0, eq) == id) return item.substr(eq + 1);
  }
  return "";
}

// Test hook of the suite's durability tests: makes the child misbehave the way a broken model would.
void inject_fault(const std::string& fault) {
  if (fault == "segfault") {
    volatile int* p = nullptr;
    *p = 1;
  } else if (fault == "abort") {
    std::abort();
  } else if (fault == "hang") {
    for (;;) pause();
  } else if (fault == "oom") {  // allocate until the address-space limit refuses more (bad_alloc)
    std::vector<std::unique_ptr<char[]>> hold;
    for (;;) {
      hold.emplace_back(new char[64 << 20]);
      static_cast<volatile char*>(hold.back().get())[0] = 1;
    }
  } else if (fault == "exit") {
    std::_Exit(7);
  } else if (fault.rfind("sleep:", 0) == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(fault.c_str() + 6)));
  } else {
    fail(ErrorKind::InvalidArgument, "IA_TEST_FAULTS: unknown fault '{}' (segfault, abort, hang, oom, exit, sleep:MS)",
         fault);
  }
}

}  // namespace

int run_test_worker(const CatalogEntry& e, const Device& device, const std::vector<Device>& refs,
                    const std::string& weights, const std::string& conformance_dir, const BenchSettings& bench,
                    const std::string& out_path) {
  if (const char* log = std::getenv("IA_TEST_START_LOG")) {
    const std::string line = e.id + " " + device.str() + "\n";
    const int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      const ssize_t n = write(fd, line.data(), line.size());
      (void)n;
      close(fd);
    }
  }
  TestOptions o;
  o.device = device;
  o.reference_devices = refs;
  o.weights = weights;
  o.conformance_dir = conformance_dir;
  o.bench = bench;
  TestOutcome r;
  if (weights == "hub") {  // the real checkpoint, through the Hub client and its cache (offline honoured)
    try {
      o.hub_dir = resolve_model(e.id);
    } catch (const Error& ex) {
      r.status = "unavailable";
      r.message = std::string("weights: ") + ex.what();
      r.checks.push_back({"weights", "unavailable", r.message, 0.0});
      std::ofstream(out_path) << r.to_json().dump();
      return 0;
    }
  }
  try {
    if (const std::string fault = injected_fault(e.id); !fault.empty()) inject_fault(fault);
    auto t = ModelTest::create(e);
    r = t->run(o);
    json j = r.to_json();
    j["test_class"] = t->class_name();
    std::ofstream(out_path) << j.dump();
  } catch (const std::bad_alloc&) {
    return 3;
  }
  return 0;
}

namespace {

#ifdef IA_SANITIZED
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

struct Child {
  pid_t pid = -1;
  SuiteJob job;
  std::string out_path, err_path, started_at;
  std::chrono::steady_clock::time_point t0;
};

pid_t spawn(const RunnerOptions& o, const SuiteJob& j, const std::vector<Device>& refs, const std::string& out_path,
            const std::string& err_path) {
  const int threads = o.bench.reps > 0 ? std::max(1, o.bench_threads) : 1;
  std::vector<std::string> args = {o.self_exe, "--threads", std::to_string(threads), "__test-worker", "--id",
                                   j.entry->id, "--device", j.backend.device.str(), "--weights", o.weights,
                                   "--catalog", o.catalog_dir, "--out", out_path};
  if (o.bench.reps > 0) {
    for (const std::string& a : {std::string("--bench-reps"), std::to_string(o.bench.reps), std::string("--bench-warmup"),
                                 std::to_string(o.bench.warmup), std::string("--bench-new-tokens"),
                                 std::to_string(o.bench.new_tokens)})
      args.push_back(a);
  }
  if (!o.conformance_dir.empty()) {
    args.push_back("--conformance");
    args.push_back(o.conformance_dir);
  }
  for (const auto& r : refs) {
    args.push_back("--reference");
    args.push_back(r.str());
  }
  // Everything the child needs is built before fork(): between fork and exec the child of this multithreaded
  // process only makes async-signal-safe calls (no allocation, no locks).
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const char* err_file = err_path.c_str();
  const char* exe = o.self_exe.c_str();
  const bool limit_memory = o.memory_limit_mb > 0 && j.backend.device.is_cpu() && !kSanitized;
  const rlim_t limit_bytes = static_cast<rlim_t>(o.memory_limit_mb) * 1024 * 1024;
  const pid_t parent = getpid();
  const pid_t pid = fork();
  IA_CHECK(pid >= 0, ErrorKind::Io, "fork failed: {}", std::strerror(errno));
  if (pid == 0) {
    setpgid(0, 0);
    // A runner killed with SIGKILL cannot reap its children: they die with it instead of running on unrecorded.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    const int fd = open(err_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    rlimit core{0, 0};
    setrlimit(RLIMIT_CORE, &core);
    // GPU runtimes reserve large virtual ranges: the address-space limit only applies to CPU tests (and not at
    // all in sanitizer builds, whose shadow memory is terabytes of address space).
    if (limit_memory) {
      rlimit as{limit_bytes, limit_bytes};
      setrlimit(RLIMIT_AS, &as);
    }
    execv(exe, argv.data());
    _exit(127);
  }
  return pid;
}

std::string tail_of(const std::string& path, size_t n) {
  std::ifstream in(path);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (s.size() > n) s = s.substr(s.size() - n);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

TestRecord base_record(int64_t run_id, const SuiteJob& j) {
  TestRecord r;
  r.run_id = run_id;
  r.model_id = j.entry->id;
  r.family = j.entry->family;
  r.model_type = j.entry->model_type;
  r.architecture = j.entry->architecture;
  r.test_class = ModelTest::create(*j.entry)->class_name();
  r.backend = j.backend.name;
  r.requested_device = j.backend.requested;
  return r;
}

class Progress {
 public:
  Progress(size_t total, bool bar, bool quiet) : total_(total), bar_(bar), quiet_(quiet), t0_(std::chrono::steady_clock::now()) {}
  void done(const TestRecord& r) {
    ++done_;
    ++counts_[r.status];
    if (quiet_) return;
    if (!bar_) {
      std::printf("[%zu/%zu] %-11s %s on %s (%.2fs)%s%s\n", done_, total_, r.status.c_str(), r.model_id.c_str(),
                  r.backend.c_str(), r.duration_ms / 1000.0, r.status == "passed" ? "" : ": ",
                  r.status == "passed" ? "" : r.message.substr(0, 160).c_str());
      std::fflush(stdout);
      return;
    }
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    const double eta = done_ ? el / double(done_) * double(total_ - done_) : 0;
    const int width = 30, fill = total_ ? static_cast<int>(width * done_ / total_) : width;
    std::printf("\r[%s%s] %zu/%zu  pass %d  fail %d  unsupported %d  other %d  ETA %ds   ",
                std::string(fill, '#').c_str(), std::string(width - fill, '.').c_str(), done_, total_,
                counts_["passed"], counts_["failed"], counts_["unsupported"],
                static_cast<int>(done_) - counts_["passed"] - counts_["failed"] - counts_["unsupported"],
                static_cast<int>(eta));
    std::fflush(stdout);
  }
  void finish() {
    if (bar_ && !quiet_) std::printf("\n");
  }

 private:
  size_t total_, done_ = 0;
  bool bar_, quiet_;
  std::map<std::string, int> counts_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace

int64_t run_suite(const std::vector<SuiteJob>& jobs, const RunnerOptions& o, const Shard& shard, ResultsDb& db) {
  int64_t run_id = 0;
  std::set<std::pair<std::string, std::string>> done;
  if (o.resume) {
    if (auto last = db.latest_run()) {
      run_id = last->id;
      done = db.completed(run_id);
    }
  }
  if (run_id == 0) {
    RunInfo ri;
    ri.host = host_name();
    ri.hardware = hardware_summary();
    ri.commit = git_commit();
    ri.args = o.args;
    ri.shard = shard.str();
    ri.weights = o.weights;
    run_id = db.begin_run(ri);
  }
  std::vector<SuiteJob> todo;
  for (const auto& j : jobs)
    if (!done.count({j.entry->id, j.backend.name})) todo.push_back(j);

  const fs::path tmp = fs::temp_directory_path() / fmt::format("ia-test-{}-{}", getpid(), run_id);
  fs::create_directories(tmp);
  Progress progress(todo.size(), o.progress, o.quiet);
  std::vector<Child> running;
  size_t next = 0;
  int seq = 0;

  auto stop_children = [&] {
    for (Child& c : running) {
      kill(-c.pid, SIGKILL);
      kill(c.pid, SIGKILL);
      waitpid(c.pid, nullptr, 0);
    }
    std::error_code ec;
    fs::remove_all(tmp, ec);
  };
  auto record = [&](TestRecord& r) {
    r.finished_at = now_iso8601();
    try {
      db.record(r);
    } catch (const Error& e) {  // e.g. disk full: stop here; what was recorded stays valid for --resume
      stop_children();
      fail(ErrorKind::Io, "{}; the run stops, {} finished test(s) stay recorded in {} (`--resume` continues)",
           e.what(), db.completed(run_id).size(), db.path());
    }
    progress.done(r);
  };

  while (next < todo.size() || !running.empty()) {
    // Start what needs no child (unsupported, unavailable) and fill free slots.
    while (next < todo.size() && static_cast<int>(running.size()) < std::max(1, o.jobs)) {
      const SuiteJob& j = todo[next++];
      TestRecord r = base_record(run_id, j);
      r.started_at = now_iso8601();
      if (!j.backend.available) {
        r.status = "unavailable";
        r.fallback_reason = j.backend.reason;
        r.message = "backend " + j.backend.name + " unavailable: " + j.backend.reason;
        record(r);
        continue;
      }
      r.device = j.backend.device.str();
      if (j.backend.fell_back) r.fallback_reason = j.backend.reason;
      const std::string why = ModelTest::create(*j.entry)->unsupported_reason();
      if (!why.empty()) {
        r.status = "unsupported";
        r.message = why;
        r.checks.push_back({"support", "unsupported", why, 0.0});
        record(r);
        continue;
      }
      Child c;
      c.job = j;
      c.out_path = (tmp / fmt::format("{}.json", seq)).string();
      c.err_path = (tmp / fmt::format("{}.log", seq)).string();
      ++seq;
      std::vector<Device> refs;
      if (!j.backend.device.is_cpu()) refs.push_back(Device::cpu());
      c.started_at = r.started_at;
      c.t0 = std::chrono::steady_clock::now();
      c.pid = spawn(o, j, refs, c.out_path, c.err_path);
      running.push_back(c);
    }
    // Reap finished children; kill those past the timeout.
    bool reaped = false;
    for (size_t i = 0; i < running.size();) {
      Child& c = running[i];
      int status = 0;
      rusage ru{};
      const pid_t p = wait4(c.pid, &status, WNOHANG, &ru);
      const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - c.t0).count();
      bool timed_out = false;
      if (p == 0 && el > o.timeout_s) {
        kill(-c.pid, SIGKILL);
        kill(c.pid, SIGKILL);
        wait4(c.pid, &status, 0, &ru);
        timed_out = true;
      } else if (p == 0) {
        ++i;
        continue;
      }
      TestRecord r = base_record(run_id, c.job);
      r.started_at = c.started_at;
      r.device = c.job.backend.device.str();
      if (c.job.backend.fell_back) r.fallback_reason = c.job.backend.reason;
      r.duration_ms = el * 1000.0;
      r.peak_rss_kb = ru.ru_maxrss;
      std::ifstream in(c.out_path);
      json j = in ? json::parse(in, nullptr, false) : json();
      if (timed_out) {
        r.status = "timeout";
        r.message = fmt::format("killed after {:.0f} s (--timeout)", o.timeout_s);
      } else if (WIFSIGNALED(status)) {
        const int sig = WTERMSIG(status);
        r.status = sig == SIGKILL ? "oom" : "crashed";
        r.message = fmt::format("child killed by signal {} ({}){}", sig, strsignal(sig),
                                sig == SIGKILL ? ": likely the kernel OOM killer" : "");
        const std::string log = tail_of(c.err_path, 400);
        if (!log.empty()) r.message += "; stderr: " + log;
      } else if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
        r.status = "oom";
        r.message = fmt::format("allocation refused (memory limit {} MiB)", o.memory_limit_mb);
      } else if (j.is_object()) {
        r.status = j.value("status", "failed");
        r.message = j.value("message", "");
        if (r.status != "passed" && r.message.find("std::bad_alloc") != std::string::npos) r.status = "oom";
        for (const auto& cj : j.value("checks", json::array())) r.checks.push_back(CheckResult::from_json(cj));
        for (const auto& bj : j.value("benchmarks", json::array())) r.benchmarks.push_back(BenchResult::from_json(bj));
      } else {
        r.status = "crashed";
        r.message = fmt::format("child exited with code {} without a result", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        const std::string log = tail_of(c.err_path, 400);
        if (!log.empty()) r.message += "; output: " + log;
      }
      record(r);
      std::error_code ec;
      fs::remove(c.out_path, ec);
      fs::remove(c.err_path, ec);
      running.erase(running.begin() + static_cast<long>(i));
      reaped = true;
    }
    if (!reaped && !running.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  progress.finish();
  std::error_code ec;
  fs::remove_all(tmp, ec);
  db.end_run(run_id);
  return run_id;
}

}  // namespace ia::suite
