// `ipfs-accelerate conformance <case-dir>...`: check models against HF golden outputs; with --dtype, measure
// how far load-time bf16/f16/int8 weights move them (max/mean abs error, top-1 agreement of the logits).
#include <fmt/format.h>

#include <algorithm>
#include <iostream>

#include "cli/command.h"
#include "cli/device_flag.h"
#include "models/model.h"
#include "testing/conformance.h"

namespace {

struct Args {
  std::vector<std::string> cases;
  std::string device = "cpu";
  double atol = 1e-4;
  double rtol = 1e-4;
  std::string dump;
  std::string dtype;
  bool no_fallback = false;
};

// Accuracy of a --dtype run over every case it could run.
struct DtypeSummary {
  int64_t cases = 0, rows = 0, agree = 0;
  double max_abs = 0.0, sum_mean_abs = 0.0;
  int64_t outputs = 0;
  void add(const ia::ConformanceResult& r) {
    if (r.status != "passed" && r.status != "failed") return;
    ++cases;
    for (const auto& c : r.outputs) {
      rows += c.top1_rows;
      agree += c.top1_agree;
      if (!c.shape.empty() && c.note.empty()) {
        max_abs = std::max(max_abs, c.max_abs_err);
        sum_mean_abs += c.mean_abs_err;
        ++outputs;
      }
    }
  }
};

int run(const Args& a) {
  ia::ConformanceOptions o;
  o.atol = a.atol;
  o.rtol = a.rtol;
  o.dump_path = a.dump;
  if (!a.dtype.empty()) o.weight_format = ia::parse_weight_format(a.dtype);
  const bool json = ia::cli::globals().json;
  int failed = 0, errors = 0;
  DtypeSummary summary;
  for (const auto& dir : a.cases) {
    auto choice = ia::cli::resolve_device_flag(a.device, !a.no_fallback);
    o.device = choice.device;
    ia::ConformanceResult r = ia::run_conformance_case(dir, o);
    if (json) {
      auto j = r.to_json();
      j["requested_device"] = a.device;
      j["device_decision"] = choice.decision;
      std::cout << j.dump() << std::endl;
    } else {
      const bool measured = o.weight_format && r.status == "failed";  // --dtype: a figure, not a failure
      fmt::print("{} ({} {}) on {}{}: {}\n", r.case_name, r.model_type, r.hf_class, r.device,
                 o.weight_format ? ", weights " + o.weight_format->name() : std::string(),
                 measured ? "measured (outside --atol/--rtol)" : r.status);
      if (choice.decision.value("fell_back", false)) fmt::print("  device: {}\n", choice.reason);
      if (r.status == "unsupported") {
        fmt::print("  unsupported: {}/{}\n", r.model_type, r.hf_class);
        if (!r.message.empty() && r.message.rfind("unsupported: ", 0) != 0) fmt::print("  {}\n", r.message);
      } else if (r.status == "error") {
        fmt::print("  error: {}\n", r.message);
      }
      for (const auto& c : r.outputs) {
        std::string extra;
        if (o.weight_format) extra = fmt::format(" mean_abs={:.3e}", c.mean_abs_err);
        if (o.weight_format && c.top1_rows)
          extra += fmt::format(" top1={}/{}", c.top1_agree, c.top1_rows);
        fmt::print("  {:<34} {:<16} max_abs={:.3e} max_rel={:.3e}{} {}{}\n", c.name,
                   fmt::format("[{}]", fmt::join(c.shape, ",")), c.max_abs_err, c.max_rel_err, extra,
                   c.passed ? "PASS" : "FAIL", c.note.empty() ? "" : " (" + c.note + ")");
      }
    }
    if (!r.passed()) ++failed;
    if (r.status == "error") ++errors;
    summary.add(r);
  }
  if (o.weight_format) {
    // Quantized weights are not expected to meet fp32 tolerances: the figures are the result, errors the failure.
    const double top1 = summary.rows ? 100.0 * summary.agree / summary.rows : 0.0;
    const double mean = summary.outputs ? summary.sum_mean_abs / summary.outputs : 0.0;
    if (json)
      std::cout << nlohmann::json{{"summary", {{"weight_dtype", a.dtype}, {"cases", summary.cases},
                                               {"errors", errors}, {"max_abs_err", summary.max_abs},
                                               {"mean_abs_err", mean}, {"top1_rows", summary.rows},
                                               {"top1_agree", summary.agree}}}}.dump()
                << std::endl;
    else
      fmt::print("--dtype {}: {} cases ran, {} errors; max_abs={:.3e}, mean of per-output mean_abs={:.3e}, top-1 "
                 "agreement {}/{} logits rows ({:.2f}%); {} within --atol/--rtol\n",
                 a.dtype, summary.cases, errors, summary.max_abs, mean, summary.agree, summary.rows, top1,
                 a.cases.size() - failed);
    return errors == 0 ? 0 : 1;
  }
  if (!json && a.cases.size() > 1)
    fmt::print("{} passed, {} failed\n", a.cases.size() - failed, failed);
  return failed == 0 ? 0 : 1;
}

void setup(CLI::App& app) {
  auto args = std::make_shared<Args>();
  auto* c = app.add_subcommand("conformance", "Check model outputs against HF conformance cases");
  c->add_option("cases", args->cases, "Case directories (config.json, model.safetensors, case.json, ...)")
      ->required()
      ->check(CLI::ExistingDirectory);
  c->add_option("--device", args->device, "cpu | cuda[:N] | auto")->capture_default_str();
  c->add_option("--dtype", args->dtype,
                 "load linear-layer weights as f32 | f16 | bf16 | int8 | w8a8 and report the accuracy against the "
                 "references (exit status: errors only)");
  c->add_flag("--no-fallback", args->no_fallback, "fail instead of falling back when the device cannot run");
  c->add_option("--atol", args->atol, "absolute tolerance")->capture_default_str();
  c->add_option("--rtol", args->rtol, "relative tolerance for large values")->capture_default_str();
  c->add_option("--dump", args->dump, "write the produced outputs to this safetensors file (debugging)");
  c->add_flag("--json", ia::cli::globals().json, "one JSON object per case");
  c->callback([args] { ia::cli::set_exit_code(run(*args)); });
}

}  // namespace

IA_REGISTER_COMMAND(conformance, 10, setup)
