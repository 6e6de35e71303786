// diffusers' DDIMScheduler (Song et al. 2020): deterministic (eta = 0) implicit sampling over integer timesteps,
// with clip_sample and dynamic thresholding of the predicted x0.
#include <algorithm>
#include <cmath>

#include "models/diffusion/schedulers/scheduler.h"
#include "ops/ops.h"

namespace ia::diffusion {
namespace {

Tensor scalar(float v) { return Tensor::scalar(v); }

class DDIM : public Scheduler {
 public:
  explicit DDIM(const ModelConfig& c) : Scheduler(c, "DDIMScheduler") {
    IA_CHECK(prediction_type_ == "epsilon" || prediction_type_ == "sample" || prediction_type_ == "v_prediction",
             ErrorKind::Unsupported, "{}: unsupported prediction_type '{}' (epsilon, sample, v_prediction)",
             c.source(), prediction_type_);
    final_alpha_cumprod_ = c.flag_or("set_alpha_to_one", true) ? 1.0f : schedule_.alphas_cumprod[0];
  }

  void set_timesteps(int64_t n) override {
    const int64_t T = schedule_.num_train_timesteps;
    std::vector<double> ts = spaced_timesteps(config_, T, n, /*integer_linspace=*/true);
    std::vector<int64_t> ti;
    for (double t : ts) ti.push_back(static_cast<int64_t>(t));
    timesteps_ = Tensor::from_vector<int64_t>(ti, {static_cast<int64_t>(ti.size())});
    num_inference_steps_ = n;
  }

  Tensor step(const Tensor& model_output, int64_t i, const Tensor& sample, TorchGenerator*) override {
    check_step(i);
    const int64_t T = schedule_.num_train_timesteps;
    const int64_t t = timesteps_.data<int64_t>()[i];
    const int64_t prev_t = t - T / num_inference_steps_;
    IA_CHECK(t >= 0 && t < T, ErrorKind::InvalidArgument, "{}: timestep {} outside [0, {})", class_name_, t, T);
    const float a_t = schedule_.alphas_cumprod[static_cast<size_t>(t)];
    const float a_prev = prev_t >= 0 ? schedule_.alphas_cumprod[static_cast<size_t>(prev_t)] : final_alpha_cumprod_;
    const float b_t = 1.0f - a_t;
    Tensor pred_x0, pred_eps;
    if (prediction_type_ == "epsilon") {
      pred_x0 = ops::div(ops::sub(sample, ops::mul(scalar(std::sqrt(b_t)), model_output)), scalar(std::sqrt(a_t)));
      pred_eps = model_output;
    } else if (prediction_type_ == "sample") {
      pred_x0 = model_output;
      pred_eps = ops::div(ops::sub(sample, ops::mul(scalar(std::sqrt(a_t)), pred_x0)), scalar(std::sqrt(b_t)));
    } else {
      pred_x0 = ops::sub(ops::mul(scalar(std::sqrt(a_t)), sample), ops::mul(scalar(std::sqrt(b_t)), model_output));
      pred_eps = ops::add(ops::mul(scalar(std::sqrt(a_t)), model_output), ops::mul(scalar(std::sqrt(b_t)), sample));
    }
    if (config_.flag_or("thresholding", false)) {
      pred_x0 = threshold(pred_x0);
    } else if (config_.flag_or("clip_sample", true)) {
      const float r = static_cast<float>(config_.number_or("clip_sample_range", 1.0));
      pred_x0 = ops::binary(BinaryOp::Min, ops::binary(BinaryOp::Max, pred_x0, scalar(-r)), scalar(r));
    }
    // eta = 0: no variance term (the pipelines' default).
    Tensor direction = ops::mul(scalar(std::sqrt(1.0f - a_prev)), pred_eps);
    return ops::add(ops::mul(scalar(std::sqrt(a_prev)), pred_x0), direction);
  }

 private:
  // _threshold_sample: per batch row, s = clamp(quantile(|x|, ratio), 1, sample_max_value); x = clamp(x, -s, s) / s.
  Tensor threshold(const Tensor& x) const {
    const double ratio = config_.number_or("dynamic_thresholding_ratio", 0.995);
    const float max_value = static_cast<float>(config_.number_or("sample_max_value", 1.0));
    Tensor c = x.contiguous().clone();
    const int64_t B = c.dim(0), n = c.numel() / B;
    float* p = c.data<float>();
    for (int64_t b = 0; b < B; ++b) {
      float* row = p + b * n;
      std::vector<float> a(row, row + n);
      for (float& v : a) v = std::fabs(v);
      std::sort(a.begin(), a.end());
      const double pos = ratio * double(n - 1);  // torch.quantile, linear interpolation
      const int64_t lo = static_cast<int64_t>(std::floor(pos)), hi = std::min(lo + 1, n - 1);
      const float s = std::clamp(static_cast<float>(a[lo] + (a[hi] - a[lo]) * (pos - double(lo))), 1.0f, max_value);
      for (int64_t k = 0; k < n; ++k) row[k] = std::clamp(row[k], -s, s) / s;
    }
    return c;
  }

  float final_alpha_cumprod_ = 1.0f;
  int64_t num_inference_steps_ = 0;
};

}  // namespace

IA_REGISTER_SCHEDULER(DDIMScheduler, [](const ModelConfig& c) -> std::unique_ptr<Scheduler> {
  return std::make_unique<DDIM>(c);
})

}  // namespace ia::diffusion
