// Suite durability through the CLI: 20 kill -9's of `ipfs-accelerate test` at random points with --resume lose no
// finished result and re-run no finished test; a model child that segfaults, aborts, hangs, exits without a result
// or runs out of memory is recorded as crashed/timeout/oom and the run goes on; concurrent shards merge
// idempotently; a full disk stops the run with a clear error and leaves a valid database.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "core/error.h"
#include "models/model.h"
#include "testing/catalog.h"
#include "testing/results_db.h"

namespace fs = std::filesystem;
using namespace ia::suite;

namespace {

const Catalog& catalog() {
  static Catalog c = Catalog::load(std::string(IA_SOURCE_DIR) + "/catalog");
  return c;
}

fs::path scratch(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("ia-durability-" + std::to_string(getpid())) / name;
  fs::create_directories(p.parent_path());
  fs::remove_all(p);
  return p;
}

std::vector<std::string> ids_where(bool implemented, size_t n) {
  std::vector<std::string> ids;
  for (const auto& e : catalog().entries())
    if (ia::model_supports(e.model_type, e.architecture) == implemented && ids.size() < n) ids.push_back(e.id);
  return ids;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += " " + x;
  return s;
}

// Starts `env ipfs-accelerate args` with stdout/stderr to `log`; returns the pid.
pid_t start_cli(const std::string& env, const std::string& args, const fs::path& log) {
  const pid_t pid = fork();
  if (pid == 0) {
    const std::string cmd = "exec env " + env + " " + std::string(IA_CLI_PATH) + " " + args + " > " + log.string() +
                            " 2>&1";
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Finished tests (model, backend) -> "finished_at|duration_ms|status", read without the CLI.
std::map<std::pair<std::string, std::string>, std::string> finished(const fs::path& db) {
  std::map<std::pair<std::string, std::string>, std::string> m;
  if (!fs::exists(db)) return m;
  ResultsDb r(db.string());
  for (const auto& t : r.results(0))
    m[{t.model_id, t.backend}] = t.finished_at + "|" + std::to_string(t.duration_ms) + "|" + t.status;
  return m;
}

std::multiset<std::string> started(const fs::path& log) {
  std::multiset<std::string> s;
  std::ifstream in(log);
  std::string id, dev;
  while (in >> id >> dev) s.insert(id);
  return s;
}

std::string integrity(const fs::path& db) {
  sqlite3* h = nullptr;
  std::string out;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_exec(
        h, "PRAGMA integrity_check",
        [](void* o, int, char** v, char**) {
          *static_cast<std::string*>(o) += v[0] ? v[0] : "";
          return 0;
        },
        &out, nullptr);
  }
  sqlite3_close(h);
  return out;
}

// A run of everything: the list of tests, their arguments, and the hooks that slow the children so kills land mid-run.
struct KillPlan {
  std::vector<std::string> ids;
  std::string args, faults;
};

KillPlan kill_plan(const fs::path& db) {
  KillPlan p;
  const auto impl = ids_where(true, 8), unimpl = ids_where(false, 6);
  for (size_t i = 0; i < impl.size(); ++i) {
    p.ids.push_back(impl[i]);
    p.ids.push_back(unimpl[i % unimpl.size()]);
    p.faults += (p.faults.empty() ? "" : ",") + impl[i] + "=sleep:" + std::to_string(150 + 40 * i);
  }
  std::set<std::string> uniq(p.ids.begin(), p.ids.end());
  p.ids.assign(uniq.begin(), uniq.end());
  p.args = "test" + join(p.ids) + " --device cpu --jobs 2 --shard 0/1 --results " + db.string();
  return p;
}

}  // namespace

TEST(SuiteDurability, TwentyKillsWithResumeLoseNothingAndRerunNothing) {
  std::mt19937 rng(20261203);
  std::uniform_int_distribution<int> delay_ms(20, 1500);
  int kills = 0, rounds = 0, max_seen = 0;
  while (kills < 20) {
    ++rounds;
    const fs::path dir = scratch("kill-round-" + std::to_string(rounds));
    fs::create_directories(dir);
    const fs::path db = dir / "results.db";
    const KillPlan plan = kill_plan(db);
    std::map<std::pair<std::string, std::string>, std::string> before;
    std::set<std::string> finished_ids;
    for (int attempt = 0;; ++attempt) {
      const fs::path start_log = dir / ("starts-" + std::to_string(attempt) + ".log");
      const std::string env = "IA_TEST_FAULTS=" + plan.faults + " IA_TEST_START_LOG=" + start_log.string();
      const pid_t pid = start_cli(env, plan.args + (attempt ? " --resume" : ""), dir / "cli.log");
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
      int st = 0;
      bool killed = false;
      if (waitpid(pid, &st, WNOHANG) == 0) {  // still running: kill it, unless the 20 kills are done
        killed = kills < 20 && kill(pid, SIGKILL) == 0;
        waitpid(pid, &st, 0);
      }
      const int rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
      if (killed) ++kills;
      const auto now = finished(db);
      // Nothing finished is lost or rewritten, and nothing finished was started again.
      for (const auto& [key, row] : before) {
        ASSERT_TRUE(now.count(key)) << key.first << " lost after kill " << kills;
        EXPECT_EQ(now.at(key), row) << key.first << " rewritten after kill " << kills;
      }
      for (const auto& id : started(start_log))
        EXPECT_FALSE(finished_ids.count(id)) << id << " finished before attempt " << attempt << " but ran again";
      before = now;
      for (const auto& [key, row] : now) finished_ids.insert(key.first);
      max_seen = std::max(max_seen, static_cast<int>(now.size()));
      if (!killed) {
        ASSERT_EQ(rc, 0) << slurp(dir / "cli.log");
        break;
      }
    }
    ResultsDb r(db.string());
    EXPECT_EQ(r.runs().size(), 1u) << "every resume continues the killed run";
    ASSERT_EQ(r.results(0).size(), plan.ids.size());
    for (const auto& t : r.results(0))
      EXPECT_TRUE(t.status == "passed" || t.status == "unsupported") << t.model_id << ": " << t.status << " " << t.message;
    EXPECT_EQ(integrity(db), "ok");
  }
  EXPECT_EQ(kills, 20);
  std::printf("[durability] %d kills over %d run(s), up to %d results at a kill, 0 lost, 0 re-run\n", kills, rounds,
              max_seen);
}

#ifdef IA_SANITIZED
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

TEST(SuiteDurability, CrashingHangingAndOomChildrenAreRecordedAndTheRunGoesOn) {
  const auto impl = ids_where(true, 6);
  ASSERT_EQ(impl.size(), 6u);
  const bool oom = !kSanitized;  // no address-space limit under sanitizers: the oom child would take all memory
  std::map<std::string, std::string> fault = {{impl[0], "segfault"}, {impl[1], "abort"}, {impl[2], "hang"},
                                              {impl[4], "exit"}};
  if (oom) fault[impl[3]] = "oom";
  std::string faults;
  for (const auto& [id, f] : fault) faults += (faults.empty() ? "" : ",") + id + "=" + f;
  const fs::path dir = scratch("faults");
  fs::create_directories(dir);
  const fs::path db = dir / "results.db";
  const pid_t pid = start_cli("IA_TEST_FAULTS=" + faults,
                              "test" + join(impl) + " --device cpu --jobs 2 --timeout 8 --memory-limit-mb 1024 " +
                                  "--shard 0/1 --results " + db.string(),
                              dir / "cli.log");
  EXPECT_EQ(wait_exit(pid), 1) << "failed tests make the run exit 1: " << slurp(dir / "cli.log");
  std::map<std::string, TestRecord> got;
  for (const auto& t : ResultsDb(db.string()).results(0)) got[t.model_id] = t;
  ASSERT_EQ(got.size(), impl.size()) << slurp(dir / "cli.log");
  EXPECT_EQ(got[impl[0]].status, "crashed");
  // Under the sanitizers UBSan reports the null store first and the child exits 1 without a result.
  EXPECT_NE(got[impl[0]].message.find(kSanitized ? "store to null pointer" : "signal 11"), std::string::npos)
      << got[impl[0]].message;
  EXPECT_EQ(got[impl[1]].status, "crashed");
  EXPECT_NE(got[impl[1]].message.find("signal 6"), std::string::npos) << got[impl[1]].message;
  EXPECT_EQ(got[impl[2]].status, "timeout");
  EXPECT_NE(got[impl[2]].message.find("killed after 8 s"), std::string::npos) << got[impl[2]].message;
  if (oom) {
    EXPECT_EQ(got[impl[3]].status, "oom");
    EXPECT_NE(got[impl[3]].message.find("memory limit 1024 MiB"), std::string::npos) << got[impl[3]].message;
  }
  EXPECT_EQ(got[impl[4]].status, "crashed");
  EXPECT_NE(got[impl[4]].message.find("exited with code 7 without a result"), std::string::npos)
      << got[impl[4]].message;
  EXPECT_EQ(got[impl[5]].status, "passed") << "the run goes on after its broken neighbours: " << got[impl[5]].message;
}

TEST(SuiteDurability, ConcurrentShardsMergeIdempotently) {
  auto ids = ids_where(true, 3);
  for (const auto& u : ids_where(false, 3)) ids.push_back(u);
  const fs::path dir = scratch("shards");
  fs::create_directories(dir);
  const std::string sel = "test" + join(ids) + " --device cpu --jobs 1";
  const pid_t a = start_cli("", sel + " --shard 0/2 --results " + (dir / "s0.db").string(), dir / "s0.log");
  const pid_t b = start_cli("", sel + " --shard 1/2 --results " + (dir / "s1.db").string(), dir / "s1.log");
  ASSERT_EQ(wait_exit(a), 0) << slurp(dir / "s0.log");
  ASSERT_EQ(wait_exit(b), 0) << slurp(dir / "s1.log");
  const std::string s0 = (dir / "s0.db").string(), s1 = (dir / "s1.db").string(), m = (dir / "all.db").string();
  auto merge = [&](const std::string& inputs, const std::string& out) {
    const pid_t p = start_cli("", "results merge " + inputs + " -o " + out, dir / "merge.log");
    return wait_exit(p);
  };
  auto dump = [](const std::string& path) {
    ResultsDb d(path);
    std::string s;
    for (const auto& r : d.runs()) s += r.uid + " " + r.shard + " " + r.started_at + " " + r.ended_at + "\n";
    for (const auto& t : d.results(0)) s += t.to_json().dump() + "\n";
    return s;
  };
  ASSERT_EQ(merge(s0 + " " + s1, m), 0) << slurp(dir / "merge.log");
  const std::string once = dump(m);
  EXPECT_EQ(ResultsDb(m).runs().size(), 2u);
  EXPECT_EQ(ResultsDb(m).results(0).size(), ids.size());
  ASSERT_EQ(merge(s0 + " " + s1, m), 0) << slurp(dir / "merge.log");
  EXPECT_EQ(dump(m), once) << "merging the same shards again changes nothing";
  ASSERT_EQ(merge(s1 + " " + s1 + " " + s0, m), 0) << slurp(dir / "merge.log");
  EXPECT_EQ(dump(m), once) << "a shard named twice is merged once";
  const std::string m2 = (dir / "all2.db").string();
  ASSERT_EQ(merge(m + " " + s0, m2), 0);
  ASSERT_EQ(merge(m, m2), 0);
  EXPECT_EQ(dump(m2), once) << "merging a merge keeps each run once";
  EXPECT_EQ(integrity(m), "ok");
}

namespace {

// A 1 MiB tmpfs of our own (we run as root in CI containers); empty when mounting is not allowed here.
struct SmallDisk {
  fs::path dir;
  explicit SmallDisk(const fs::path& d) {
    fs::create_directories(d);
    if (mount("tmpfs", d.c_str(), "tmpfs", 0, "size=1m") == 0) dir = d;
  }
  ~SmallDisk() {
    if (!dir.empty()) umount2(dir.c_str(), MNT_DETACH);
  }
  // Writes a filler file until the disk refuses more.
  void fill() const {
    std::FILE* f = std::fopen((dir / "filler").c_str(), "ab");
    std::vector<char> block(4096, 'x');
    while (f && std::fwrite(block.data(), 1, block.size(), f) == block.size() && std::fflush(f) == 0) {
    }
    if (f) std::fclose(f);
  }
  void unfill() const { fs::remove(dir / "filler"); }
};

TestRecord bulky_record(int64_t run, int i) {
  TestRecord r;
  r.run_id = run;
  r.model_id = "model-" + std::to_string(i);
  r.backend = "cpu";
  r.status = "passed";
  r.message = std::string(2000, 'm');
  r.checks.push_back({"forward", "passed", std::string(2000, 'c'), 1.0});
  return r;
}

}  // namespace

TEST(SuiteDurability, DiskFullIsAClearErrorAndTheDatabaseStaysValid) {
  SmallDisk disk(scratch("small-disk"));
  if (disk.dir.empty()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN): disk-full not tested";
  const fs::path db = disk.dir / "results.db";
  int recorded = 0;
  {
    ResultsDb r(db.string());
    const int64_t run = r.begin_run(RunInfo{});
    r.record(bulky_record(run, recorded++));
    disk.fill();
    std::string err;
    try {
      for (; recorded < 1000; ++recorded) r.record(bulky_record(run, recorded));
    } catch (const ia::Error& e) {
      err = e.what();
    }
    ASSERT_FALSE(err.empty()) << "a full disk must fail the write";
    EXPECT_NE(err.find("cannot record the result of model-" + std::to_string(recorded) + " on cpu"), std::string::npos)
        << err;
    EXPECT_NE(err.find("database or disk is full"), std::string::npos) << err;
    EXPECT_NE(err.find(db.string()), std::string::npos) << err;
    std::printf("[durability] disk full: %s\n", err.c_str());
    EXPECT_EQ(r.results(run).size(), static_cast<size_t>(recorded)) << "the failed test left no partial rows";
  }
  EXPECT_EQ(integrity(db), "ok");
  disk.unfill();
  ResultsDb again(db.string());
  EXPECT_EQ(again.results(0).size(), static_cast<size_t>(recorded));
  again.record(bulky_record(again.latest_run()->id, recorded));
  EXPECT_EQ(again.results(0).size(), static_cast<size_t>(recorded + 1));
}

TEST(SuiteDurability, RunnerStopsOnAFullDiskAndResumes) {
  SmallDisk disk(scratch("small-disk-cli"));
  if (disk.dir.empty()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN): disk-full not tested";
  const fs::path db = disk.dir / "results.db", log = scratch("full.log");
  const auto impl = ids_where(true, 4);
  std::string faults;
  for (const auto& id : impl) faults += (faults.empty() ? "" : ",") + id + "=sleep:400";
  const std::string args = "test" + join(impl) + " --device cpu --jobs 1 --shard 0/1 --results " + db.string();
  const pid_t pid = start_cli("IA_TEST_FAULTS=" + faults, args, log);
  size_t seen = 0;
  for (int i = 0; i < 1000 && seen == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    seen = finished(db).size();
  }
  ASSERT_GE(seen, 1u);
  disk.fill();
  EXPECT_EQ(wait_exit(pid), 2);
  const std::string out = slurp(log);
  EXPECT_NE(out.find("error: cannot record the result of"), std::string::npos) << out;
  EXPECT_NE(out.find("database or disk is full"), std::string::npos) << out;
  EXPECT_NE(out.find("`--resume` continues"), std::string::npos) << out;
  std::printf("[durability] runner on a full disk: %s", out.substr(out.find("error:")).c_str());
  disk.unfill();
  EXPECT_EQ(integrity(db), "ok");
  EXPECT_EQ(wait_exit(start_cli("", args + " --resume", log)), 0) << slurp(log);
  EXPECT_EQ(finished(db).size(), impl.size());
}
