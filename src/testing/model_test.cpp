#include "testing/model_test.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>

#include "core/bench_stats.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "generation/generate.h"
#include "io/config.h"
#include "io/diffusers_config.h"
#include "models/layers.h"
#include "testing/conformance.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ia::suite {

json CheckResult::to_json() const {
  json j{{"name", name}, {"status", status}, {"ms", ms}};
  if (!message.empty()) j["message"] = message;
  return j;
}

CheckResult CheckResult::from_json(const json& j) {
  CheckResult c;
  c.name = j.value("name", "");
  c.status = j.value("status", "");
  c.message = j.value("message", "");
  c.ms = j.value("ms", 0.0);
  return c;
}

json BenchResult::to_json() const {
  return json{{"scenario", scenario},   {"dtype", dtype},         {"batch", batch},       {"seq", seq},
              {"new_tokens", new_tokens}, {"threads", threads},   {"warmup", warmup},     {"reps", reps},
              {"p50_ms", p50_ms},       {"p90_ms", p90_ms},       {"mean_ms", mean_ms},   {"stddev_ms", stddev_ms},
              {"min_ms", min_ms},       {"throughput", throughput}, {"unit", unit},     {"peak_memory_kb", peak_memory_kb}};
}

BenchResult BenchResult::from_json(const json& j) {
  BenchResult b;
  b.scenario = j.value("scenario", "");
  b.dtype = j.value("dtype", "");
  b.batch = j.value("batch", int64_t{0});
  b.seq = j.value("seq", int64_t{0});
  b.new_tokens = j.value("new_tokens", int64_t{0});
  b.threads = j.value("threads", 0);
  b.warmup = j.value("warmup", 0);
  b.reps = j.value("reps", 0);
  b.p50_ms = j.value("p50_ms", 0.0);
  b.p90_ms = j.value("p90_ms", 0.0);
  b.mean_ms = j.value("mean_ms", 0.0);
  b.stddev_ms = j.value("stddev_ms", 0.0);
  b.min_ms = j.value("min_ms", 0.0);
  b.throughput = j.value("throughput", 0.0);
  b.unit = j.value("unit", "");
  b.peak_memory_kb = j.value("peak_memory_kb", int64_t{0});
  return b;
}

json TestOutcome::to_json() const {
  json j{{"status", status}, {"message", message}, {"checks", json::array()}};
  for (const auto& c : checks) j["checks"].push_back(c.to_json());
  if (!benchmarks.empty()) {
    j["benchmarks"] = json::array();
    for (const auto& b : benchmarks) j["benchmarks"].push_back(b.to_json());
  }
  return j;
}

namespace {

uint64_t mix(uint64_t x) {  // splitmix64
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// A host copy of a tensor as floats with its shape.
struct HostTensor {
  std::vector<int64_t> shape;
  std::vector<float> v;
  static HostTensor of(const Tensor& t) { return {t.shape(), t.to_vector<float>()}; }
  int64_t row_size() const {
    int64_t n = 1;
    for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
    return n;
  }
};

std::string shape_str(const std::vector<int64_t>& s) {
  std::string o = "[";
  for (size_t i = 0; i < s.size(); ++i) o += (i ? "," : "") + std::to_string(s[i]);
  return o + "]";
}

const Tensor* find_output(const NamedTensors& y, const std::string& name) {
  for (const auto& [n, t] : y)
    if (n == name) return &t;
  return nullptr;
}

// Row `r` of `big` cropped to `small`'s shape (small has batch 1): the padded row's leading positions.
bool crop_row(const HostTensor& big, int64_t r, const HostTensor& small, std::vector<float>* out) {
  if (big.shape.size() != small.shape.size() || small.shape.empty() || small.shape[0] != 1) return false;
  const size_t nd = big.shape.size();
  for (size_t d = 1; d < nd; ++d)
    if (small.shape[d] > big.shape[d]) return false;
  out->clear();
  std::vector<int64_t> idx(nd, 0);
  const int64_t total = static_cast<int64_t>(small.v.size());
  std::vector<int64_t> big_strides(nd, 1);
  for (int64_t d = static_cast<int64_t>(nd) - 2; d >= 0; --d) big_strides[d] = big_strides[d + 1] * big.shape[d + 1];
  for (int64_t i = 0; i < total; ++i) {
    int64_t rem = i, off = r * big_strides[0];
    for (int64_t d = static_cast<int64_t>(nd) - 1; d >= 1; --d) {
      const int64_t k = rem % small.shape[d];
      rem /= small.shape[d];
      off += k * big_strides[d];
    }
    out->push_back(big.v[static_cast<size_t>(off)]);
  }
  return true;
}

bool is_int_key(const json& c, const char* k) { return c.contains(k) && c[k].is_number_integer(); }

// "" when the logits `gen` [B, N, V] that a decoding path produced for N generated tokens equal the
// recomputed logits `full` [B, Tf, V] (position off + t predicts token t) within 1e-4 of the logit scale
// (max |recomputed logit|, at least 1), else which row and step differ most, naming `what` produced them.
std::string recompute_mismatch(const HostTensor& gen, const HostTensor& full, int64_t off, const std::string& what) {
  const int64_t B = gen.shape[0], N = gen.shape[1], V = gen.shape[2], Tf = full.shape[1];
  double scale = 1;
  for (float x : full.v) scale = std::max(scale, double(std::fabs(x)));
  double worst = 0;
  int64_t wb = 0, wt = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < N; ++t)
      for (int64_t v = 0; v < V; ++v) {
        const double d = std::fabs(double(gen.v[(b * N + t) * V + v]) - full.v[(b * Tf + off + t) * V + v]);
        if (!(d <= worst)) {
          worst = d;
          wb = b;
          wt = t;
        }
      }
  if (!(worst <= 1e-4 * scale))
    return "row " + std::to_string(wb) + " step " + std::to_string(wt) + ": " + what + " differ from the " +
           "recomputed logits by max |diff| " + fmt::format("{:.3g}", worst) + fmt::format(" (> 1e-4 of scale {:.3g})", scale);
  return std::string();
}

}  // namespace

// ---- ModelTest -------------------------------------------------------------------------------------------------

ModelTest::ModelTest(const CatalogEntry& entry) : entry_(entry), config_(make_tiny_config(entry)) {}

std::unique_ptr<ModelTest> ModelTest::create(const CatalogEntry& e) {
  const std::string& f = e.family;
  if (f == "encoder-only") return std::make_unique<EncoderOnlyModelTest>(e);
  if (f == "decoder-only") return std::make_unique<DecoderOnlyModelTest>(e);
  if (f == "encoder-decoder") return std::make_unique<EncoderDecoderModelTest>(e);
  if (f == "vision") return std::make_unique<VisionModelTest>(e);
  if (f == "vision-encoder-text-decoder") return std::make_unique<VisionTextModelTest>(e);
  if (f == "speech") return std::make_unique<SpeechModelTest>(e);
  if (f == "multimodal") return std::make_unique<MultimodalModelTest>(e);
  if (f == "diffusion") return std::make_unique<DiffusionModelTest>(e);
  if (f == "mixture-of-experts") return std::make_unique<MoEModelTest>(e);
  if (f == "state-space") return std::make_unique<StateSpaceModelTest>(e);
  if (f == "rag") return std::make_unique<RAGModelTest>(e);
  fail(ErrorKind::InvalidArgument, "{}: no test class for family '{}'", e.id, f);
}

std::string ModelTest::unsupported_reason() const {
  if (!find_model_type(entry_.model_type)) return "unsupported: model_type " + entry_.model_type;
  if (!model_supports(entry_.model_type, entry_.architecture))
    return "unsupported: " + entry_.model_type + "/" + entry_.architecture;
  return "";
}

const json& ModelTest::text_cfg() const {
  for (const char* k : {"text_config", "decoder", "generator"})
    if (config_.contains(k) && config_[k].is_object() && config_[k].contains("vocab_size")) return config_[k];
  return config_;
}

int64_t ModelTest::width() const {
  for (const json* c : {&config_, &text_cfg()})
    for (const char* k : {"hidden_size", "d_model", "n_embd", "dim", "emb_dim"})
      if (is_int_key(*c, k)) return (*c)[k].get<int64_t>();
  return -1;
}

int64_t ModelTest::vocab() const {
  if (is_int_key(config_, "vocab_size")) return config_["vocab_size"].get<int64_t>();
  if (is_int_key(text_cfg(), "vocab_size")) return text_cfg()["vocab_size"].get<int64_t>();
  if (is_int_key(config_, "tgt_vocab_size")) return config_["tgt_vocab_size"].get<int64_t>();
  return 256;
}

int64_t ModelTest::num_labels() const {
  if (config_.contains("id2label") && config_["id2label"].is_object())
    return static_cast<int64_t>(config_["id2label"].size());
  if (is_int_key(config_, "num_labels")) return config_["num_labels"].get<int64_t>();
  return 2;
}

int64_t ModelTest::pad_id() const {
  for (const json* c : {&config_, &text_cfg()})
    if (is_int_key(*c, "pad_token_id")) return (*c)["pad_token_id"].get<int64_t>();
  return 0;
}

std::string ModelTest::suffix() const {
  const std::string& a = entry_.architecture;
  for (const char* s : {"ForMaskedLM", "ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering",
                        "ForMultipleChoice", "ForPreTraining", "ForCausalLM", "LMHeadModel", "ForConditionalGeneration",
                        "ForImageClassification", "ForCTC", "ForAudioClassification", "Model"})
    if (a.size() >= std::char_traits<char>::length(s) && a.compare(a.size() - std::char_traits<char>::length(s),
                                                                    std::string::npos, s) == 0)
      return s;
  return a;
}

Tensor ModelTest::token_ids(const std::vector<Row>& rows, int64_t pad, bool left_pad) const {
  // Content tokens avoid every special id of the config (so padding detection by id, as RoBERTa does, works).
  std::set<int64_t> special = {pad};
  std::function<void(const json&)> collect = [&](const json& c) {
    for (auto it = c.begin(); it != c.end(); ++it) {
      const std::string& k = it.key();
      if (it.value().is_object()) collect(it.value());
      if ((k.size() > 9 && k.compare(k.size() - 9, 9, "_token_id") == 0) ||
          (k.size() > 12 && k.compare(k.size() - 12, 12, "_token_index") == 0))
        if (it.value().is_number_integer()) special.insert(it.value().get<int64_t>());
    }
  };
  collect(config_);
  const int64_t V = vocab();
  std::vector<int64_t> allowed;
  for (int64_t t = 4; t < V; ++t)
    if (!special.count(t)) allowed.push_back(t);
  if (allowed.empty()) allowed.push_back(V - 1);
  int64_t S = 0;
  for (const auto& r : rows) S = std::max(S, r.length);
  std::vector<int64_t> ids(rows.size() * S, pad);
  for (size_t b = 0; b < rows.size(); ++b) {
    const int64_t start = left_pad ? S - rows[b].length : 0;
    for (int64_t p = 0; p < rows[b].length; ++p)
      ids[b * S + start + p] = allowed[mix(uint64_t(rows[b].id) * 1000003u + uint64_t(p)) % allowed.size()];
  }
  return Tensor::from_vector<int64_t>(ids, {static_cast<int64_t>(rows.size()), S});
}

Tensor ModelTest::attention_mask(const std::vector<Row>& rows, bool left_pad) const {
  int64_t S = 0;
  for (const auto& r : rows) S = std::max(S, r.length);
  std::vector<int64_t> m(rows.size() * S, 0);
  for (size_t b = 0; b < rows.size(); ++b) {
    const int64_t start = left_pad ? S - rows[b].length : 0;
    for (int64_t p = 0; p < rows[b].length; ++p) m[b * S + start + p] = 1;
  }
  return Tensor::from_vector<int64_t>(m, {static_cast<int64_t>(rows.size()), S});
}

Tensor ModelTest::random_floats(const std::vector<Row>& rows, const Shape& per_row, uint64_t salt) const {
  int64_t n = 1;
  for (auto d : per_row) n *= d;
  std::vector<float> v;
  v.reserve(rows.size() * n);
  for (const auto& r : rows)
    for (int64_t i = 0; i < n; ++i) {
      const uint64_t h = mix(salt * 0x51ed27u + uint64_t(r.id) * 0x9e3779b1u + uint64_t(i));
      v.push_back(static_cast<float>(static_cast<double>(h >> 11) / 9007199254740992.0 * 2.0 - 1.0));
    }
  Shape s = per_row;
  s.insert(s.begin(), static_cast<int64_t>(rows.size()));
  return Tensor::from_vector<float>(v, s);
}

double agreement_nmse_limit(DType dtype) {
  return dtype == DType::BF16 || dtype == DType::F16 ? 1e-3 : 1e-6;
}

double nmse(const std::vector<float>& a, const std::vector<float>& ref) {
  IA_CHECK(a.size() == ref.size(), ErrorKind::InvalidArgument, "nmse: {} values against {} reference values",
           a.size(), ref.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = double(a[i]) - double(ref[i]);
    num += d * d;
    den += double(ref[i]) * ref[i];
  }
  return den > 0 ? num / den : num;
}

std::string agreement_error(const std::string& name, const std::string& ref_backend, const std::vector<float>& a,
                            const std::vector<float>& ref, DType dtype) {
  if (a.size() != ref.size())
    return name + ": shape differs on " + ref_backend + " (" + std::to_string(a.size()) + " values here, " +
           std::to_string(ref.size()) + " there)";
  const double e = nmse(a, ref), limit = agreement_nmse_limit(dtype);
  if (!(e <= limit))
    return name + ": NMSE " + fmt::format("{:.3g}", e) + " vs " + ref_backend + fmt::format(" (> {:g})", limit);
  return std::string();
}

std::string greedy_generation_error(const Tensor& ids_t, const Tensor& logits_t, const Tensor& recompute_t,
                                    int64_t off, int64_t pad_token_id) {
  if (ids_t.ndim() != 2 || logits_t.ndim() != 3 || recompute_t.ndim() != 3)
    return "generated_ids " + shape_str(ids_t.shape()) + ", generated_logits " + shape_str(logits_t.shape()) +
           " and recomputed logits " + shape_str(recompute_t.shape()) + " must be [B, T], [B, N, V], [B, Tf, V]";
  const HostTensor lg = HostTensor::of(logits_t), f = HostTensor::of(recompute_t);
  const auto idv = ids_t.to_vector<int64_t>();
  const int64_t B = ids_t.dim(0), T = ids_t.dim(1), N = lg.shape[1], V = lg.shape[2], Tf = f.shape[1];
  if (lg.shape[0] != B || f.shape[0] != B)
    return "batch sizes differ: " + std::to_string(B) + " id rows, " + std::to_string(lg.shape[0]) +
           " generated logit rows, " + std::to_string(f.shape[0]) + " recomputed";
  if (N > T) return "logits for " + std::to_string(N) + " generated tokens but only " + std::to_string(T) + " ids";
  if (f.shape[2] != V) return "recompute has vocabulary " + std::to_string(f.shape[2]) + ", generate " + std::to_string(V);
  if (off < 0 || off + N > Tf)
    return "recompute has " + std::to_string(Tf) + " positions, need " + std::to_string(off + N);
  double scale = 1;
  for (float x : f.v) scale = std::max(scale, double(std::fabs(x)));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < N; ++t) {
      // A row the model finished (BLIP stops at sep_token_id whatever the request says) is padded from there
      // on: nothing after its last real token is a greedy choice.
      bool padded_tail = t > 0;
      for (int64_t u = t; padded_tail && u < N; ++u) padded_tail = idv[b * T + (T - N) + u] == pad_token_id;
      if (padded_tail) break;
      const float* row = f.v.data() + (b * Tf + off + t) * V;
      const int64_t best = std::max_element(row, row + V) - row;
      const int64_t got = idv[b * T + (T - N) + t];
      if (got < 0 || got >= V)
        return "row " + std::to_string(b) + " step " + std::to_string(t) + ": token " + std::to_string(got) +
               " outside the vocabulary";
      if (got != best && double(row[best]) - row[got] > 1e-5 * scale)
        return "row " + std::to_string(b) + " step " + std::to_string(t) + ": token " + std::to_string(got) +
               " is not the argmax " + std::to_string(best) + " of the recomputed logits (" +
               fmt::format("{:.6g} < {:.6g}", row[got], row[best]) + ")";
    }
  return recompute_mismatch(lg, f, off, "generate()'s logits");
}

GenerationRequest ModelTest::generation_request() const {
  GenerationRequest r;
  r.pad_token_id = pad_id();
  for (const json* c : {&config_, &text_cfg()})
    if (is_int_key(*c, "decoder_start_token_id")) r.decoder_start_token_id = (*c)["decoder_start_token_id"].get<int64_t>();
  return r;
}

TensorMap ModelTest::recompute_inputs(const TensorMap& prompt, const Tensor& ids) const {
  TensorMap in = prompt;
  const int64_t B = ids.dim(0), T = ids.dim(1) - 1;
  in["input_ids"] = ids.slice(1, 0, T).contiguous();
  in["attention_mask"] = layers::full_i64({B, T}, 1);
  return in;
}

int64_t ModelTest::recompute_offset(const TensorMap& prompt) const { return prompt.at("input_ids").dim(1) - 1; }

std::unique_ptr<Model> ModelTest::build(Device device, const TestOptions& o) const {
  if (o.weights == "hub") {
    LoadOptions lo;
    lo.hf_class = entry_.architecture;
    lo.device = device;
    return load_model(o.hub_dir, lo);
  }
  ModelConfig mc(config_, "tiny:" + entry_.id);
  return build_model(mc, WeightLoader::synthetic(o.seed, device), entry_.architecture);
}

TestOutcome ModelTest::run(const TestOptions& o) {
  TestOutcome out;
  if (std::string why = unsupported_reason(); !why.empty()) {
    out.status = "unsupported";
    out.message = why;
    return out;
  }
  if (o.weights == "hub") config_ = ModelConfig::load((fs::path(o.hub_dir) / "config.json").string()).json();

  // Runs one check: fn returns "" on success or the failure message; an Unsupported error marks the check
  // unsupported, any other error fails it.
  auto check = [&](const std::string& name, const std::function<std::string()>& fn) -> bool {
    CheckResult c;
    c.name = name;
    auto t0 = std::chrono::steady_clock::now();
    try {
      std::string msg = fn();
      c.status = msg.empty() ? "passed" : (msg.rfind("skipped: ", 0) == 0 ? "skipped" : "failed");
      c.message = c.status == "skipped" ? msg.substr(9) : msg;
    } catch (const Error& e) {
      c.status = e.kind() == ErrorKind::Unsupported ? "unsupported" : "failed";
      c.message = e.what();
    } catch (const std::bad_alloc&) {
      c.status = "failed";
      c.message = "out of memory (std::bad_alloc)";
    } catch (const std::exception& e) {
      c.status = "failed";
      c.message = e.what();
    }
    c.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    out.checks.push_back(c);
    return c.status == "passed" || c.status == "skipped";
  };
  auto finish = [&]() {
    out.status = "passed";
    for (const auto& c : out.checks)
      if (c.status == "failed") {
        out.status = "failed";
        out.message = c.name + ": " + c.message;
        return;
      }
    bool forward = false;
    for (const auto& c : out.checks) forward = forward || (c.name == "forward" && c.status == "passed");
    for (const auto& c : out.checks)
      if (c.status == "unsupported") {
        out.status = "unsupported";
        // Both facts: what computes and what does not (e.g. forward passes, generation is unsupported).
        out.message = (forward ? "forward passed; " : "") + c.name + ": " + c.message;
        return;
      }
  };

  std::unique_ptr<Model> model;
  if (!check("load", [&] {
        model = build(o.device, o);
        return std::string();
      })) {
    finish();
    return out;
  }
  const std::vector<Row> rows = batch_rows();
  TensorMap inputs;
  NamedTensors y;
  if (!check("forward", [&] {
        inputs = make_inputs(rows);
        y = model->forward(inputs, {});
        return y.empty() ? std::string("forward returned no outputs") : std::string();
      })) {
    finish();
    return out;
  }
  check("output_shapes", [&] {
    auto expected = expected_outputs(rows);
    if (expected.empty()) return std::string("skipped: no HF output spec for ") + entry_.architecture;
    for (const auto& e : expected) {
      const Tensor* t = find_output(y, e.name);
      if (!t) {
        std::string names;
        for (const auto& [n, _] : y) names += (names.empty() ? "" : ", ") + n;
        return "missing output '" + e.name + "' (got: " + names + ")";
      }
      bool ok = t->ndim() == static_cast<int>(e.shape.size());
      for (size_t d = 0; ok && d < e.shape.size(); ++d) ok = e.shape[d] < 0 || e.shape[d] == t->dim(static_cast<int>(d));
      if (!ok) return e.name + ": shape " + shape_str(t->shape()) + ", HF defines " + shape_str(e.shape);
    }
    return std::string();
  });
  check("finite", [&] {
    for (const auto& [n, t] : y) {
      if (!dtype_is_float(t.dtype())) continue;
      auto v = t.to_vector<float>();
      for (size_t i = 0; i < v.size(); ++i)
        if (!std::isfinite(v[i])) return n + ": non-finite value " + std::to_string(v[i]) + " at flat index " + std::to_string(i);
    }
    return std::string();
  });
  check("deterministic", [&] {
    NamedTensors y2 = model->forward(inputs, {});
    for (const auto& [n, t] : y) {
      const Tensor* t2 = find_output(y2, n);
      if (!t2) return n + ": missing on the second run";
      auto a = t.to_vector<float>(), b = t2->to_vector<float>();
      if (a != b) {
        double d = 0;
        for (size_t i = 0; i < a.size() && i < b.size(); ++i) d = std::max(d, std::fabs(double(a[i]) - b[i]));
        return n + ": two runs differ, max |diff| = " + std::to_string(d);
      }
    }
    return std::string();
  });
  check(rows[0].length == rows[1].length ? "batch_invariance" : "padding_invariance", [&] {
    if (rows[0].length != rows[1].length && !padding_variance().empty()) return "skipped: " + padding_variance();
    double worst = 0;
    std::string worst_name;
    int compared = 0;
    for (size_t r = 0; r < rows.size(); ++r) {
      NamedTensors alone = model->forward(make_inputs({rows[r]}), {});
      for (const auto& [n, t] : y) {
        if (batch_coupled(n) || !dtype_is_float(t.dtype())) continue;
        const Tensor* a = find_output(alone, n);
        if (!a || t.ndim() == 0 || t.dim(0) != static_cast<int64_t>(rows.size())) continue;
        HostTensor big = HostTensor::of(t), small = HostTensor::of(*a);
        std::vector<float> cropped;
        if (!crop_row(big, static_cast<int64_t>(r), small, &cropped)) continue;
        ++compared;
        for (size_t i = 0; i < cropped.size(); ++i) {
          const double d = std::fabs(double(cropped[i]) - small.v[i]) / std::max(1.0, std::fabs(double(small.v[i])));
          if (d > worst) {
            worst = d;
            worst_name = n + " row " + std::to_string(r);
          }
        }
      }
    }
    if (compared == 0) return std::string("skipped: no per-row outputs to compare");
    if (worst > 1e-4) return worst_name + ": batched row differs from the row alone by " + std::to_string(worst) + " (> 1e-4)";
    return std::string();
  });

  if (model->can_generate()) {
    std::vector<Row> prows = {{1, 8}, {2, 8}};
    TensorMap prompt;
    NamedTensors g;
    Tensor recomputed;  // greedy_generation's uncached logits over prompt + generate()'s ids
    const int64_t N = o.max_new_tokens;
    bool generated = check("greedy_generation", [&] {
      prompt = prompt_inputs(prows);
      GenerationRequest req = generation_request();
      req.max_new_tokens = N;
      req.return_logits = true;
      g = model->generate(prompt, req);
      const Tensor* ids = find_output(g, "generated_ids");
      const Tensor* logits = find_output(g, "generated_logits");
      if (!ids || !logits) return std::string("generate() did not return generated_ids and generated_logits");
      if (logits->dim(1) != N)
        return "generated " + std::to_string(logits->dim(1)) + " tokens, max_new_tokens is " + std::to_string(N) +
               " and no EOS was set";
      // Judged against an independent recompute: a fresh forward (no cache, its own state) over the prompt and
      // the generated ids, whose argmax must be each generated token and whose logits generate()'s must match.
      NamedTensors full = model->forward(recompute_inputs(prompt, *ids), {});
      const Tensor* fl = find_output(full, "logits");
      if (!fl) return std::string("the recompute forward returned no 'logits'");
      recomputed = *fl;
      return greedy_generation_error(*ids, *logits, *fl, recompute_offset(prompt), req.pad_token_id);
    });
    if (generated)
      check("cached_decode", [&] {
        HostTensor cached = HostTensor::of(*find_output(g, "generated_logits"));
        Tensor full = recomputed;
        // Causal LMs: generation::generate with plain settings, what `generate` / `bench-generate` run. Models
        // are built with the default (intended) semantics, so no transformers quirk is on this path, and the
        // tiny configs' windows and chunks are shorter than prompt + new tokens. Other models: generate()'s own
        // cached decoding, whose ids greedy_generation already recomputed.
        if (auto* lm = dynamic_cast<CausalLM*>(model.get()); lm && prompt.count("input_ids")) {
          generation::GenerationSettings s;
          s.max_new_tokens = N;
          s.return_logits = true;
          const Tensor mask = prompt.count("attention_mask") ? prompt.at("attention_mask") : Tensor();
          auto r = generation::generate(*lm, prompt.at("input_ids"), mask, s);
          cached = HostTensor::of(r.logits);
          NamedTensors f = model->forward(recompute_inputs(prompt, r.ids), {});
          const Tensor* fl = find_output(f, "logits");
          if (!fl) return std::string("full recompute returned no 'logits'");
          full = *fl;
        }
        HostTensor f = HostTensor::of(full);
        const int64_t off = recompute_offset(prompt), Tf = f.shape[1];
        if (off + N > Tf) return "full recompute has " + std::to_string(Tf) + " positions, need " + std::to_string(off + N);
        return recompute_mismatch(cached, f, off, "cached decoding's logits");
      });
    else
      out.checks.push_back({"cached_decode", "skipped", "greedy_generation failed: no generated ids to decode", 0.0});
  } else if (entry_.family == "decoder-only" || entry_.family == "mixture-of-experts" ||
             entry_.family == "state-space") {
    CheckResult c{"greedy_generation", "unsupported", "unsupported: generation for " + entry_.model_type, 0.0};
    out.checks.push_back(c);
  }

  check("cross_backend", [&] {
    if (o.reference_devices.empty()) return std::string("skipped: no other executing backend");
    int compared = 0;
    for (const Device& d : o.reference_devices) {
      auto ref = build(d, o);
      NamedTensors yr = ref->forward(inputs, {});
      for (const auto& [n, t] : y) {
        if (!dtype_is_float(t.dtype())) continue;
        const Tensor* r = find_output(yr, n);
        if (!r) return n + ": missing on " + d.str();
        ++compared;
        const std::string e = agreement_error(n, d.str(), t.to_vector<float>(), r->to_vector<float>(), t.dtype());
        if (!e.empty()) return e;
      }
    }
    if (compared == 0) return std::string("skipped: no floating-point outputs to compare");
    return std::string();
  });
  for (const auto& [name, fn] : family_checks(o)) check(name, fn);
  check("hf_golden", [&] {
    if (o.conformance_dir.empty() || !fs::is_directory(o.conformance_dir)) return std::string("skipped: no conformance cases");
    std::vector<fs::path> cases;
    for (const auto& de : fs::directory_iterator(o.conformance_dir)) {
      std::ifstream in(de.path() / "case.json");
      if (!in) continue;
      json cj = json::parse(in, nullptr, false);
      if (cj.is_discarded()) continue;
      // diffusers cases name the class (UNet2DConditionModel); the catalog uses its snake-case model_type.
      const std::string type = cj.value("library", "") == "diffusers" ? diffusers_model_type(cj.value("hf_class", ""))
                                                                       : cj.value("model_type", "");
      if (type == entry_.model_type) cases.push_back(de.path());
    }
    if (cases.empty()) return "skipped: no conformance case for model_type " + entry_.model_type;
    std::sort(cases.begin(), cases.end());
    ConformanceOptions co;
    co.device = o.device;
    for (const auto& c : cases) {
      ConformanceResult r = run_conformance_case(c.string(), co);
      if (r.passed()) continue;
      std::string detail = r.message;
      for (const auto& oc : r.outputs)
        if (!oc.passed) {
          detail = oc.name + " max_abs_err " + std::to_string(oc.max_abs_err) + (oc.note.empty() ? "" : " (" + oc.note + ")");
          break;
        }
      return "conformance case " + r.case_name + " (" + r.hf_class + "): " + r.status + ": " + detail;
    }
    return std::string();
  });
  finish();
  if (o.bench.reps > 0 && out.status == "passed") {
    try {
      out.benchmarks = benchmark(*model, inputs, y, o);
    } catch (const Error& e) {  // a benchmark that cannot run is a failure of the test, never a silent gap
      out.checks.push_back({"benchmark", e.kind() == ErrorKind::Unsupported ? "unsupported" : "failed", e.what(), 0.0});
      finish();
    }
  }
  return out;
}

std::vector<BenchResult> ModelTest::benchmark(Model& model, const TensorMap& inputs, const NamedTensors& outputs,
                                             const TestOptions& o) const {
  using clock = std::chrono::steady_clock;
  // Times fn after o.bench.warmup untimed calls; fn returns a tensor whose copy to the host ends the timed work
  // (device backends run asynchronously).
  auto time = [&](const std::function<Tensor()>& fn, BenchResult& b) {
    for (int i = 0; i < o.bench.warmup; ++i) (void)fn().to(Device::cpu());
    std::vector<double> ms;
    for (int i = 0; i < o.bench.reps; ++i) {
      const auto t0 = clock::now();
      (void)fn().to(Device::cpu());
      ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - t0).count());
    }
    const LatencyStats st = latency_stats(ms);
    b.threads = num_threads();
    b.warmup = o.bench.warmup;
    b.reps = o.bench.reps;
    b.p50_ms = st.p50;
    b.p90_ms = st.p90;
    b.mean_ms = st.mean;
    b.stddev_ms = st.stddev;
    b.min_ms = st.min;
    b.peak_memory_kb = peak_rss_kib();
  };
  std::vector<BenchResult> out;
  {
    BenchResult b;
    b.scenario = "forward";
    b.dtype = dtype_name(outputs.front().second.dtype());  // the forward check passed: outputs are not empty
    // Text models count tokens in (padded batch x sequence); others count the batch's items.
    const auto ids = inputs.find("input_ids");
    const Tensor& lead = ids != inputs.end() ? ids->second : inputs.begin()->second;
    b.batch = lead.ndim() > 0 ? lead.dim(0) : 1;
    b.seq = ids != inputs.end() && lead.ndim() > 1 ? lead.dim(1) : 0;
    b.unit = b.seq > 0 ? "tokens" : "items";
    time([&] { return model.forward(inputs, {}).front().second; }, b);
    b.throughput = static_cast<double>(b.seq > 0 ? b.batch * b.seq : b.batch) / (b.p50_ms * 1e-3);
    out.push_back(b);
  }
  if (model.can_generate()) {
    BenchResult b;
    b.scenario = "generate";
    const std::vector<Row> prows = {{1, 8}, {2, 8}};
    const TensorMap prompt = prompt_inputs(prows);
    GenerationRequest req = generation_request();
    req.max_new_tokens = o.bench.new_tokens;
    int64_t generated = 0;
    time([&] {
      NamedTensors g = model.generate(prompt, req);
      const Tensor* ids = find_output(g, "generated_ids");
      IA_CHECK(ids != nullptr, ErrorKind::Backend, "{}: generate() returned no generated_ids", entry_.id);
      generated = ids->dim(0) * std::min<int64_t>(o.bench.new_tokens, ids->dim(1));
      return *ids;
    }, b);
    b.dtype = out.front().dtype;
    b.batch = static_cast<int64_t>(prows.size());
    // Prompt tokens when the prompt is text (causal LMs, seq2seq encoders); 0 for audio / image conditioning.
    const auto pid = prompt.find("input_ids");
    b.seq = pid != prompt.end() && pid->second.ndim() > 1 ? pid->second.dim(1) : 0;
    b.new_tokens = o.bench.new_tokens;
    b.unit = "tokens";
    b.throughput = static_cast<double>(generated) / (b.p50_ms * 1e-3);
    out.push_back(b);
  }
  return out;
}

}  // namespace ia::suite
