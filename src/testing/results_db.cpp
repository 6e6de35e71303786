#include "testing/results_db.h"

#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <random>
#include <tuple>

#include "core/error.h"

using nlohmann::json;

namespace ia::suite {

namespace {

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  uid TEXT,
  host TEXT, hardware TEXT, git_commit TEXT, args TEXT, shard TEXT, weights TEXT,
  started_at TEXT, ended_at TEXT);
CREATE TABLE IF NOT EXISTS tests (
  run_id INTEGER NOT NULL REFERENCES runs(id),
  model_id TEXT NOT NULL, family TEXT, model_type TEXT, architecture TEXT, test_class TEXT,
  backend TEXT NOT NULL, requested_device TEXT, device TEXT, fallback_reason TEXT,
  status TEXT NOT NULL, message TEXT, duration_ms REAL, peak_rss_kb INTEGER, started_at TEXT, finished_at TEXT,
  PRIMARY KEY (run_id, model_id, backend));
CREATE TABLE IF NOT EXISTS results (
  run_id INTEGER NOT NULL, model_id TEXT NOT NULL, backend TEXT NOT NULL, check_name TEXT NOT NULL,
  status TEXT NOT NULL, message TEXT, duration_ms REAL, peak_rss_kb INTEGER,
  PRIMARY KEY (run_id, model_id, backend, check_name));
CREATE TABLE IF NOT EXISTS benchmarks (
  run_id INTEGER NOT NULL, model_id TEXT NOT NULL, backend TEXT NOT NULL, scenario TEXT NOT NULL,
  dtype TEXT, batch INTEGER, seq INTEGER, new_tokens INTEGER, threads INTEGER, warmup INTEGER, reps INTEGER,
  p50_ms REAL, p90_ms REAL, mean_ms REAL, stddev_ms REAL, min_ms REAL, throughput REAL, unit TEXT,
  peak_memory_kb INTEGER,
  PRIMARY KEY (run_id, model_id, backend, scenario));
)sql";

class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& sql) {
    IA_CHECK(sqlite3_prepare_v2(db, sql.c_str(), -1, &s_, nullptr) == SQLITE_OK, ErrorKind::Io, "sqlite: {}: {}",
             sqlite3_errmsg(db), sql);
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.c_str(), -1, SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& bind(int i, double v) {
    sqlite3_bind_double(s_, i, v);
    return *this;
  }
  bool step() {
    const int rc = sqlite3_step(s_);
    sqlite3* db = sqlite3_db_handle(s_);
    const char* file = sqlite3_db_filename(db, "main");
    IA_CHECK(rc == SQLITE_ROW || rc == SQLITE_DONE, ErrorKind::Io, "{}: sqlite: {}", file ? file : "", sqlite3_errmsg(db));
    return rc == SQLITE_ROW;
  }
  std::string text(int i) const {
    const unsigned char* t = sqlite3_column_text(s_, i);
    return t ? reinterpret_cast<const char*>(t) : "";
  }
  int64_t i64(int i) const { return sqlite3_column_int64(s_, i); }
  double real(int i) const { return sqlite3_column_double(s_, i); }

 private:
  sqlite3_stmt* s_ = nullptr;
};

RunInfo read_run(Stmt& s) {
  RunInfo r;
  r.id = s.i64(0);
  r.host = s.text(1);
  r.hardware = s.text(2);
  r.commit = s.text(3);
  r.args = s.text(4);
  r.shard = s.text(5);
  r.weights = s.text(6);
  r.started_at = s.text(7);
  r.ended_at = s.text(8);
  r.uid = s.text(9);
  return r;
}

const char* kRunCols = "id, host, hardware, git_commit, args, shard, weights, started_at, ended_at, uid";

// 128 random bits in hex: the identity of a run across merged databases.
std::string new_run_uid() {
  std::random_device rd;
  char buf[33];
  std::snprintf(buf, sizeof buf, "%08x%08x%08x%08x", rd(), rd(), rd(), rd());
  return buf;
}
const char* kBenchCols =
    "run_id, model_id, backend, scenario, dtype, batch, seq, new_tokens, threads, warmup, reps, p50_ms, p90_ms, "
    "mean_ms, stddev_ms, min_ms, throughput, unit, peak_memory_kb";

// Columns 3.. of a benchmarks row (kBenchCols order).
BenchResult read_bench(Stmt& s) {
  BenchResult b;
  b.scenario = s.text(3);
  b.dtype = s.text(4);
  b.batch = s.i64(5);
  b.seq = s.i64(6);
  b.new_tokens = s.i64(7);
  b.threads = static_cast<int>(s.i64(8));
  b.warmup = static_cast<int>(s.i64(9));
  b.reps = static_cast<int>(s.i64(10));
  b.p50_ms = s.real(11);
  b.p90_ms = s.real(12);
  b.mean_ms = s.real(13);
  b.stddev_ms = s.real(14);
  b.min_ms = s.real(15);
  b.throughput = s.real(16);
  b.unit = s.text(17);
  b.peak_memory_kb = s.i64(18);
  return b;
}

const char* kTestCols =
    "run_id, model_id, family, model_type, architecture, test_class, backend, requested_device, device, "
    "fallback_reason, status, message, duration_ms, peak_rss_kb, started_at, finished_at";

}  // namespace

std::string now_iso8601() {
  const auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json RunInfo::to_json() const {
  return json{{"id", id},         {"uid", uid},         {"host", host},       {"hardware", hardware},     {"commit", commit},
              {"args", args},     {"shard", shard},     {"weights", weights},       {"started_at", started_at},
              {"ended_at", ended_at}};
}

json TestRecord::to_json() const {
  json j{{"run_id", run_id},
         {"model_id", model_id},
         {"family", family},
         {"model_type", model_type},
         {"architecture", architecture},
         {"test_class", test_class},
         {"backend", backend},
         {"requested_device", requested_device},
         {"device", device},
         {"fallback_reason", fallback_reason},
         {"status", status},
         {"message", message},
         {"duration_ms", duration_ms},
         {"peak_rss_kb", peak_rss_kb},
         {"started_at", started_at},
         {"finished_at", finished_at},
         {"checks", json::array()}};
  for (const auto& c : checks) j["checks"].push_back(c.to_json());
  if (!benchmarks.empty()) {
    j["benchmarks"] = json::array();
    for (const auto& b : benchmarks) j["benchmarks"].push_back(b.to_json());
  }
  return j;
}

ResultsDb::ResultsDb(const std::string& path) : path_(path) {
  IA_CHECK(sqlite3_open(path.c_str(), &db_) == SQLITE_OK, ErrorKind::Io, "{}: cannot open results database: {}", path,
           db_ ? sqlite3_errmsg(db_) : "out of memory");
  sqlite3_busy_timeout(db_, 10000);
  exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
  exec(kSchema);
  // Databases written before runs had a uid: add the column and name their runs after what identifies them.
  bool has_uid = false;
  {
    Stmt cols(db_, "PRAGMA table_info(runs)");
    while (cols.step()) has_uid = has_uid || cols.text(1) == "uid";
  }
  if (!has_uid) exec("ALTER TABLE runs ADD COLUMN uid TEXT");
  exec("UPDATE runs SET uid = 'legacy:' || COALESCE(host, '') || ':' || COALESCE(started_at, '') || ':' || "
       "COALESCE(shard, '') || ':' || id WHERE uid IS NULL OR uid = ''");
}

ResultsDb::~ResultsDb() {
  if (db_) sqlite3_close(db_);
}

void ResultsDb::exec(const std::string& sql) const {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    fail(ErrorKind::Io, "{}: sqlite: {}", path_, msg);
  }
}

void ResultsDb::rollback() const {
  if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

int64_t ResultsDb::begin_run(const RunInfo& r) {
  Stmt s(db_, "INSERT INTO runs (uid, host, hardware, git_commit, args, shard, weights, started_at) "
              "VALUES (?,?,?,?,?,?,?,?)");
  s.bind(1, r.uid.empty() ? new_run_uid() : r.uid);
  s.bind(2, r.host).bind(3, r.hardware).bind(4, r.commit).bind(5, r.args).bind(6, r.shard).bind(7, r.weights);
  s.bind(8, r.started_at.empty() ? now_iso8601() : r.started_at).step();
  return sqlite3_last_insert_rowid(db_);
}

void ResultsDb::end_run(int64_t run_id) {
  Stmt s(db_, "UPDATE runs SET ended_at = ? WHERE id = ?");
  s.bind(1, now_iso8601()).bind(2, run_id).step();
}

std::optional<RunInfo> ResultsDb::latest_run() const {
  Stmt s(db_, std::string("SELECT ") + kRunCols + " FROM runs ORDER BY id DESC LIMIT 1");
  if (!s.step()) return std::nullopt;
  return read_run(s);
}

std::vector<RunInfo> ResultsDb::runs() const {
  Stmt s(db_, std::string("SELECT ") + kRunCols + " FROM runs ORDER BY id");
  std::vector<RunInfo> out;
  while (s.step()) out.push_back(read_run(s));
  return out;
}

std::set<std::pair<std::string, std::string>> ResultsDb::completed(int64_t run_id) const {
  Stmt s(db_, "SELECT model_id, backend FROM tests WHERE run_id = ?");
  s.bind(1, run_id);
  std::set<std::pair<std::string, std::string>> out;
  while (s.step()) out.emplace(s.text(0), s.text(1));
  return out;
}

void ResultsDb::record(const TestRecord& r) {
  exec("BEGIN IMMEDIATE");
  try {
    insert(r);
    exec("COMMIT");
  } catch (const Error& e) {
    rollback();
    fail(ErrorKind::Io, "cannot record the result of {} on {}: {}", r.model_id, r.backend, e.what());
  }
}

void ResultsDb::insert(const TestRecord& r) {
  {
    Stmt t(db_, std::string("INSERT OR REPLACE INTO tests (") + kTestCols + ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    t.bind(1, r.run_id).bind(2, r.model_id).bind(3, r.family).bind(4, r.model_type).bind(5, r.architecture);
    t.bind(6, r.test_class).bind(7, r.backend).bind(8, r.requested_device).bind(9, r.device).bind(10, r.fallback_reason);
    t.bind(11, r.status).bind(12, r.message).bind(13, r.duration_ms).bind(14, r.peak_rss_kb).bind(15, r.started_at);
    t.bind(16, r.finished_at).step();
    Stmt d(db_, "DELETE FROM results WHERE run_id = ? AND model_id = ? AND backend = ?");
    d.bind(1, r.run_id).bind(2, r.model_id).bind(3, r.backend).step();
    for (const auto& c : r.checks) {
      Stmt s(db_,
             "INSERT INTO results (run_id, model_id, backend, check_name, status, message, duration_ms, peak_rss_kb) "
             "VALUES (?,?,?,?,?,?,?,?)");
      s.bind(1, r.run_id).bind(2, r.model_id).bind(3, r.backend).bind(4, c.name).bind(5, c.status).bind(6, c.message);
      s.bind(7, c.ms).bind(8, r.peak_rss_kb).step();
    }
    Stmt db(db_, "DELETE FROM benchmarks WHERE run_id = ? AND model_id = ? AND backend = ?");
    db.bind(1, r.run_id).bind(2, r.model_id).bind(3, r.backend).step();
    for (const auto& b : r.benchmarks) {
      Stmt s(db_, std::string("INSERT INTO benchmarks (") + kBenchCols + ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
      s.bind(1, r.run_id).bind(2, r.model_id).bind(3, r.backend).bind(4, b.scenario).bind(5, b.dtype);
      s.bind(6, b.batch).bind(7, b.seq).bind(8, b.new_tokens).bind(9, int64_t{b.threads}).bind(10, int64_t{b.warmup});
      s.bind(11, int64_t{b.reps}).bind(12, b.p50_ms).bind(13, b.p90_ms).bind(14, b.mean_ms).bind(15, b.stddev_ms);
      s.bind(16, b.min_ms).bind(17, b.throughput).bind(18, b.unit).bind(19, b.peak_memory_kb).step();
    }
  }
}

std::vector<BenchPoint> ResultsDb::bench_history() const {
  std::map<int64_t, RunInfo> runs;
  for (const RunInfo& r : this->runs()) runs[r.id] = r;
  Stmt s(db_,
         "SELECT b.run_id, b.model_id, b.backend, b.scenario, b.dtype, b.batch, b.seq, b.new_tokens, b.threads, "
         "b.warmup, b.reps, b.p50_ms, b.p90_ms, b.mean_ms, b.stddev_ms, b.min_ms, b.throughput, b.unit, "
         "b.peak_memory_kb, t.family, t.device FROM benchmarks b LEFT JOIN tests t ON t.run_id = b.run_id AND "
         "t.model_id = b.model_id AND t.backend = b.backend ORDER BY b.run_id, t.family, b.model_id, b.backend, "
         "b.scenario");
  std::vector<BenchPoint> out;
  while (s.step()) {
    BenchPoint p;
    p.run = runs[s.i64(0)];
    p.model_id = s.text(1);
    p.backend = s.text(2);
    p.bench = read_bench(s);
    p.family = s.text(19);
    p.device = s.text(20);
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<TestRecord> ResultsDb::results(int64_t run_id) const {
  std::string sql = std::string("SELECT ") + kTestCols + " FROM tests";
  if (run_id > 0)
    sql += " WHERE run_id = ?";
  else  // the newest row of each model x backend
    sql += " t WHERE run_id = (SELECT MAX(run_id) FROM tests u WHERE u.model_id = t.model_id AND u.backend = t.backend)";
  sql += " ORDER BY family, model_id, backend";
  Stmt s(db_, sql);
  if (run_id > 0) s.bind(1, run_id);
  std::vector<TestRecord> out;
  while (s.step()) {
    TestRecord r;
    r.run_id = s.i64(0);
    r.model_id = s.text(1);
    r.family = s.text(2);
    r.model_type = s.text(3);
    r.architecture = s.text(4);
    r.test_class = s.text(5);
    r.backend = s.text(6);
    r.requested_device = s.text(7);
    r.device = s.text(8);
    r.fallback_reason = s.text(9);
    r.status = s.text(10);
    r.message = s.text(11);
    r.duration_ms = s.real(12);
    r.peak_rss_kb = s.i64(13);
    r.started_at = s.text(14);
    r.finished_at = s.text(15);
    out.push_back(std::move(r));
  }
  Stmt c(db_, "SELECT run_id, model_id, backend, check_name, status, message, duration_ms FROM results "
              "ORDER BY rowid");
  std::map<std::tuple<int64_t, std::string, std::string>, size_t> index;
  for (size_t i = 0; i < out.size(); ++i) index[{out[i].run_id, out[i].model_id, out[i].backend}] = i;
  while (c.step()) {
    auto it = index.find({c.i64(0), c.text(1), c.text(2)});
    if (it == index.end()) continue;
    CheckResult cr;
    cr.name = c.text(3);
    cr.status = c.text(4);
    cr.message = c.text(5);
    cr.ms = c.real(6);
    out[it->second].checks.push_back(cr);
  }
  Stmt b(db_, std::string("SELECT ") + kBenchCols + " FROM benchmarks ORDER BY rowid");
  while (b.step()) {
    auto it = index.find({b.i64(0), b.text(1), b.text(2)});
    if (it != index.end()) out[it->second].benchmarks.push_back(read_bench(b));
  }
  return out;
}

void ResultsDb::merge_from(const std::string& other_path) {
  ResultsDb other(other_path);
  // One transaction: a failed merge (disk full, bad input) leaves this database as it was. A run already here (same
  // uid) is updated in place, so merging the same shard twice changes nothing.
  exec("BEGIN IMMEDIATE");
  try {
    for (const RunInfo& r : other.runs()) {
      int64_t id = 0;
      {
        Stmt q(db_, "SELECT id FROM runs WHERE uid = ?");
        q.bind(1, r.uid);
        if (q.step()) id = q.i64(0);
      }
      if (id == 0) {
        Stmt s(db_, "INSERT INTO runs (uid, host, hardware, git_commit, args, shard, weights, started_at, ended_at) "
                    "VALUES (?,?,?,?,?,?,?,?,?)");
        s.bind(1, r.uid).bind(2, r.host).bind(3, r.hardware).bind(4, r.commit).bind(5, r.args).bind(6, r.shard);
        s.bind(7, r.weights).bind(8, r.started_at).bind(9, r.ended_at).step();
        id = sqlite3_last_insert_rowid(db_);
      } else if (!r.ended_at.empty()) {
        Stmt s(db_, "UPDATE runs SET ended_at = ? WHERE id = ?");
        s.bind(1, r.ended_at).bind(2, id).step();
      }
      for (TestRecord t : other.results(r.id)) {
        t.run_id = id;
        insert(t);
      }
    }
    exec("COMMIT");
  } catch (const Error& e) {
    rollback();
    fail(ErrorKind::Io, "cannot merge {} into {}: {}", other_path, path_, e.what());
  }
}

}  // namespace ia::suite
