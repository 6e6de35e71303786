#include "testing/report.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "core/error.h"
#include "models/model.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ia::suite {

namespace {

bool implemented_status(const std::string& s) { return s != "unsupported" && s != "unavailable"; }

// "Implemented" means the engine computes the model: its forward check passed on some backend. A run that
// failed to load, crashed, timed out or ran out of memory does not count; a model whose forward passes but
// whose generation is unsupported does (its status stays unsupported, so it is not passing).
bool computes(const TestRecord& t) {
  for (const auto& c : t.checks)
    if (c.name == "forward" && c.status == "passed") return true;
  return false;
}

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') o += ' ';
        else o += c;
    }
  }
  return o;
}

double pct(int a, int b) { return b ? 100.0 * a / b : 0.0; }


// A bar's width on a log scale from lo to hi (both > 0) over `width` pixels; at least 1.
int log_width(double v, double lo, double hi, int width) {
  if (hi <= lo) return width;
  const double f = (std::log10(std::max(v, lo)) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
  return std::max(1, static_cast<int>(width * (0.08 + 0.92 * f)));
}

std::string fmt_ms(double ms) { return ms >= 100 ? fmt::format("{:.0f}", ms) : ms >= 1 ? fmt::format("{:.2f}", ms) : fmt::format("{:.3f}", ms); }

// Performance per backend (this report's benchmarks) and the history of every benchmark on the latest run's host.
std::string performance_html(const CoverageReport& r) {
  struct Bar {
    const TestRecord* t;
    const BenchResult* b;
  };
  std::map<std::string, std::vector<Bar>> by_backend;  // backend -> forward benchmarks
  std::vector<Bar> all;
  for (const auto& t : r.results)
    for (const auto& b : t.benchmarks) {
      all.push_back({&t, &b});
      if (b.scenario == "forward") by_backend[t.backend].push_back({&t, &b});
    }
  std::string h = "<h2 id=\"performance\">Performance per backend</h2>\n";
  if (all.empty()) {
    h += "<p class=\"meta\">No benchmarks in this run (run <code>ipfs-accelerate test --bench</code>).</p>\n";
    return h;
  }
  for (auto& [backend, bars] : by_backend) {
    std::sort(bars.begin(), bars.end(), [](const Bar& a, const Bar& b) { return a.b->p50_ms > b.b->p50_ms; });
    double lo = 1e30, hi = 0;
    for (const auto& x : bars) {
      lo = std::min(lo, std::max(x.b->min_ms, 1e-3));
      hi = std::max(hi, x.b->p90_ms);
    }
    // One chart of bars; the slowest kMain models are shown, the rest folded below them.
    constexpr size_t kMain = 25;
    auto chart = [&](size_t from, size_t to) {
      const int tl = 380, tw = 420, th = 14;
      std::string c = fmt::format("<svg width=\"{}\" height=\"{}\" role=\"img\" aria-label=\"forward latency on {}\">\n",
                                  tl + tw + 360, static_cast<int>(to - from) * (th + 3) + 6, esc(backend));
      for (size_t i = from; i < to; ++i) {
        const BenchResult& b = *bars[i].b;
        const int y = static_cast<int>(i - from) * (th + 3) + 2;
        const int w = log_width(b.p50_ms, lo, hi, tw), w90 = log_width(b.p90_ms, lo, hi, tw);
        c += fmt::format("<text x=\"0\" y=\"{}\" font-size=\"11\">{}</text><rect x=\"{}\" y=\"{}\" width=\"{}\" "
                         "height=\"{}\" fill=\"#3b7dd8\"/><rect x=\"{}\" y=\"{}\" width=\"2\" height=\"{}\" fill=\"#1d2330\"/>"
                         "<text x=\"{}\" y=\"{}\" font-size=\"11\">{} / {} ms &middot; {:.0f} {}/s &middot; {} {}</text>\n",
                         y + 11, esc(bars[i].t->model_id), tl, y, w, th, tl + w90, y, th, tl + std::max(w, w90) + 6,
                         y + 11, fmt_ms(b.p50_ms), fmt_ms(b.p90_ms), b.throughput, esc(b.unit), esc(b.dtype),
                         b.seq > 0 ? fmt::format("{}x{}", b.batch, b.seq) : fmt::format("batch {}", b.batch));
      }
      return c + "</svg>\n";
    };
    h += fmt::format("<h3>{}: forward latency p50 (bar, log scale) and p90 (tick), {} models, slowest first</h3>\n",
                     esc(backend), bars.size());
    h += chart(0, std::min(kMain, bars.size()));
    if (bars.size() > kMain)
      h += fmt::format("<details><summary>{} more</summary>\n{}</details>\n", bars.size() - kMain, chart(kMain, bars.size()));
  }
  // One row per benchmark; with several backends, each one's p50 relative to the CPU's for the same model.
  std::map<std::pair<std::string, std::string>, double> cpu_p50;
  for (const auto& x : all)
    if (x.t->backend == "cpu") cpu_p50[{x.t->model_id, x.b->scenario}] = x.b->p50_ms;
  h += fmt::format("<details><summary>Every benchmark ({})</summary>\n", all.size());
  h += "<table><tr><th>model</th><th>backend</th><th>scenario</th><th>dtype</th><th>shape</th>"
       "<th>threads</th><th class=\"num\">p50 ms</th><th class=\"num\">p90 ms</th><th class=\"num\">throughput</th>"
       "<th class=\"num\">peak MiB</th><th class=\"num\">vs cpu</th></tr>\n";
  for (const auto& x : all) {
    const BenchResult& b = *x.b;
    const auto c = cpu_p50.find({x.t->model_id, b.scenario});
    const std::string ratio = x.t->backend != "cpu" && c != cpu_p50.end() && b.p50_ms > 0
                                  ? fmt::format("{:.2f}x faster", c->second / b.p50_ms) : "";
    h += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td>"
                     "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.0f} {}/s</td>"
                     "<td class=\"num\">{:.0f}</td><td class=\"num\">{}</td></tr>\n",
                     esc(x.t->model_id), esc(x.t->backend), esc(b.scenario), esc(b.dtype),
                     fmt::format("{}{}", b.seq > 0 ? fmt::format("{}x{}", b.batch, b.seq) : fmt::format("batch {}", b.batch),
                                 b.new_tokens ? fmt::format(" +{} new", b.new_tokens) : ""),
                     b.threads, fmt_ms(b.p50_ms), fmt_ms(b.p90_ms), b.throughput, esc(b.unit), b.peak_memory_kb / 1024.0, ratio);
  }
  h += "</table></details>\n";

  // History: runs on this host, each benchmark's p50 against its previous run's.
  const std::string host = r.runs.empty() ? "" : r.runs.back().host;
  struct Series {
    std::vector<const BenchPoint*> points;  // oldest first
  };
  std::map<std::tuple<std::string, std::string, std::string>, Series> series;
  std::vector<int64_t> run_order;
  std::map<int64_t, const RunInfo*> run_of;
  for (const auto& p : r.history) {
    if (p.run.host != host) continue;
    series[{p.model_id, p.backend, p.bench.scenario}].points.push_back(&p);
    if (!run_of.count(p.run.id)) {
      run_of[p.run.id] = &p.run;
      run_order.push_back(p.run.id);
    }
  }
  std::sort(run_order.begin(), run_order.end());
  h += fmt::format("<h2 id=\"history\">Performance history on {}</h2>\n", esc(host));
  if (run_order.size() < 2) {
    h += fmt::format("<p class=\"meta\">{} run with benchmarks on this host in the database: history needs two.</p>\n",
                     run_order.size());
    return h;
  }
  // Speed index: between consecutive runs, the geometric mean of previous p50 / new p50 over the benchmarks both
  // have; chained from the first run (1.0). Above 1: faster.
  std::vector<double> index = {1.0};
  std::vector<int> common = {0};
  for (size_t k = 1; k < run_order.size(); ++k) {
    double log_sum = 0;
    int n = 0;
    for (const auto& [key, s] : series) {
      const BenchPoint *prev = nullptr, *cur = nullptr;
      for (const BenchPoint* p : s.points) {
        if (p->run.id == run_order[k - 1]) prev = p;
        if (p->run.id == run_order[k]) cur = p;
      }
      if (prev && cur && prev->bench.p50_ms > 0 && cur->bench.p50_ms > 0) {
        log_sum += std::log(prev->bench.p50_ms / cur->bench.p50_ms);
        ++n;
      }
    }
    index.push_back(index.back() * (n ? std::exp(log_sum / n) : 1.0));
    common.push_back(n);
  }
  {
    const int W = 640, H = 180, L = 50, B = 40;
    double lo = *std::min_element(index.begin(), index.end()), hi = *std::max_element(index.begin(), index.end());
    lo = std::min(lo, 0.9);
    hi = std::max(hi, 1.1);
    auto X = [&](size_t k) { return L + static_cast<int>((W - L - 20) * (run_order.size() == 1 ? 0.5 : double(k) / (run_order.size() - 1))); };
    auto Y = [&](double v) { return 10 + static_cast<int>((H - B - 10) * (hi - v) / (hi - lo)); };
    h += "<h3>Speed index across runs (geometric mean of p50 speed-ups between consecutive runs, first run = 1)</h3>\n";
    h += fmt::format("<svg width=\"{}\" height=\"{}\" role=\"img\" aria-label=\"speed index\">\n", W, H);
    h += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#aab\" stroke-dasharray=\"4\"/>", L, Y(1.0), W - 10, Y(1.0));
    h += fmt::format("<text x=\"0\" y=\"{}\" font-size=\"11\">{:.2f}</text><text x=\"0\" y=\"{}\" font-size=\"11\">{:.2f}</text>"
                     "<text x=\"0\" y=\"{}\" font-size=\"11\">1.00</text>", Y(hi) + 4, hi, Y(lo) + 4, lo, Y(1.0) + 4);
    std::string path;
    for (size_t k = 0; k < index.size(); ++k) path += fmt::format("{}{},{} ", k ? "L" : "M", X(k), Y(index[k]));
    h += fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"#3b7dd8\" stroke-width=\"2\"/>", path);
    for (size_t k = 0; k < index.size(); ++k) {
      const RunInfo& ri = *run_of[run_order[k]];
      h += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"4\" fill=\"#3b7dd8\"><title>run {} {} commit {}: {:.3f} over {} common "
                       "benchmarks</title></circle><text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{} {}</text>",
                       X(k), Y(index[k]), ri.id, esc(ri.started_at), esc(ri.commit.substr(0, 8)), index[k], common[k], X(k),
                       H - B + 16, ri.id, esc(ri.commit.substr(0, 7)));
    }
    h += "</svg>\n";
  }
  std::string changed, steady;  // rows whose p50 moved by 10% or more, and the others
  int n_changed = 0, n_steady = 0;
  for (const auto& [key, s] : series) {
    if (s.points.size() < 2) continue;
    const BenchPoint &prev = *s.points[s.points.size() - 2], &cur = *s.points.back();
    double lo = 1e30, hi = 0;
    for (const BenchPoint* p : s.points) {
      lo = std::min(lo, p->bench.p50_ms);
      hi = std::max(hi, p->bench.p50_ms);
    }
    std::string spark = "<svg width=\"120\" height=\"22\">";
    std::string path;
    for (size_t k = 0; k < s.points.size(); ++k) {
      const int x = 2 + static_cast<int>(116.0 * k / (s.points.size() - 1));
      const int y = 2 + static_cast<int>(18.0 * (hi > lo ? (hi - s.points[k]->bench.p50_ms) / (hi - lo) : 0.5));
      path += fmt::format("{}{},{} ", k ? "L" : "M", x, y);
    }
    spark += fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"#3b7dd8\" stroke-width=\"1.5\"/></svg>", path);
    const double change = prev.bench.p50_ms > 0 ? cur.bench.p50_ms / prev.bench.p50_ms - 1 : 0;
    const bool same_commit = prev.run.commit == cur.run.commit;
    const char* cls = std::fabs(change) < 0.1 ? "" : change > 0 ? "s-failed" : "s-passed";
    (*cls ? ++n_changed : ++n_steady);
    (*cls ? changed : steady) += fmt::format(
                     "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
                     "<td class=\"num {}\">{:+.1f}%</td><td>{}</td></tr>\n",
                     esc(std::get<0>(key)), esc(std::get<1>(key)), esc(std::get<2>(key)), spark, fmt_ms(prev.bench.p50_ms),
                     fmt_ms(cur.bench.p50_ms), cls, 100 * change,
                     same_commit ? "same commit " + esc(cur.run.commit.substr(0, 7)) + " (run-to-run noise)"
                                 : esc(prev.run.commit.substr(0, 7)) + " &rarr; " + esc(cur.run.commit.substr(0, 7)));
  }
  const char* head = "<table><tr><th>model</th><th>backend</th><th>scenario</th><th>p50 history (ms)</th><th class=\"num\">"
                     "previous p50</th><th class=\"num\">latest p50</th><th class=\"num\">change</th><th>commits</th></tr>\n";
  h += fmt::format("<h3>Latest against previous run: {} benchmark(s) moved by 10% or more</h3>\n", n_changed);
  if (n_changed) h += head + changed + "</table>\n";
  if (n_steady)
    h += fmt::format("<details><summary>{} within 10%</summary>\n{}{}</table></details>\n", n_steady, head, steady);
  return h;
}

}  // namespace

CoverageReport build_report(const Catalog& catalog, const std::vector<TestRecord>& results,
                            const std::vector<RunInfo>& runs, std::vector<BenchPoint> history) {
  CoverageReport r;
  r.results = results;
  r.runs = runs;
  r.history = std::move(history);
  std::set<std::string> backends;
  for (const auto& t : results) backends.insert(t.backend);
  // cpu first, then the rest alphabetically.
  if (backends.count("cpu")) r.backends.push_back("cpu");
  for (const auto& b : backends)
    if (b != "cpu") r.backends.push_back(b);
  std::map<std::string, std::vector<const TestRecord*>> by_model;
  for (const auto& t : results) {
    by_model[t.model_id].push_back(&t);
    ++r.matrix[t.backend][t.status];
    for (const auto& c : t.checks) {
      ++r.check_matrix[t.backend][c.status];
      if (c.status == "skipped") ++r.skipped_checks[t.backend][c.name];
    }
  }
  FamilyCoverage total;
  total.family = "total";
  for (const auto& fam : all_families()) {
    FamilyCoverage f;
    f.family = fam;
    for (const CatalogEntry* e : catalog.family(fam)) {
      ++f.models;
      auto it = by_model.find(e->id);
      if (it == by_model.end()) continue;
      ++f.tested;
      bool impl = false;
      for (const TestRecord* t : it->second) {
        impl = impl || computes(*t);
        if (t->status == "passed") ++f.passing[t->backend];
      }
      if (impl) ++f.implemented;
    }
    total.models += f.models;
    total.tested += f.tested;
    total.implemented += f.implemented;
    for (const auto& [b, n] : f.passing) total.passing[b] += n;
    r.families.push_back(f);
  }
  r.families.push_back(total);
  return r;
}

json CoverageReport::to_json() const {
  json j;
  j["backends"] = backends;
  j["runs"] = json::array();
  for (const auto& ri : runs) j["runs"].push_back(ri.to_json());
  j["coverage"] = json::array();
  for (const auto& f : families) {
    json fj{{"family", f.family}, {"models", f.models}, {"tested", f.tested}, {"implemented", f.implemented},
            {"passing", f.passing}, {"coverage_pct", json::object()}};
    for (const auto& b : backends) fj["coverage_pct"][b] = pct(f.passing.count(b) ? f.passing.at(b) : 0, f.models);
    j["coverage"].push_back(fj);
  }
  j["matrix"] = matrix;
  j["check_matrix"] = check_matrix;
  j["skipped_checks"] = skipped_checks;
  j["results"] = json::array();
  for (const auto& t : results) j["results"].push_back(t.to_json());
  j["benchmarks"] = benchmark_rows(*this);
  return j;
}

json benchmark_rows(const CoverageReport& r) {
  std::map<int64_t, const RunInfo*> runs;
  for (const auto& ri : r.runs) runs[ri.id] = &ri;
  json rows = json::array();
  for (const auto& t : r.results)
    for (const auto& b : t.benchmarks) {
      const auto run = runs.find(t.run_id);
      json j{{"model", t.model_id},          {"family", t.family},         {"backend", t.backend},
             {"device", t.device},           {"scenario", b.scenario},     {"dtype", b.dtype},
             {"batch", b.batch},             {"seq", b.seq},               {"new_tokens", b.new_tokens},
             {"threads", b.threads},         {"warmup", b.warmup},         {"reps", b.reps},
             {"latency_p50_ms", b.p50_ms},   {"latency_p90_ms", b.p90_ms}, {"latency_mean_ms", b.mean_ms},
             {"latency_stddev_ms", b.stddev_ms}, {"latency_min_ms", b.min_ms},
             {"throughput", {{"value", b.throughput}, {"unit", b.unit + "/s"}}},
             {"peak_memory_mb", b.peak_memory_kb / 1024.0}};
      if (b.unit == "tokens") j["tokens_per_s"] = b.throughput;
      if (run != runs.end()) {
        j["host"] = run->second->host;
        j["commit"] = run->second->commit;
        j["run_uid"] = run->second->uid;
      }
      rows.push_back(j);
    }
  return rows;
}

std::string bench_table(const CoverageReport& r) {
  std::string out;
  for (const auto& t : r.results)
    for (const auto& b : t.benchmarks) {
      if (out.empty())
        out = fmt::format("{:<44} {:<6} {:<8} {:<5} {:>9} {:>9} {:>9} {:>14} {:>9}\n", "Benchmark", "backend",
                          "scenario", "dtype", "shape", "p50 ms", "p90 ms", "throughput", "peak MiB");
      const std::string shape = fmt::format("{}{}{}", b.batch, b.seq > 0 ? fmt::format("x{}", b.seq) : "",
                                            b.new_tokens ? fmt::format("+{}", b.new_tokens) : "");
      out += fmt::format("{:<44} {:<6} {:<8} {:<5} {:>9} {:>9.3f} {:>9.3f} {:>8.0f} {:<5} {:>9.0f}\n", t.model_id, t.backend,
                         b.scenario, b.dtype, shape, b.p50_ms, b.p90_ms, b.throughput, b.unit + "/s",
                         b.peak_memory_kb / 1024.0);
    }
  return out;
}

std::string coverage_table(const CoverageReport& r) {
  std::string out = fmt::format("{:<30} {:>7} {:>12}", "Family", "Models", "Implemented");
  for (const auto& b : r.backends) out += fmt::format(" {:>14} {:>9}", "Passing(" + b + ")", "Coverage");
  out += "\n" + std::string(30 + 8 + 13 + r.backends.size() * 25, '-') + "\n";
  for (const auto& f : r.families) {
    if (f.family == "total") out += std::string(30 + 8 + 13 + r.backends.size() * 25, '-') + "\n";
    out += fmt::format("{:<30} {:>7} {:>12}", f.family, f.models, f.implemented);
    for (const auto& b : r.backends) {
      const int p = f.passing.count(b) ? f.passing.at(b) : 0;
      out += fmt::format(" {:>14} {:>8.1f}%", p, pct(p, f.models));
    }
    out += "\n";
  }
  out += "\nPer backend:";
  for (const auto& [b, statuses] : r.matrix) {
    out += "\n  " + b + ":";
    for (const auto& [s, n] : statuses) out += fmt::format(" {} {}", s, n);
  }
  out += "\n\nChecks per backend:";
  for (const auto& [b, statuses] : r.check_matrix) {
    out += "\n  " + b + ":";
    for (const auto& [s, n] : statuses) out += fmt::format(" {} {}", s, n);
    auto sk = r.skipped_checks.find(b);
    if (sk == r.skipped_checks.end()) continue;
    out += " (skipped:";
    for (const auto& [name, n] : sk->second) out += fmt::format(" {} {}", name, n);
    out += ")";
  }
  out += "\n";
  return out;
}

std::string junit_xml(const CoverageReport& r) {
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"ipfs-accelerate model suite\">\n";
  std::map<std::string, std::vector<const TestRecord*>> by_family;
  for (const auto& t : r.results) by_family[t.family].push_back(&t);
  for (const auto& [fam, ts] : by_family) {
    int failures = 0, errors = 0, skipped = 0;
    double time = 0;
    for (const auto* t : ts) {
      time += t->duration_ms / 1000.0;
      if (t->status == "failed") ++failures;
      else if (t->status == "timeout" || t->status == "crashed" || t->status == "oom") ++errors;
      else if (t->status != "passed") ++skipped;
    }
    out += fmt::format("  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3f}\">\n",
                       esc(fam), ts.size(), failures, errors, skipped, time);
    for (const auto* t : ts) {
      out += fmt::format("    <testcase classname=\"{}.{}\" name=\"{}\" time=\"{:.3f}\"", esc(fam), esc(t->backend),
                         esc(t->model_id), t->duration_ms / 1000.0);
      if (t->status == "passed") {
        out += "/>\n";
        continue;
      }
      out += ">\n";
      if (t->status == "failed")
        out += fmt::format("      <failure message=\"{}\"/>\n", esc(t->message));
      else if (t->status == "timeout" || t->status == "crashed" || t->status == "oom")
        out += fmt::format("      <error type=\"{}\" message=\"{}\"/>\n", t->status, esc(t->message));
      else
        out += fmt::format("      <skipped message=\"{}: {}\"/>\n", t->status, esc(t->message));
      out += "    </testcase>\n";
    }
    out += "  </testsuite>\n";
  }
  out += "</testsuites>\n";
  return out;
}

std::string dashboard_html(const CoverageReport& r) {
  const RunInfo* run = r.runs.empty() ? nullptr : &r.runs.back();
  std::string h;
  h += R"(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ipfs-accelerate model coverage</title>
<style>
body{font:14px/1.4 -apple-system,"DejaVu Sans",Helvetica,Arial,sans-serif;margin:24px;color:#1d2330;background:#f6f7f9}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}h3{font-size:14px;margin:18px 0 6px}
.meta{color:#5b6475;font-size:12px}.cards{display:flex;gap:12px;margin:16px 0;flex-wrap:wrap}
.card{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:10px 16px;min-width:120px}
.card b{display:block;font-size:22px}.card span{color:#5b6475;font-size:12px}
table{border-collapse:collapse;background:#fff;border:1px solid #dde1e8}
th,td{padding:4px 10px;border-bottom:1px solid #eceef2;text-align:left;font-size:13px}
th{background:#eef0f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
.s-passed{color:#1a7f37;font-weight:600}.s-failed,.s-crashed,.s-timeout,.s-oom{color:#c62828;font-weight:600}
.s-unsupported,.s-skipped{color:#8a6d00}.s-unavailable{color:#6b7280}
.legend span{display:inline-block;margin-right:14px;font-size:12px}.sw{display:inline-block;width:10px;height:10px;margin-right:4px}
input{padding:4px 8px;margin:4px 0 8px;width:320px}
.msg{max-width:560px;color:#5b6475;font-size:12px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
</style></head><body>
<h1>ipfs-accelerate &mdash; model coverage</h1>
)";
  if (run)
    h += fmt::format("<div class=\"meta\">host {} &middot; {} &middot; commit {} &middot; {} &rarr; {} &middot; weights {} &middot; shard {}</div>\n",
                     esc(run->host), esc(run->hardware), esc(run->commit), esc(run->started_at), esc(run->ended_at),
                     esc(run->weights), esc(run->shard));
  const FamilyCoverage& total = r.families.back();
  h += "<div class=\"cards\">";
  h += fmt::format("<div class=\"card\"><b>{}</b><span>models in catalog</span></div>", total.models);
  h += fmt::format("<div class=\"card\"><b>{}</b><span>implemented</span></div>", total.implemented);
  for (const auto& b : r.backends) {
    const int p = total.passing.count(b) ? total.passing.at(b) : 0;
    h += fmt::format("<div class=\"card\"><b>{} ({:.1f}%)</b><span>passing on {}</span></div>", p, pct(p, total.models), esc(b));
  }
  h += "</div>\n";

  // Coverage bars: catalog (grey), implemented (blue), passing on the best backend (green).
  h += "<h2>Coverage per family</h2>\n<div class=\"legend\"><span><i class=\"sw\" style=\"background:#d5d9e0\"></i>in catalog</span>"
       "<span><i class=\"sw\" style=\"background:#7aa7e0\"></i>implemented</span><span><i class=\"sw\" style=\"background:#2e9e5b\"></i>passing (best backend)</span></div>\n";
  const int bar_w = 520, row_h = 26, label_w = 230;
  int max_models = 1;
  for (const auto& f : r.families)
    if (f.family != "total") max_models = std::max(max_models, f.models);
  const int n_fam = static_cast<int>(r.families.size()) - 1;
  h += fmt::format("<svg width=\"{}\" height=\"{}\" role=\"img\" aria-label=\"coverage bars\">\n", label_w + bar_w + 150,
                   n_fam * row_h + 10);
  for (int i = 0; i < n_fam; ++i) {
    const auto& f = r.families[i];
    int best = 0;
    for (const auto& [b, n] : f.passing) best = std::max(best, n);
    const int y = i * row_h + 4;
    auto w = [&](int n) { return static_cast<int>(double(bar_w) * n / max_models); };
    h += fmt::format("<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text>", y + 14, esc(f.family));
    h += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"18\" fill=\"#d5d9e0\"/>", label_w, y, w(f.models));
    h += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"18\" fill=\"#7aa7e0\"/>", label_w, y, w(f.implemented));
    h += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"18\" fill=\"#2e9e5b\"/>", label_w, y, w(best));
    h += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"#1d2330\">{}/{}/{} ({:.1f}%)</text>\n",
                     label_w + w(f.models) + 6, y + 14, best, f.implemented, f.models, pct(best, f.models));
  }
  h += "</svg>\n";

  // Family x backend matrix.
  h += "<h2>Family &times; backend pass matrix</h2>\n<table><tr><th>family</th><th>models</th><th>implemented</th>";
  for (const auto& b : r.backends) h += "<th>" + esc(b) + " passing</th>";
  h += "</tr>\n";
  for (const auto& f : r.families) {
    h += fmt::format("<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>", esc(f.family), f.models, f.implemented);
    for (const auto& b : r.backends) {
      const int p = f.passing.count(b) ? f.passing.at(b) : 0;
      const double frac = f.models ? double(p) / f.models : 0;
      const int g = static_cast<int>(235 - 90 * frac), rr = static_cast<int>(245 - 200 * frac);
      h += fmt::format("<td class=\"num\" style=\"background:rgb({},{},{})\">{} ({:.1f}%)</td>", rr, g + 10, rr, p,
                       100 * frac);
    }
    h += "</tr>\n";
  }
  h += "</table>\n";

  h += "<h2>Statuses per backend</h2>\n<table><tr><th>backend</th><th>status</th><th>count</th></tr>\n";
  for (const auto& [b, statuses] : r.matrix)
    for (const auto& [s, n] : statuses)
      h += fmt::format("<tr><td>{}</td><td class=\"s-{}\">{}</td><td class=\"num\">{}</td></tr>\n", esc(b), esc(s), esc(s), n);
  h += "</table>\n";

  // Check statuses: a passing model may have skipped checks; they are counted (and named) as skipped.
  h += "<h2>Checks per backend</h2>\n<table><tr><th>backend</th><th>check status</th><th>count</th><th>checks</th></tr>\n";
  for (const auto& [b, statuses] : r.check_matrix)
    for (const auto& [s, n] : statuses) {
      std::string names;
      if (s == "skipped")
        if (auto sk = r.skipped_checks.find(b); sk != r.skipped_checks.end())
          for (const auto& [name, k] : sk->second) names += (names.empty() ? "" : ", ") + fmt::format("{} {}", name, k);
      h += fmt::format("<tr><td>{}</td><td class=\"s-{}\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>\n", esc(b),
                       esc(s), esc(s), n, esc(names));
    }
  h += "</table>\n";

  h += performance_html(r);

  // Timing per model (tests that ran).
  std::vector<const TestRecord*> timed;
  for (const auto& t : r.results)
    if (implemented_status(t.status)) timed.push_back(&t);
  std::sort(timed.begin(), timed.end(), [](auto* a, auto* b) { return a->duration_ms > b->duration_ms; });
  h += "<h2>Time per model (tests that ran)</h2>\n";
  if (timed.empty()) {
    h += "<p class=\"meta\">No model ran: every entry is unsupported or its backend unavailable.</p>\n";
  } else {
    double max_ms = 1;
    for (auto* t : timed) max_ms = std::max(max_ms, t->duration_ms);
    const int tw = 420, th = 16, tl = 380;
    h += fmt::format("<svg width=\"{}\" height=\"{}\" role=\"img\" aria-label=\"time per model\">\n", tl + tw + 120,
                     static_cast<int>(timed.size()) * (th + 3) + 6);
    for (size_t i = 0; i < timed.size(); ++i) {
      const auto* t = timed[i];
      const int y = static_cast<int>(i) * (th + 3) + 2;
      const int w = std::max(1, static_cast<int>(tw * t->duration_ms / max_ms));
      const char* color = t->status == "passed" ? "#2e9e5b" : "#c62828";
      h += fmt::format("<text x=\"0\" y=\"{}\" font-size=\"11\">{} [{}]</text><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>"
                       "<text x=\"{}\" y=\"{}\" font-size=\"11\">{:.2f} s</text>\n",
                       y + 12, esc(t->model_id), esc(t->backend), tl, y, w, th, color, tl + w + 4, y + 12,
                       t->duration_ms / 1000.0);
    }
    h += "</svg>\n";
  }

  // Every result, filterable.
  h += "<h2>All results</h2>\n<input id=\"filter\" placeholder=\"filter: model, family, status, backend...\" oninput=\"filterRows()\">\n";
  h += "<table id=\"results\"><tr><th>model</th><th>family</th><th>model_type</th><th>test class</th><th>backend</th>"
       "<th>device</th><th>status</th><th class=\"num\">time (s)</th><th class=\"num\">peak RSS (MiB)</th><th>detail</th>"
       "<th>skipped checks</th></tr>\n";
  for (const auto& t : r.results) {
    std::string skipped, reasons;
    for (const auto& c : t.checks)
      if (c.status == "skipped") {
        skipped += (skipped.empty() ? "" : ", ") + c.name;
        reasons += (reasons.empty() ? "" : "; ") + c.name + ": " + c.message;
      }
    h += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"s-{}\">{}</td>"
                     "<td class=\"num\">{:.2f}</td><td class=\"num\">{:.1f}</td><td class=\"msg\" title=\"{}\">{}</td>"
                     "<td class=\"msg s-skipped\" title=\"{}\">{}</td></tr>\n",
                     esc(t.model_id), esc(t.family), esc(t.model_type), esc(t.test_class), esc(t.backend), esc(t.device),
                     esc(t.status), esc(t.status), t.duration_ms / 1000.0, t.peak_rss_kb / 1024.0, esc(t.message),
                     esc(t.message), esc(reasons), esc(skipped));
  }
  h += "</table>\n";
  h += R"(<script>
function filterRows(){var q=document.getElementById('filter').value.toLowerCase();
var rows=document.getElementById('results').rows;for(var i=1;i<rows.length;i++){
rows[i].style.display=rows[i].textContent.toLowerCase().indexOf(q)>=0?'':'none';}}
</script>
</body></html>
)";
  return h;
}

void write_report_dir(const CoverageReport& r, const std::string& dir) {
  fs::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& content) {
    const fs::path p = fs::path(dir) / name;
    std::ofstream out(p);
    IA_CHECK(out.good(), ErrorKind::Io, "{}: cannot write", p.string());
    out << content;
  };
  write("coverage.txt", coverage_table(r));
  write("report.json", r.to_json().dump(1));
  write("junit.xml", junit_xml(r));
  write("index.html", dashboard_html(r));
  if (const json rows = benchmark_rows(r); !rows.empty()) write("benchmarks.json", rows.dump(1));
}

}  // namespace ia::suite
