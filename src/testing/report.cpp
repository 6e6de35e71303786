#include "testing/report.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

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

}  // namespace

CoverageReport build_report(const Catalog& catalog, const std::vector<TestRecord>& results,
                            const std::vector<RunInfo>& runs) {
  CoverageReport r;
  r.results = results;
  r.runs = runs;
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
  return j;
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
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
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
}

}  // namespace ia::suite
