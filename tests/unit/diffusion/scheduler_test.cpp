// Schedulers and torch's RNG against hand-derived numbers: beta schedules, timestep spacings, one step of each
// update rule recomputed here in double precision, PNDM's PLMS warm-up ordering, and torch.randn values.
#include <gtest/gtest.h>

#include <cmath>

#include "models/diffusion/schedulers/scheduler.h"
#include "models/diffusion/torch_randn.h"
#include "ops/ops.h"

namespace ia::diffusion {
namespace {

using nlohmann::json;

std::unique_ptr<Scheduler> make(const json& j) { return make_scheduler(ModelConfig(j, "test:scheduler_config.json")); }

json sd_config(const std::string& cls) {
  return {{"_class_name", cls},         {"beta_start", 0.00085},      {"beta_end", 0.012},
          {"beta_schedule", "scaled_linear"}, {"num_train_timesteps", 1000}, {"steps_offset", 1},
          {"timestep_spacing", "leading"},    {"set_alpha_to_one", false},   {"clip_sample", false},
          {"skip_prk_steps", true}};
}

// alphas_cumprod of the scaled_linear SD schedule, recomputed in double.
std::vector<double> sd_alphas_cumprod() {
  std::vector<double> ac;
  double acc = 1.0;
  const double a = std::sqrt(0.00085), b = std::sqrt(0.012);
  for (int i = 0; i < 1000; ++i) {
    const double beta = std::pow(a + (b - a) * i / 999.0, 2);
    acc *= 1.0 - beta;
    ac.push_back(acc);
  }
  return ac;
}

std::vector<int64_t> ints(const Tensor& t) { return t.to_vector<int64_t>(); }

TEST(TorchRandn, ReproducesTorchManualSeedZero) {
  // torch.manual_seed(0); torch.randn(3) -> [1.5410, -0.2934, -2.1788] (scalar Box-Muller path, n < 16)
  TorchGenerator g(0);
  auto small = g.randn({3}).to_vector<float>();
  EXPECT_NEAR(small[0], 1.5410f, 1e-4);
  EXPECT_NEAR(small[1], -0.2934f, 1e-4);
  EXPECT_NEAR(small[2], -2.1788f, 1e-4);
  // torch.manual_seed(0); torch.randn(4, 4) -> first row [-1.1258, -1.1524, -0.2506, -0.4339] (16-wide path)
  TorchGenerator h(0);
  auto big = h.randn({4, 4}).to_vector<float>();
  EXPECT_NEAR(big[0], -1.1258f, 1e-4);
  EXPECT_NEAR(big[1], -1.1524f, 1e-4);
  EXPECT_NEAR(big[2], -0.2506f, 1e-4);
  EXPECT_NEAR(big[3], -0.4339f, 1e-4);
  EXPECT_NEAR(big[15], -0.2473f, 1e-4);
  // torch.manual_seed(0); torch.rand(1) -> 0.4963
  TorchGenerator r(0);
  EXPECT_NEAR(r.rand({1}).item(), 0.4963f, 1e-4);
}

TEST(TorchRandn, SameSeedSameNumbersAndTailRedraw) {
  TorchGenerator a(42), b(42);
  auto x = a.randn({2, 4, 3, 3}).to_vector<float>();  // 72 values: not a multiple of 16
  auto y = b.randn({2, 4, 3, 3}).to_vector<float>();
  EXPECT_EQ(x, y);
  for (float v : x) EXPECT_TRUE(std::isfinite(v));
}

TEST(NoiseSchedule, BetaSchedules) {
  NoiseSchedule lin = NoiseSchedule::from_config(ModelConfig(json{{"beta_schedule", "linear"}}, "t"));
  EXPECT_NEAR(lin.betas.front(), 1e-4, 1e-9);
  EXPECT_NEAR(lin.betas.back(), 0.02, 1e-8);
  NoiseSchedule cos = NoiseSchedule::from_config(ModelConfig(json{{"beta_schedule", "squaredcos_cap_v2"}}, "t"));
  auto alpha_bar = [](double t) { return std::pow(std::cos((t + 0.008) / 1.008 * M_PI / 2), 2); };
  EXPECT_NEAR(cos.betas[0], 1 - alpha_bar(0.001) / alpha_bar(0.0), 1e-7);
  EXPECT_NEAR(cos.betas.back(), 0.999, 1e-6);  // capped at max_beta
  NoiseSchedule sd = NoiseSchedule::from_config(ModelConfig(sd_config("DDIMScheduler"), "t"));
  auto ac = sd_alphas_cumprod();
  EXPECT_NEAR(sd.alphas_cumprod[500], ac[500], 1e-6);
  EXPECT_NEAR(sd.alphas_cumprod[999], ac[999], 1e-6);
  NoiseSchedule zsnr = NoiseSchedule::from_config(
      ModelConfig(json{{"beta_schedule", "scaled_linear"}, {"beta_start", 0.00085}, {"beta_end", 0.012},
                       {"rescale_betas_zero_snr", true}},
                  "t"));
  EXPECT_NEAR(zsnr.alphas_cumprod.back(), 0.0, 1e-7);  // zero terminal SNR
  EXPECT_THROW(NoiseSchedule::from_config(ModelConfig(json{{"beta_schedule", "sigmoid"}}, "t")), Error);
}

TEST(Schedulers, TimestepSpacings) {
  json c = sd_config("DDIMScheduler");
  auto s = make(c);
  s->set_timesteps(5);
  EXPECT_EQ(ints(s->timesteps()), (std::vector<int64_t>{801, 601, 401, 201, 1}));
  c["timestep_spacing"] = "trailing";
  s = make(c);
  s->set_timesteps(4);
  EXPECT_EQ(ints(s->timesteps()), (std::vector<int64_t>{999, 749, 499, 249}));
  c["timestep_spacing"] = "linspace";
  s = make(c);
  s->set_timesteps(4);
  EXPECT_EQ(ints(s->timesteps()), (std::vector<int64_t>{999, 666, 333, 0}));
  json e = sd_config("EulerDiscreteScheduler");
  e["timestep_spacing"] = "linspace";
  auto eu = make(e);
  eu->set_timesteps(5);
  auto ts = eu->timesteps().to_vector<float>();  // Euler keeps numpy's fractional linspace
  EXPECT_FLOAT_EQ(ts[1], 749.25f);
  EXPECT_FLOAT_EQ(ts[4], 0.0f);
}

TEST(Schedulers, DDIMStepMatchesFormula) {
  for (const char* pred : {"epsilon", "v_prediction"}) {
    json c = sd_config("DDIMScheduler");
    c["prediction_type"] = pred;
    auto s = make(c);
    s->set_timesteps(10);  // 901, 801, ...
    Tensor x = Tensor::from_vector<float>({0.5f, -1.0f}, {1, 2});
    Tensor eps = Tensor::from_vector<float>({0.25f, 0.75f}, {1, 2});
    auto y = s->step(eps, 0, x, nullptr).to_vector<float>();
    auto ac = sd_alphas_cumprod();
    const double at = ac[901], ap = ac[801];
    const double xs[2] = {0.5, -1.0}, es[2] = {0.25, 0.75};
    for (int k = 0; k < 2; ++k) {
      double x0, e;
      if (std::string(pred) == "epsilon") {
        x0 = (xs[k] - std::sqrt(1 - at) * es[k]) / std::sqrt(at);
        e = es[k];
      } else {
        x0 = std::sqrt(at) * xs[k] - std::sqrt(1 - at) * es[k];
        e = std::sqrt(at) * es[k] + std::sqrt(1 - at) * xs[k];
      }
      EXPECT_NEAR(y[k], std::sqrt(ap) * x0 + std::sqrt(1 - ap) * e, 1e-4) << pred;
    }
  }
}

TEST(Schedulers, EulerSigmasAndStep) {
  auto s = make(sd_config("EulerDiscreteScheduler"));
  s->set_timesteps(5);
  auto ac = sd_alphas_cumprod();
  auto sig = s->sigmas().to_vector<float>();
  ASSERT_EQ(sig.size(), 6u);
  EXPECT_NEAR(sig[0], std::sqrt((1 - ac[801]) / ac[801]), 1e-4);
  EXPECT_EQ(sig[5], 0.0f);
  EXPECT_NEAR(s->init_noise_sigma(), std::sqrt(sig[0] * sig[0] + 1.0), 1e-4);  // leading spacing
  Tensor x = Tensor::from_vector<float>({2.0f}, {1, 1});
  EXPECT_NEAR(s->scale_model_input(x, 0).item(), 2.0 / std::sqrt(sig[0] * sig[0] + 1.0), 1e-5);
  Tensor eps = Tensor::from_vector<float>({0.5f}, {1, 1});
  // epsilon: x0 = x - sigma * eps; x' = x + (x - x0) / sigma * (sigma_next - sigma) = x + eps * (sigma_next - sigma)
  EXPECT_NEAR(s->step(eps, 0, x, nullptr).item(), 2.0 + 0.5 * (double(sig[1]) - sig[0]), 1e-4);
}

TEST(Schedulers, EulerAncestralIsSeededAndExactOnLastStep) {
  auto a = make(sd_config("EulerAncestralDiscreteScheduler"));
  auto b = make(sd_config("EulerAncestralDiscreteScheduler"));
  a->set_timesteps(3);
  b->set_timesteps(3);
  TorchGenerator ga(7), gb(7);
  Tensor x = Tensor::from_vector<float>({1.0f, -2.0f, 0.5f}, {1, 3});
  Tensor eps = Tensor::from_vector<float>({0.1f, 0.2f, 0.3f}, {1, 3});
  EXPECT_EQ(a->step(eps, 0, x, &ga).to_vector<float>(), b->step(eps, 0, x, &gb).to_vector<float>());
  // The last step goes to sigma 0: sigma_up = sigma_down = 0, so x' = x - sigma * eps - no noise.
  auto sig = a->sigmas().to_vector<float>();
  auto y = a->step(eps, 2, x, &ga).to_vector<float>();
  EXPECT_NEAR(y[0], 1.0 - sig[2] * 0.1, 1e-5);
  EXPECT_THROW(a->step(eps, 0, x, nullptr), Error);
}

TEST(Schedulers, PNDMPlmsWarmupOrderAndFirstStep) {
  auto s = make(sd_config("PNDMScheduler"));
  s->set_timesteps(5);
  // skip_prk_steps: the second timestep is repeated (diffusers' PLMS warm-up).
  EXPECT_EQ(ints(s->timesteps()), (std::vector<int64_t>{801, 601, 601, 401, 201, 1}));
  auto ac = sd_alphas_cumprod();
  Tensor x = Tensor::from_vector<float>({1.0f}, {1, 1});
  Tensor zero = Tensor::from_vector<float>({0.0f}, {1, 1});
  // With a zero model output the step is the sample coefficient sqrt(a_prev / a_t) alone.
  EXPECT_NEAR(s->step(zero, 0, x, nullptr).item(), std::sqrt(ac[601] / ac[801]), 1e-5);
  // Step 1 (the repeat) averages with the stored output and restarts from the stored sample: still x at t=801.
  EXPECT_NEAR(s->step(zero, 1, x, nullptr).item(), std::sqrt(ac[601] / ac[801]), 1e-5);
  json prk = sd_config("PNDMScheduler");
  prk["skip_prk_steps"] = false;
  auto p = make(prk);
  p->set_timesteps(5);
  // Runge-Kutta warm-up: 12 PRK timesteps (three steps, four evaluations each, half-steps of 100) then PLMS.
  EXPECT_EQ(ints(p->timesteps()),
            (std::vector<int64_t>{801, 701, 701, 601, 601, 501, 501, 401, 401, 301, 301, 201, 201, 1}));
}

TEST(Schedulers, UnknownClassAndBadFieldsNameTheField) {
  try {
    make(json{{"_class_name", "FancyScheduler"}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
    EXPECT_NE(std::string(e.what()).find("FancyScheduler"), std::string::npos);
  }
  json c = sd_config("DDIMScheduler");
  c["timestep_spacing"] = "random";
  auto s = make(c);
  try {
    s->set_timesteps(4);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("timestep_spacing"), std::string::npos);
  }
}

}  // namespace
}  // namespace ia::diffusion
