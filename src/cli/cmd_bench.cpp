// `ipfs-accelerate bench`: forward-pass latency of a model (warm-up, repetitions, percentiles, GFLOP/s,
// peak RSS). `make-checkpoint`: writes a random-weight checkpoint for a config (no download needed).
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>

#include "backends/cpu/fma_peak.h"
#include "cli/command.h"
#include "cli/device_flag.h"
#include "core/bench_stats.h"
#include "core/thread_pool.h"
#include "models/layers.h"
#include "io/model_source.h"
#include "models/model.h"

namespace fs = std::filesystem;

namespace {

double peak_rss_mib() { return ia::peak_rss_kib() / 1024.0; }

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

struct BenchArgs {
  std::string model, config, hf_class, device = "cpu", dtype;
  int64_t seq = 128, batch = 1;
  int warmup = 3, reps = 10;
  uint64_t seed = 0;
  bool no_fallback = false, cold = false, peak = false;
};

// --cold: drops the checkpoint's files from the page cache (fadvise DONTNEED: clean pages nobody maps), so the
// load and the first forward read them from disk. Returns how many files it dropped.
int drop_from_page_cache(const std::string& dir) {
  int n = 0;
  if (!fs::is_directory(dir)) return 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file() || e.path().extension() != ".safetensors") continue;
    const int fd = ::open(e.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    if (posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0) ++n;
    ::close(fd);
  }
  return n;
}

// The benchmarked model: random weights for --config, else the checkpoint; weight_format as --dtype.
std::unique_ptr<ia::Model> make_model(const BenchArgs& a, ia::Device device,
                                      std::optional<ia::WeightFormat> weight_format) {
  if (!a.config.empty()) {
    ia::ModelConfig cfg = ia::ModelConfig::load(a.config);
    ia::WeightLoader w = ia::WeightLoader::synthetic(a.seed, device);
    w.set_weight_format(weight_format);
    auto m = ia::build_model(cfg, w, a.hf_class);
    IA_CHECK(!weight_format || w.report().matmul_converted > 0, ia::ErrorKind::Unsupported,
             "unsupported: --dtype {} for {} (no linear-layer weights)", a.dtype, m->model_type());
    return m;
  }
  ia::LoadOptions lo;
  lo.hf_class = a.hf_class;
  lo.device = device;
  lo.weight_format = weight_format;
  return ia::load_model(ia::resolve_model(a.model), lo);
}

// The --dtype model's first output against the stored-precision model's on the same inputs: max and mean
// |difference| and top-1 agreement of the last dimension (argmax per row: tokens for logits, classes, ...).
nlohmann::json accuracy_vs_reference(const ia::Tensor& got, const ia::Tensor& ref) {
  const ia::Tensor g = got.to(ia::Device::cpu()).to(ia::DType::F32).contiguous();
  const ia::Tensor r = ref.to(ia::Device::cpu()).to(ia::DType::F32).contiguous();
  IA_CHECK(g.shape() == r.shape(), ia::ErrorKind::InvalidArgument, "bench: outputs {} and {} differ in shape",
           g.describe(), r.describe());
  const float* gp = g.data<float>();
  const float* rp = r.data<float>();
  const int64_t n = g.numel(), D = g.ndim() ? g.dim(-1) : 1, rows = D ? n / D : 0;
  double max_abs = 0, sum_abs = 0, ref_max = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = std::fabs(double(gp[i]) - rp[i]);
    max_abs = std::max(max_abs, d);
    sum_abs += d;
    ref_max = std::max(ref_max, std::fabs(double(rp[i])));
  }
  int64_t agree = 0;
  for (int64_t row = 0; row < rows; ++row)
    agree += std::max_element(gp + row * D, gp + (row + 1) * D) - (gp + row * D) ==
             std::max_element(rp + row * D, rp + (row + 1) * D) - (rp + row * D);
  return {{"max_abs_error", max_abs},
          {"mean_abs_error", n ? sum_abs / n : 0.0},
          {"reference_max_abs", ref_max},
          {"top1_agreement", rows ? double(agree) / rows : 1.0},
          {"rows", rows}};
}

int run_bench(const BenchArgs& a) {
  auto choice = ia::cli::resolve_device_flag(a.device, !a.no_fallback);
  const std::optional<ia::WeightFormat> weight_format =
      a.dtype.empty() ? std::nullopt : std::optional<ia::WeightFormat>(ia::parse_weight_format(a.dtype));
  const std::string source = a.config.empty() ? a.model : a.config + " (random weights)";
  if (a.cold) {
    IA_CHECK(a.config.empty() && fs::is_directory(a.model), ia::ErrorKind::InvalidArgument,
             "bench --cold: needs a local model directory");
    IA_CHECK(drop_from_page_cache(a.model) > 0, ia::ErrorKind::Io,
             "bench --cold: could not drop {}'s *.safetensors from the page cache", a.model);
  }
  auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<ia::Model> model = make_model(a, choice.device, weight_format);
  const double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const int64_t vocab = model->config().dim_or("vocab_size", 1000, 1);
  std::mt19937_64 rng(a.seed + 1);
  std::vector<int64_t> ids(a.batch * a.seq);
  for (auto& v : ids) v = static_cast<int64_t>(rng() % static_cast<uint64_t>(std::min<int64_t>(vocab, 30000)));
  if (vocab > 3)
    for (auto& v : ids) v = std::max<int64_t>(v, 3);  // avoid pad ids so RoBERTa-style positions stay in range
  ia::TensorMap inputs;
  const ia::ModelConfig& mc = model->config();
  if (model->model_type() == "unet_2d_condition") {
    // One denoising step: latents [batch, C, seq, seq] (--seq is the latent side), 77 text tokens.
    std::normal_distribution<float> nd;
    std::vector<float> lat(static_cast<size_t>(a.batch * mc.dim_or("in_channels", 4) * a.seq * a.seq));
    for (auto& v : lat) v = nd(rng);
    inputs["sample"] = ia::Tensor::from_vector(lat, {a.batch, mc.dim_or("in_channels", 4), a.seq, a.seq});
    inputs["timestep"] = ia::Tensor::from_vector<int64_t>({500}, {1});
    inputs["encoder_hidden_states"] = ia::Tensor::full({a.batch, 77, mc.dim_or("cross_attention_dim", 768)}, 0.1f);
  } else if (model->model_type() == "autoencoder_kl") {
    // A VAE decode of latents [batch, latent_channels, seq, seq] (--seq is the latent side).
    std::normal_distribution<float> nd;
    std::vector<float> lat(static_cast<size_t>(a.batch * mc.dim_or("latent_channels", 4) * a.seq * a.seq));
    for (auto& v : lat) v = nd(rng);
    inputs["latents"] = ia::Tensor::from_vector(lat, {a.batch, mc.dim_or("latent_channels", 4), a.seq, a.seq});
  } else {
    inputs["input_ids"] = ia::Tensor::from_vector(ids, {a.batch, a.seq});
    inputs["attention_mask"] = ia::layers::full_i64({a.batch, a.seq}, 1);
  }
  ia::ForwardOptions fo;
  // The first forward is timed on its own (pages of a mapped checkpoint are read, weights packed): with the load,
  // the time to the first result. It counts as the first warm-up run.
  const auto f0 = std::chrono::steady_clock::now();
  (void)model->forward(inputs, fo).front().second.to(ia::Device::cpu());
  const double first_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - f0).count();
  for (int i = 1; i < a.warmup; ++i) model->forward(inputs, fo);
  ia::ops::reset_flops();
  std::vector<double> ms;
  for (int i = 0; i < a.reps; ++i) {
    auto s = std::chrono::steady_clock::now();
    auto out = model->forward(inputs, fo);
    (void)out.front().second.to(ia::Device::cpu());
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s).count());
  }
  const double flops = static_cast<double>(ia::ops::flops_counted()) / a.reps;
  nlohmann::json accuracy;
  if (weight_format) {  // after timing, so the reference model's memory is not in the peak of the timed runs
    const ia::Tensor got = model->forward(inputs, fo).front().second;
    accuracy = accuracy_vs_reference(got, make_model(a, choice.device, std::nullopt)->forward(inputs, fo).front().second);
  }
  const ia::LatencyStats st = ia::latency_stats(ms);
  const double p50 = st.p50, p90 = st.p90, mean = st.mean, stddev = st.stddev;
  const double gflops = flops / (p50 * 1e-3) / 1e9;
  nlohmann::json j{{"model", source},
                   {"model_type", model->model_type()},
                   {"class", model->hf_class()},
                   {"device", choice.device.str()},
                   {"device_decision", choice.decision},
                   {"threads", ia::num_threads()},
                   {"cpu", cpu_model()},
                   {"batch", a.batch},
                   {"seq", a.seq},
                   {"warmup", a.warmup},
                   {"reps", a.reps},
                   {"load_ms", load_ms},
                   {"first_forward_ms", first_ms},
                   {"cold", a.cold},
                   {"p50_ms", p50},
                   {"p90_ms", p90},
                   {"mean_ms", mean},
                   {"stddev_ms", stddev},
                   {"min_ms", st.min},
                   {"gflop_per_run", flops / 1e9},
                   {"gflops_at_p50", gflops},
                   {"peak_rss_mib", peak_rss_mib()},
                   {"dtype", a.dtype.empty() ? "as stored" : a.dtype}};
  if (!accuracy.is_null()) j["accuracy_vs_stored"] = accuracy;
  double peak = 0.0;
  if (a.peak && choice.device.type == ia::DeviceType::CPU) {
    peak = ia::cpu::measure_fp32_fma_peak_gflops();
    j["fp32_fma_peak_gflops"] = peak;
    // A fraction of the fp32 FMA rate only means something for fp32 GEMMs: not with --dtype bf16/f16/int8/w8a8.
    if (a.dtype.empty() || a.dtype == "f32") j["fraction_of_peak"] = peak > 0 ? gflops / peak : 0.0;
  }
  if (ia::cli::globals().json) {
    std::cout << j.dump(2) << std::endl;
    return 0;
  }
  fmt::print("model       {} ({} {})\n", source, model->model_type(), model->hf_class());
  fmt::print("device      {} ({} threads, {})\n", choice.device.str(), ia::num_threads(), cpu_model());
  fmt::print("shape       batch {} x seq {}  ({} warm-up, {} reps)\n", a.batch, a.seq, a.warmup, a.reps);
  fmt::print("latency     p50 {:.1f} ms  p90 {:.1f} ms  mean {:.1f} ± {:.1f} ms  min {:.1f} ms\n", p50, p90, mean,
             stddev, st.min);
  fmt::print("throughput  {:.2f} GFLOP/run  {:.1f} GFLOP/s at p50  {:.1f} seq/s", flops / 1e9, gflops,
             a.batch * 1000.0 / p50);
  if (j.contains("fraction_of_peak") && peak > 0)
    fmt::print("  = {:.0f}% of the measured fp32 FMA peak {:.0f} GFLOP/s", 100 * gflops / peak, peak);
  else if (peak > 0)
    fmt::print("  (fp32 FMA peak {:.0f} GFLOP/s; no fraction for {} weights)", peak, a.dtype);
  fmt::print("\n");
  fmt::print("memory      peak RSS {:.0f} MiB\n", peak_rss_mib());
  fmt::print("first       load {:.0f} ms + first forward {:.0f} ms = {:.0f} ms to the first result ({})\n", load_ms,
             first_ms, load_ms + first_ms, a.cold ? "cold: checkpoint dropped from the page cache" : "warm cache");
  if (!accuracy.is_null())
    fmt::print("accuracy    {} vs stored weights: max |err| {:.3g}, mean |err| {:.3g} (output max |x| {:.3g}), top-1 "
               "agreement {:.2f}% of {} rows\n",
               a.dtype, accuracy["max_abs_error"].get<double>(), accuracy["mean_abs_error"].get<double>(),
               accuracy["reference_max_abs"].get<double>(), 100 * accuracy["top1_agreement"].get<double>(),
               accuracy["rows"].get<int64_t>());
  return 0;
}

struct MakeArgs {
  std::string config, out, dtype = "f32", hf_class;
  uint64_t seed = 0;
};

// `--dtype int8`: compressed-tensors' channel-wise int8 layout (what WeightLoader::get_int8 reads) for the linear
// layers' weights, f32 for the rest.
nlohmann::json int8_quantization_config() {
  return {{"quant_method", "compressed-tensors"},
          {"format", "int-quantized"},
          {"config_groups",
           {{"group_0",
             {{"targets", {"Linear"}},
              {"weights", {{"num_bits", 8}, {"type", "int"}, {"symmetric", true}, {"strategy", "channel"}}},
              {"input_activations", nullptr}}}}}};
}

int run_make(const MakeArgs& a) {
  ia::ModelConfig cfg = ia::ModelConfig::load(a.config);
  const bool int8 = a.dtype == "int8";
  const ia::DType dt = int8 ? ia::DType::F32 : ia::dtype_from_name(a.dtype);
  IA_CHECK(ia::dtype_is_float(dt), ia::ErrorKind::InvalidArgument, "--dtype must be f32, f16, bf16 or int8, got {}",
           a.dtype);
  ia::WeightLoader w = ia::WeightLoader::synthetic(a.seed);
  w.report().keep_synthesized = true;
  auto model = ia::build_model(cfg, w, a.hf_class);
  fs::create_directories(a.out);
  ia::NamedTensors tensors;
  int64_t params = 0, quantized = 0;
  for (auto& [name, t] : w.report().synthesized) {
    params += t.numel();
    if (int8 && t.ndim() == 2 && w.report().linear_weights.count(name)) {
      auto [q, scale] = ia::ops::quantize_int8_rows(t);
      tensors.emplace_back(name, q);
      tensors.emplace_back(name + "_scale", scale.view({t.dim(0), 1}));
      ++quantized;
      continue;
    }
    tensors.emplace_back(name, t.to(dt));
  }
  std::sort(tensors.begin(), tensors.end(), [](auto& x, auto& y) { return x.first < y.first; });
  ia::save_safetensors((fs::path(a.out) / "model.safetensors").string(), tensors, {{"format", "pt"}});
  nlohmann::json c = cfg.json();
  c["architectures"] = std::vector<std::string>{model->hf_class()};
  c["torch_dtype"] = dt == ia::DType::F32 ? "float32" : dt == ia::DType::F16 ? "float16" : "bfloat16";
  if (int8) c["quantization_config"] = int8_quantization_config();
  std::ofstream(fs::path(a.out) / "config.json") << c.dump(2) << "\n";
  fmt::print("wrote {} ({} tensors, {:.1f} M parameters, {}{})\n", a.out, tensors.size(), params / 1e6, a.dtype,
             int8 ? fmt::format(": {} linear weights as int8 rows + scales", quantized) : "");
  return 0;
}

void setup(CLI::App& app) {
  auto b = std::make_shared<BenchArgs>();
  auto* c = app.add_subcommand("bench", "Benchmark a model's forward pass (latency percentiles, GFLOP/s, peak RSS)");
  c->add_option("model", b->model, "Model: local directory, HF id (org/name[@revision]) or ipfs://<cid>");
  c->add_option("--config", b->config, "config.json to benchmark with random weights (no checkpoint needed)");
  c->add_option("--class", b->hf_class, "HF class to build (default: config architectures[0])");
  c->add_option("--seq", b->seq, "sequence length (diffusion UNet / VAE: latent side)")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  c->add_option("--batch", b->batch, "batch size")->capture_default_str()->check(CLI::Range(1, 1 << 16));
  c->add_option("--warmup", b->warmup, "warm-up runs (the first is always run and timed: first_forward_ms)")
      ->capture_default_str();
  c->add_option("--reps", b->reps, "timed repetitions")->capture_default_str()->check(CLI::Range(1, 100000));
  c->add_option("--device", b->device, "cpu | cuda[:N] | auto")->capture_default_str();
  c->add_option("--seed", b->seed, "seed for random weights and inputs");
  c->add_option("--dtype", b->dtype,
                "load-time linear weight dtype f32 | f16 | bf16 | int8 | w8a8 (int8 weights and per-row int8 "
                "activations; default: as stored); also reports the error against the stored weights");
  c->add_flag("--no-fallback", b->no_fallback, "fail instead of falling back when the device cannot run");
  c->add_flag("--cold", b->cold,
              "drop the checkpoint's files from the page cache first (cold load and first forward)");
  c->add_flag("--peak", b->peak, "also measure this CPU's fp32 FMA peak at these threads and the fraction reached (fp32 weights only)");
  c->add_flag("--json", ia::cli::globals().json, "machine-readable output");
  c->callback([b, c] {
    IA_CHECK(!b->model.empty() || !b->config.empty(), ia::ErrorKind::InvalidArgument,
             "bench: give a model directory or --config");
    ia::cli::set_exit_code(run_bench(*b));
  });

  auto m = std::make_shared<MakeArgs>();
  auto* mc = app.add_subcommand("make-checkpoint", "Write a random-weight checkpoint (config.json + model.safetensors) for a config");
  mc->add_option("config", m->config, "config.json (e.g. bench/configs/bert-base-uncased.json)")->required();
  mc->add_option("-o,--out", m->out, "output directory")->required();
  mc->add_option("--dtype", m->dtype,
                 "f32 | f16 | bf16 | int8 (linear weights as int8 rows with per-row scales, the rest f32)")
      ->capture_default_str();
  mc->add_option("--class", m->hf_class, "HF class to build (default: config architectures[0])");
  mc->add_option("--seed", m->seed, "seed");
  mc->callback([m] { ia::cli::set_exit_code(run_make(*m)); });
}

}  // namespace

IA_REGISTER_COMMAND(bench, 60, setup)
