// `ipfs-accelerate conformance <case-dir>...`: check models against HF golden outputs.
#include <fmt/format.h>

#include <iostream>

#include "cli/command.h"
#include "cli/device_flag.h"
#include "testing/conformance.h"

namespace {

struct Args {
  std::vector<std::string> cases;
  std::string device = "cpu";
  double atol = 1e-4;
  double rtol = 1e-4;
  std::string dump;
  bool no_fallback = false;
};

int run(const Args& a) {
  ia::ConformanceOptions o;
  o.atol = a.atol;
  o.rtol = a.rtol;
  o.dump_path = a.dump;
  const bool json = ia::cli::globals().json;
  int failed = 0;
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
      fmt::print("{} ({} {}) on {}: {}\n", r.case_name, r.model_type, r.hf_class, r.device, r.status);
      if (choice.decision.value("fell_back", false)) fmt::print("  device: {}\n", choice.reason);
      if (r.status == "unsupported") {
        fmt::print("  unsupported: {}/{}\n", r.model_type, r.hf_class);
        if (!r.message.empty() && r.message.rfind("unsupported: ", 0) != 0) fmt::print("  {}\n", r.message);
      } else if (r.status == "error") {
        fmt::print("  error: {}\n", r.message);
      }
      for (const auto& c : r.outputs) {
        fmt::print("  {:<34} {:<16} max_abs={:.3e} max_rel={:.3e} {}{}\n", c.name,
                   fmt::format("[{}]", fmt::join(c.shape, ",")), c.max_abs_err, c.max_rel_err,
                   c.passed ? "PASS" : "FAIL", c.note.empty() ? "" : " (" + c.note + ")");
      }
    }
    if (!r.passed()) ++failed;
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
  c->add_flag("--no-fallback", args->no_fallback, "fail instead of falling back when the device cannot run");
  c->add_option("--atol", args->atol, "absolute tolerance")->capture_default_str();
  c->add_option("--rtol", args->rtol, "relative tolerance for large values")->capture_default_str();
  c->add_option("--dump", args->dump, "write the produced outputs to this safetensors file (debugging)");
  c->add_flag("--json", ia::cli::globals().json, "one JSON object per case");
  c->callback([args] { ia::cli::set_exit_code(run(*args)); });
}

}  // namespace

IA_REGISTER_COMMAND(conformance, 10, setup)
