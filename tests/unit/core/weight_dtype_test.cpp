// Load-time weight dtypes (`--dtype`): per-row int8 quantization and its kernels against the dequantized f32
// reference (GEMV 1..4 rows, GEMM, odd widths, bias), and real checkpoints loaded as int8 / bf16 / f16 against
// their stored weights: bounded logit error, top-1 agreement reported and checked, encoders included.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>

#include <nlohmann/json.hpp>

#include <sstream>

#include "../pipelines/pipeline_test_util.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "models/model.h"
#include "ops/ops.h"

namespace ia {
namespace {

namespace fs = std::filesystem;

Tensor random(const Shape& shape, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (float& x : v) x = u(rng);
  return Tensor::from_vector(v, shape);
}

Tensor dequantize(const Tensor& q, const Tensor& scale) {
  const int64_t N = q.dim(0), K = q.dim(1);
  std::vector<float> w(N * K);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) w[n * K + k] = q.data<int8_t>()[n * K + k] * scale.data<float>()[n];
  return Tensor::from_vector(w, {N, K});
}

TEST(Int8Weights, QuantizationIsSymmetricPerRowWithinHalfAStep) {
  Tensor w = random({7, 45}, 1);
  w.data<float>()[2 * 45 + 3] = 9.0f;                                  // an outlier only scales its own row
  for (int64_t k = 0; k < 45; ++k) w.data<float>()[5 * 45 + k] = 0.0f;  // an all-zero row
  const auto [q, scale] = ops::quantize_int8_rows(w);
  ASSERT_EQ(q.dtype(), DType::I8);
  ASSERT_EQ(scale.shape(), (Shape{7}));
  EXPECT_FLOAT_EQ(scale.data<float>()[2], 9.0f / 127.0f);
  EXPECT_EQ(q.data<int8_t>()[2 * 45 + 3], 127);
  EXPECT_FLOAT_EQ(scale.data<float>()[5], 1.0f);
  const Tensor d = dequantize(q, scale);
  for (int64_t n = 0; n < 7; ++n) {
    const float s = scale.data<float>()[n];
    for (int64_t k = 0; k < 45; ++k) {
      EXPECT_LE(std::fabs(d.data<float>()[n * 45 + k] - w.data<float>()[n * 45 + k]), 0.5f * s + 1e-7f);
      EXPECT_GE(q.data<int8_t>()[n * 45 + k], -127);
    }
  }
  EXPECT_THROW(ops::quantize_int8_rows(random({3}, 2)), Error);
}

// x with each row rounded to int8 steps of its own absmax / 127: what linear_w8a8 multiplies.
Tensor quantize_rows(const Tensor& x) {
  const int64_t M = x.dim(0), K = x.dim(1);
  std::vector<float> v = x.to_vector<float>();
  for (int64_t m = 0; m < M; ++m) {
    float amax = 0.0f;
    for (int64_t k = 0; k < K; ++k) amax = std::max(amax, std::fabs(v[m * K + k]));
    const float s = amax > 0.0f ? amax / 127.0f : 1.0f;
    for (int64_t k = 0; k < K; ++k) v[m * K + k] = std::nearbyint(v[m * K + k] * (1.0f / s)) * s;
  }
  return Tensor::from_vector(v, x.shape());
}

TEST(Int8Weights, KernelEqualsTheDequantizedLinear) {
  for (int64_t M : {1, 2, 3, 4, 5, 8, 17}) {
    for (int64_t K : {7, 16, 64, 77, 200}) {
      SCOPED_TRACE("M=" + std::to_string(M) + " K=" + std::to_string(K));
      const int64_t N = 23;
      const auto [q, scale] = ops::quantize_int8_rows(random({N, K}, 10 + K, -0.3f, 0.3f));
      const Tensor x = random({M, K}, 20 + M), b = random({N}, 30);
      const Tensor got = ops::linear_int8(x, q, scale, b), want = ops::linear(x, dequantize(q, scale), b);
      ASSERT_EQ(got.shape(), want.shape());
      for (int64_t i = 0; i < got.numel(); ++i)
        EXPECT_NEAR(got.data<float>()[i], want.data<float>()[i], 1e-4f * (1.0f + std::fabs(want.data<float>()[i])));
      // W8A8 (oneDNN's int8 kernels where present, else the portable int32 loop): the product of the quantized rows
      const Tensor got8 = ops::linear_w8a8(x, q, scale, b),
                   want8 = ops::linear(quantize_rows(x), dequantize(q, scale), b);
      for (int64_t i = 0; i < got8.numel(); ++i)
        EXPECT_NEAR(got8.data<float>()[i], want8.data<float>()[i], 1e-4f * (1.0f + std::fabs(want8.data<float>()[i])));
    }
  }
  const auto [q, scale] = ops::quantize_int8_rows(random({4, 8}, 3));
  EXPECT_THROW(ops::linear_int8(random({2, 9}, 4), q, scale), Error);               // width mismatch
  EXPECT_THROW(ops::linear_int8(random({2, 8}, 4), q, random({3}, 5)), Error);      // scale per row
  EXPECT_THROW(ops::linear_int8(random({2, 8}, 4), random({4, 8}, 6), scale), Error);  // not i8
}

std::string case_dir(const std::string& name) { return (fs::path(IA_TEST_DATA_DIR) / "conformance" / name).string(); }

// The logits of a model directory on fixed ids (below `id_range`) with its weights in `format`.
Tensor logits_at(const fs::path& dir, std::optional<WeightFormat> format, int64_t id_range = 900) {
  LoadOptions lo;
  lo.weight_format = format;
  auto m = load_model(dir.string(), lo);
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < 24; ++i) ids.push_back(3 + (i * 37) % id_range);
  for (const auto& [n, t] : m->forward({{"input_ids", Tensor::from_vector(ids, {2, 12})}}, {}))
    if (n == "logits") return t;
  throw std::runtime_error("no logits");
}

Tensor logits_of(const std::string& name, std::optional<DType> dtype, bool w8a8 = false) {
  return logits_at(case_dir(name), dtype ? std::optional<WeightFormat>(WeightFormat{*dtype, w8a8}) : std::nullopt, 90);
}

// Max |difference| relative to the reference's largest |logit|, and the fraction of positions whose argmax agrees.
std::pair<double, double> compare(const Tensor& got, const Tensor& ref) {
  const int64_t V = ref.dim(-1), rows = ref.numel() / V;
  double max_abs = 0, ref_max = 0;
  int64_t agree = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = got.data<float>() + r * V;
    const float* w = ref.data<float>() + r * V;
    for (int64_t v = 0; v < V; ++v) {
      max_abs = std::max(max_abs, std::fabs(double(g[v]) - w[v]));
      ref_max = std::max(ref_max, std::fabs(double(w[v])));
    }
    agree += std::max_element(g, g + V) - g == std::max_element(w, w + V) - w;
  }
  return {max_abs / ref_max, double(agree) / rows};
}

TEST(WeightDtypes, DecoderCheckpointsLoadAsInt8Bf16AndF16) {
  for (const std::string name : {"llama", "gpt2", "mistral", "qwen2"}) {
    SCOPED_TRACE(name);
    const Tensor ref = logits_of(name, std::nullopt);
    const auto [err8, top8] = compare(logits_of(name, DType::I8), ref);
    const auto [err16, top16] = compare(logits_of(name, DType::BF16), ref);
    const auto [errh, toph] = compare(logits_of(name, DType::F16), ref);
    const auto [err32, top32] = compare(logits_of(name, DType::F32), ref);
    const auto [errq, topq] = compare(logits_of(name, DType::I8, true), ref);
    std::printf("%-8s int8: max rel err %.2e, top-1 %.1f%% | bf16: %.2e, %.1f%% | f16: %.2e, %.1f%% | w8a8: %.2e, "
                "%.1f%%\n", name.c_str(), err8, 100 * top8, err16, 100 * top16, errh, 100 * toph, errq, 100 * topq);
    EXPECT_LT(errq, 0.08);
    EXPECT_GE(topq, 0.8);
    EXPECT_EQ(err32, 0.0);
    EXPECT_LT(err8, 0.05);
    EXPECT_LT(err16, 0.02);
    EXPECT_LT(errh, 0.005);
    EXPECT_GE(top8, 0.8);
    EXPECT_GE(top16, 0.9);
  }
}

// Per-row int8 activations cost little accuracy: a [64, 768] x [768, 768] GEMM against the f32 one.
TEST(Int8Weights, QuantizedActivationsStayCloseToF32) {
  const int64_t M = 64, K = 768, N = 768;
  const Tensor w = random({N, K}, 41, -0.05f, 0.05f), x = random({M, K}, 42, -2.0f, 2.0f);
  const auto [q, scale] = ops::quantize_int8_rows(w);
  const Tensor got = ops::linear_w8a8(x, q, scale), want = ops::linear(x, w);
  double err = 0, ref = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    err = std::max(err, std::fabs(double(got.data<float>()[i]) - want.data<float>()[i]));
    ref = std::max(ref, std::fabs(double(want.data<float>()[i])));
  }
  EXPECT_LT(err / ref, 0.02);
}

// The masked-LM logits of an encoder case's config with random weights (the cases hold base models, no heads).
Tensor mlm_logits_of(const std::string& name, const std::string& hf_class, std::optional<DType> dtype,
                     bool w8a8 = false) {
  const ModelConfig cfg = ModelConfig::load(case_dir(name) + "/config.json");
  WeightLoader w = WeightLoader::synthetic(7, Device::cpu());
  if (dtype) w.set_weight_format(WeightFormat{*dtype, w8a8});
  auto m = build_model(cfg, w, hf_class);
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < 24; ++i) ids.push_back(3 + (i * 37) % 90);
  for (const auto& [n, t] : m->forward({{"input_ids", Tensor::from_vector(ids, {2, 12})}}, {}))
    if (n == "logits") return t;
  throw std::runtime_error("no logits");
}

TEST(WeightDtypes, EncodersLoadAsInt8AndBf16) {
  for (const auto& [name, cls] : std::vector<std::pair<std::string, std::string>>{
           {"bert", "BertForMaskedLM"}, {"roberta", "RobertaForMaskedLM"}, {"distilbert", "DistilBertForMaskedLM"}}) {
    SCOPED_TRACE(name);
    const Tensor ref = mlm_logits_of(name, cls, std::nullopt);
    const auto [err8, top8] = compare(mlm_logits_of(name, cls, DType::I8), ref);
    const auto [err16, top16] = compare(mlm_logits_of(name, cls, DType::BF16), ref);
    const auto [errq, topq] = compare(mlm_logits_of(name, cls, DType::I8, true), ref);
    std::printf("%-10s int8: max rel err %.2e, top-1 %.1f%% | bf16: %.2e, %.1f%% | w8a8: %.2e, %.1f%%\n",
                name.c_str(), err8, 100 * top8, err16, 100 * top16, errq, 100 * topq);
    EXPECT_LT(err8, 0.05);
    EXPECT_LT(errq, 0.08);
    EXPECT_GE(topq, 0.8);
    EXPECT_LT(err16, 0.02);
    EXPECT_GE(top8, 0.8);
    EXPECT_GE(top16, 0.9);
  }
}

// `conformance --dtype`: every output's error against HF's fp32 references, top-1 of the teacher-forced logits, a
// summary line; exit status 0 although the figures are outside the fp32 tolerances, non-zero for a bad --dtype.
TEST(WeightDtypes, ConformanceReportsTheAccuracyOfAWeightFormat) {
  const ia_test::CliResult r = ia_test::run_cli("conformance --json --dtype w8a8 " + case_dir("gpt2") + " " + case_dir("bert"));
  ASSERT_EQ(r.rc, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  std::vector<nlohmann::json> recs;
  while (std::getline(lines, line)) recs.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[0]["weight_dtype"], "w8a8");
  bool logits_seen = false;
  for (const auto& o : recs[0]["outputs"])
    if (o["name"] == "logits") {
      logits_seen = true;
      EXPECT_GT(o["max_abs_err"].get<double>(), 1e-4);  // the weights really changed
      EXPECT_LT(o["mean_abs_err"].get<double>(), 0.05);
      EXPECT_EQ(o["top1_agreement"]["rows"], 14);
    } else if (o["name"] == "generated_logits") {
      EXPECT_FALSE(o.contains("top1_agreement"));  // follows the model's own tokens
    }
  EXPECT_TRUE(logits_seen);
  const auto& sum = recs[2]["summary"];
  EXPECT_EQ(sum["cases"], 2);
  EXPECT_EQ(sum["errors"], 0);
  EXPECT_EQ(sum["top1_rows"], 14);
  EXPECT_GE(sum["top1_agree"].get<int>(), 12);
  EXPECT_NE(ia_test::run_cli("conformance --dtype int4 " + case_dir("bert")).rc, 0);
}

// make-checkpoint --dtype int8 stores the linear weights as int8 rows + `_scale` (compressed-tensors' channel-wise
// layout): loading it as stored equals quantizing the f32 checkpoint of the same seed at load, bit for bit; w8a8
// and a float --dtype (dequantized) apply to it; a missing or misshapen scale is a Format error naming it.
TEST(Int8Checkpoints, StoredInt8EqualsQuantizedAtLoad) {
  const nlohmann::json cfg = ia_test::tiny_bert();
  const fs::path f32 = ia_test::make_model("ckpt_f32", cfg, "BertForMaskedLM", {});
  const fs::path i8 = ia_test::scratch_dir("ckpt_int8");
  std::ofstream(i8 / "config.json") << cfg.dump(2);
  const ia_test::CliResult r = ia_test::run_cli("make-checkpoint " + (i8 / "config.json").string() + " -o " +
                                                i8.string() + " --class BertForMaskedLM --seed 7 --dtype int8");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("linear weights as int8"), std::string::npos) << r.out;
  const auto ck = Checkpoint::open(i8.string());
  const std::string q = "encoder.layer.0.intermediate.dense.weight";
  ASSERT_TRUE(ck->has(q));
  EXPECT_EQ(ck->info(q).dtype, DType::I8);
  EXPECT_EQ(ck->info(q + "_scale").shape, (Shape{37, 1}));
  EXPECT_EQ(ck->info("embeddings.word_embeddings.weight").dtype, DType::F32);
  EXPECT_EQ(nlohmann::json::parse(std::ifstream(i8 / "config.json"))["quantization_config"]["quant_method"],
            "compressed-tensors");

  const Tensor stored = logits_at(i8, std::nullopt), at_load = logits_at(f32, WeightFormat{DType::I8, false});
  ASSERT_EQ(stored.shape(), at_load.shape());
  EXPECT_EQ(stored.to_vector<float>(), at_load.to_vector<float>());
  EXPECT_EQ(logits_at(i8, WeightFormat{DType::I8, true}).to_vector<float>(),
            logits_at(f32, WeightFormat{DType::I8, true}).to_vector<float>());
  const auto [err, top] = compare(logits_at(i8, WeightFormat{DType::F32, false}), logits_at(f32, std::nullopt));
  EXPECT_GT(err, 0.0);  // dequantized: the int8 rounding stays
  EXPECT_LT(err, 0.05);
  EXPECT_GE(top, 0.8);

  // A scale of the wrong shape: the loader names it.
  NamedTensors tensors;
  for (const auto& n : ck->names())
    tensors.emplace_back(n, n == q + "_scale" ? ck->get(n).view({37}).slice(0, 0, 36).contiguous() : ck->get(n));
  const fs::path bad = ia_test::scratch_dir("ckpt_int8_bad");
  fs::copy_file(i8 / "config.json", bad / "config.json", fs::copy_options::overwrite_existing);
  save_safetensors((bad / "model.safetensors").string(), tensors, {{"format", "pt"}});
  try {
    logits_at(bad, std::nullopt);
    ADD_FAILURE() << "loaded a checkpoint with a misshapen scale";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(q + "_scale"), std::string::npos) << e.what();
  }
}

// `bench` on a stored-int8 checkpoint: as stored and with --dtype w8a8 (which applies to the stored int8 layers);
// --cold drops the files from the page cache and says so; the first forward is timed apart from the repetitions;
// --peak adds the measured FMA peak (the fraction of it reached only for fp32 weights).
TEST(Int8Checkpoints, BenchRunsThemColdAndWarm) {
  const fs::path dir = ia_test::scratch_dir("bench_int8");
  std::ofstream(dir / "config.json") << ia_test::tiny_bert().dump(2);
  ASSERT_EQ(ia_test::run_cli("make-checkpoint " + (dir / "config.json").string() + " -o " + dir.string() +
                             " --class BertModel --dtype int8").rc, 0);
  for (const std::string extra : {"--cold", "--dtype w8a8 --peak"}) {
    SCOPED_TRACE(extra);
    const nlohmann::json j = ia_test::run_json("bench " + dir.string() + " --seq 16 --reps 2 --warmup 1 " + extra);
    EXPECT_EQ(j["cold"], extra == "--cold");
    EXPECT_GT(j["first_forward_ms"].get<double>(), 0.0);
    EXPECT_GT(j["p50_ms"].get<double>(), 0.0);
    EXPECT_EQ(j["dtype"], extra == "--cold" ? "as stored" : "w8a8");
    EXPECT_EQ(j.contains("fp32_fma_peak_gflops"), extra != "--cold");
    EXPECT_FALSE(j.contains("fraction_of_peak"));  // w8a8 GEMMs are not fp32 FMAs
  }
  const nlohmann::json f32 = ia_test::run_json("bench --config " + (dir / "config.json").string() +
                                               " --seq 16 --reps 2 --warmup 1 --peak");
  if (f32["fp32_fma_peak_gflops"].get<double>() > 0) {
    EXPECT_GT(f32["fraction_of_peak"].get<double>(), 0.0);
  }
  EXPECT_NE(ia_test::run_cli("bench --config " + (dir / "config.json").string() + " --cold").rc, 0);
}

TEST(WeightDtypes, ParsesTheDtypeNames) {
  EXPECT_EQ(parse_weight_format("int8").dtype, DType::I8);
  EXPECT_FALSE(parse_weight_format("int8").int8_activations);
  EXPECT_TRUE(parse_weight_format("w8a8").int8_activations);
  EXPECT_EQ(parse_weight_format("w8a8").name(), "w8a8");
  EXPECT_EQ(parse_weight_format("bf16").dtype, DType::BF16);
  EXPECT_THROW(parse_weight_format("int4"), Error);
}

}  // namespace
}  // namespace ia
