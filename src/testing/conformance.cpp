#include "testing/conformance.h"

#include "generation/beam_generate.h"
#include "generation/generation_config.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "io/safetensors.h"
#include "models/diffusion/schedulers/scheduler.h"
#include "models/model.h"
#include "ops/ops.h"

namespace fs = std::filesystem;

namespace ia {

nlohmann::json ConformanceResult::to_json() const {
  nlohmann::json j;
  j["case"] = case_name;
  j["case_dir"] = case_dir;
  j["model_type"] = model_type;
  j["hf_class"] = hf_class;
  j["family"] = family;
  j["status"] = status;
  j["passed"] = passed();
  if (!message.empty()) j["message"] = message;
  j["device"] = device;
  if (!weight_dtype.empty()) j["weight_dtype"] = weight_dtype;
  j["load_ms"] = load_ms;
  j["run_ms"] = run_ms;
  j["outputs"] = nlohmann::json::array();
  for (const auto& o : outputs) {
    nlohmann::json e{{"name", o.name},           {"shape", o.shape},
                     {"expected_shape", o.expected_shape}, {"max_abs_err", o.max_abs_err},
                     {"max_rel_err", o.max_rel_err}, {"mean_abs_err", o.mean_abs_err}, {"passed", o.passed}};
    if (o.top1_rows) e["top1_agreement"] = {{"rows", o.top1_rows}, {"agree", o.top1_agree}};
    if (!o.note.empty()) e["note"] = o.note;
    j["outputs"].push_back(e);
  }
  return j;
}

namespace {

OutputComparison compare(const std::string& name, const Tensor& got, const Tensor& want, const ConformanceOptions& o) {
  OutputComparison c;
  c.name = name;
  c.expected_shape = want.shape();
  if (!got.defined()) {
    c.note = "model did not produce this output";
    return c;
  }
  c.shape = got.shape();
  if (got.shape() != want.shape()) {
    c.note = "shape mismatch";
    return c;
  }
  const bool integral = !dtype_is_float(want.dtype());
  if (integral) {
    auto g = got.to_vector<int64_t>();
    auto w = want.to_vector<int64_t>();
    size_t diff = 0;
    for (size_t i = 0; i < w.size(); ++i) {
      if (g[i] != w[i]) ++diff;
      c.max_abs_err = std::max(c.max_abs_err, std::fabs(double(g[i] - w[i])));
    }
    c.passed = diff == 0;
    if (diff) c.note = std::to_string(diff) + " of " + std::to_string(w.size()) + " ids differ";
    return c;
  }
  auto g = got.to_vector<float>();
  auto w = want.to_vector<float>();
  bool ok = true;
  double sum_abs = 0.0;
  for (size_t i = 0; i < w.size(); ++i) {
    const double d = std::fabs(double(g[i]) - double(w[i]));
    if (!std::isfinite(g[i])) {
      ok = false;
      c.max_abs_err = INFINITY;
      continue;
    }
    c.max_abs_err = std::max(c.max_abs_err, d);
    sum_abs += d;
    const double rel = d / std::max(std::fabs(double(w[i])), 1e-12);
    if (std::fabs(double(w[i])) > 1.0) c.max_rel_err = std::max(c.max_rel_err, rel);
    if (d > std::max(o.atol, o.rtol * std::fabs(double(w[i])))) ok = false;
  }
  if (!w.empty()) c.mean_abs_err = sum_abs / static_cast<double>(w.size());
  const int64_t V = want.ndim() > 0 ? want.dim(-1) : 0;
  // Teacher-forced logits only: generated_logits follow the model's own tokens, which diverge after a flip.
  if (name.find("logits") != std::string::npos && name.rfind("generated_", 0) != 0 && want.ndim() >= 2 && V > 1) {
    for (size_t r = 0; r + V <= w.size(); r += V) {
      const auto gb = g.begin() + static_cast<std::ptrdiff_t>(r), wb = w.begin() + static_cast<std::ptrdiff_t>(r);
      c.top1_agree += std::max_element(gb, gb + V) - gb == std::max_element(wb, wb + V) - wb;
      ++c.top1_rows;
    }
  }
  c.passed = ok;
  return c;
}

// A scheduler case (scheduler_config.json, no weights): the denoising loop of case.json's notes with the fixed
// model eps = 0.5 * scaled_input + eps_bias; outputs timesteps, sigmas, init_sample and step.<i>.*.
std::map<std::string, Tensor> run_scheduler_case(const std::string& case_dir,
                                                 const std::map<std::string, Tensor>& inputs) {
  auto sched = diffusion::load_scheduler((fs::path(case_dir) / "scheduler_config.json").string());
  for (const char* n : {"sample", "eps_bias", "num_inference_steps"})
    IA_CHECK(inputs.count(n), ErrorKind::Format, "{}: scheduler input '{}' not in inputs.safetensors", case_dir, n);
  sched->set_timesteps(static_cast<int64_t>(inputs.at("num_inference_steps").to_vector<int64_t>().at(0)));
  std::map<std::string, Tensor> out;
  out["timesteps"] = sched->timesteps();
  if (sched->sigmas().defined()) out["sigmas"] = sched->sigmas();
  Tensor sample = ops::mul(inputs.at("sample"), Tensor::scalar(sched->init_noise_sigma()));
  out["init_sample"] = sample;
  const Tensor& bias = inputs.at("eps_bias");
  for (int64_t i = 0; i < sched->num_steps(); ++i) {
    Tensor x = sched->scale_model_input(sample, i);
    Tensor eps = ops::add(ops::scale(x, 0.5f), bias);
    sample = sched->step(eps, i, sample, nullptr);
    out["step." + std::to_string(i) + ".scaled_input"] = x;
    out["step." + std::to_string(i) + ".prev_sample"] = sample;
  }
  return out;
}

}  // namespace

ConformanceResult run_conformance_case(const std::string& case_dir, const ConformanceOptions& opts) {
  ConformanceResult r;
  r.case_dir = case_dir;
  r.case_name = fs::path(case_dir).filename().string();
  r.device = opts.device.str();
  if (opts.weight_format) r.weight_dtype = opts.weight_format->name();
  try {
    std::ifstream in(fs::path(case_dir) / "case.json");
    IA_CHECK(in.good(), ErrorKind::NotFound, "{}: no case.json", case_dir);
    nlohmann::json cj = nlohmann::json::parse(in, nullptr, false);
    IA_CHECK(!cj.is_discarded() && cj.is_object(), ErrorKind::Format, "{}/case.json: not a JSON object", case_dir);
    r.case_name = cj.value("case", r.case_name);
    r.model_type = cj.value("model_type", "");
    r.hf_class = cj.value("hf_class", "");
    r.family = cj.value("family", "");
    const bool scheduler_case = fs::exists(fs::path(case_dir) / "scheduler_config.json") &&
                                !fs::exists(fs::path(case_dir) / "config.json");
    // diffusers cases: the implementation is looked up by the config's _class_name (see ModelConfig::model_type).
    const std::string impl_type = !scheduler_case && cj.value("library", "") == "diffusers"
                                      ? ModelConfig::load((fs::path(case_dir) / "config.json").string()).model_type()
                                      : r.model_type;
    if (!scheduler_case && !model_supports(impl_type, r.hf_class)) {
      r.status = "unsupported";
      r.message = "unsupported: " + r.model_type + "/" + r.hf_class;
      return r;
    }
    auto t0 = std::chrono::steady_clock::now();
    std::unique_ptr<Model> model;
    if (!scheduler_case) {
      LoadOptions lo;
      lo.hf_class = r.hf_class;
      lo.device = opts.device;
      lo.weight_format = opts.weight_format;
      lo.transformers_compat = kTransformersCompat;  // the goldens are transformers 4.48's outputs, quirks included
      model = load_model(case_dir, lo);
    }
    auto t1 = std::chrono::steady_clock::now();
    r.load_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();

    std::map<std::string, Tensor> all_inputs;
    for (auto& [n, t] : load_safetensors((fs::path(case_dir) / "inputs.safetensors").string())) all_inputs[n] = t;
    std::map<std::string, Tensor> expected;
    for (auto& [n, t] : load_safetensors((fs::path(case_dir) / "expected.safetensors").string())) expected[n] = t;

    TensorMap fwd_inputs;
    for (const auto& n : cj.value("forward_inputs", std::vector<std::string>{})) {
      IA_CHECK(all_inputs.count(n), ErrorKind::Format, "{}: forward input '{}' not in inputs.safetensors", case_dir, n);
      fwd_inputs[n] = all_inputs[n];
    }
    ForwardOptions fo;
    if (cj.contains("forward_kwargs") && cj["forward_kwargs"].is_object())
      fo.output_hidden_states = cj["forward_kwargs"].value("output_hidden_states", false);

    std::map<std::string, Tensor> produced;
    const std::vector<std::string> wanted = cj.value("outputs", std::vector<std::string>{});
    bool wants_forward = false, wants_generation = false;
    for (const auto& n : wanted) (n.rfind("generated_", 0) == 0 ? wants_generation : wants_forward) = true;
    if (scheduler_case)
      produced = run_scheduler_case(case_dir, all_inputs);
    else if (wants_forward)
      for (auto& [n, t] : model->forward(fwd_inputs, fo)) produced[n] = t;
    if (!scheduler_case && wants_generation && cj.contains("generation") && cj["generation"].is_object()) {
      const auto& g = cj["generation"];
      GenerationRequest req;
      req.max_new_tokens = g.value("max_new_tokens", 10);
      if (g.contains("pad_token_id") && g["pad_token_id"].is_number_integer()) req.pad_token_id = g["pad_token_id"];
      if (g.contains("decoder_start_token_id") && g["decoder_start_token_id"].is_number_integer())
        req.decoder_start_token_id = g["decoder_start_token_id"];
      // HF generate treats eos_token_id=None as "not given" and falls back to the model's generation_config.
      auto add_eos = [&](const nlohmann::json& e) {
        if (e.is_number_integer()) req.eos_token_ids.push_back(e.get<int64_t>());
        if (e.is_array())
          for (const auto& x : e)
            if (x.is_number_integer()) req.eos_token_ids.push_back(x.get<int64_t>());
      };
      if (g.contains("eos_token_id")) add_eos(g["eos_token_id"]);
      if (req.eos_token_ids.empty()) {
        std::ifstream gin(fs::path(case_dir) / "generation_config.json");
        nlohmann::json gc = gin.good() ? nlohmann::json::parse(gin, nullptr, false) : nlohmann::json();
        if (gc.is_object() && gc.contains("eos_token_id")) add_eos(gc["eos_token_id"]);
      }
      req.return_logits = true;
      // Beam search and logits-processor kwargs override the model's generation config, as in HF generate.
      generation::BeamRequest beam;
      {
        std::ifstream gin(fs::path(case_dir) / "generation_config.json");
        nlohmann::json merged = gin.good() ? nlohmann::json::parse(gin, nullptr, false) : nlohmann::json::object();
        if (!merged.is_object()) merged = nlohmann::json::object();
        static const std::vector<std::string> kwargs = {
            "num_beams", "num_return_sequences", "length_penalty", "early_stopping", "no_repeat_ngram_size",
            "encoder_no_repeat_ngram_size", "min_length", "min_new_tokens", "repetition_penalty", "bad_words_ids",
            "forced_bos_token_id", "forced_eos_token_id", "suppress_tokens", "begin_suppress_tokens"};
        for (const auto& k : kwargs)
          if (g.contains(k)) merged[k] = g[k];
        merged.erase("eos_token_id");
        merged.erase("max_length");
        merged.erase("max_new_tokens");
        const auto gc = generation::GenerationConfig::parse(merged, case_dir + "/case.json generation");
        beam.num_beams = gc.num_beams.value_or(1);
        beam.num_return_sequences = gc.num_return_sequences.value_or(1);
        beam.length_penalty = gc.length_penalty.value_or(1.0);
        beam.early_stopping = gc.early_stopping.value_or(generation::EarlyStopping::False);
        int64_t prompt_len = 1;  // encoder-decoder: the decoder start token
        if (cj.value("family", "") != "encoder-decoder" && g.contains("inputs") && g["inputs"].contains("input_ids") &&
            all_inputs.count(g["inputs"]["input_ids"].get<std::string>()))
          prompt_len = all_inputs[g["inputs"]["input_ids"].get<std::string>()].dim(1);
        if (!g.contains("max_new_tokens") && g.contains("max_length") && g["max_length"].is_number_integer())
          req.max_new_tokens = g["max_length"].get<int64_t>() - prompt_len;
        beam.processors = gc.processors(prompt_len);
      }
      TensorMap gen_inputs;
      if (g.contains("inputs") && g["inputs"].is_object())
        for (auto it = g["inputs"].begin(); it != g["inputs"].end(); ++it) {
          const std::string src = it.value().get<std::string>();
          IA_CHECK(all_inputs.count(src), ErrorKind::Format, "{}: generation input '{}' missing", case_dir, src);
          gen_inputs[it.key()] = all_inputs[src];
        }
      for (const auto& n : cj.value("forward_inputs", std::vector<std::string>{}))
        if (!gen_inputs.count(n) && n != "input_ids" && n != "attention_mask" && n != "decoder_input_ids" &&
            n != "decoder_attention_mask")
          gen_inputs[n] = all_inputs[n];
      beam.base = req;
      for (auto& [n, t] : beam.num_beams > 1 ? generation::generate_beams(*model, gen_inputs, beam)
                                             : model->generate(gen_inputs, req))
        produced[n] = t;
    }
    auto t2 = std::chrono::steady_clock::now();
    r.run_ms = std::chrono::duration<double, std::milli>(t2 - t1).count();

    if (!opts.dump_path.empty()) {
      NamedTensors dump;
      for (auto& [n, t] : produced) dump.emplace_back(n, t);
      save_safetensors(opts.dump_path, dump);
    }
    bool all = true;
    for (const auto& n : wanted) {
      IA_CHECK(expected.count(n), ErrorKind::Format, "{}: output '{}' missing from expected.safetensors", case_dir, n);
      auto it = produced.find(n);
      OutputComparison c = compare(n, it == produced.end() ? Tensor() : it->second, expected[n], opts);
      all = all && c.passed;
      r.outputs.push_back(std::move(c));
    }
    r.status = all ? "passed" : "failed";
  } catch (const Error& e) {
    r.status = e.kind() == ErrorKind::Unsupported ? "unsupported" : "error";
    r.message = e.what();
  } catch (const std::exception& e) {
    r.status = "error";
    r.message = e.what();
  }
  return r;
}

}  // namespace ia
