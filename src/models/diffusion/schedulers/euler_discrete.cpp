// diffusers' EulerDiscreteScheduler (Karras et al. Algorithm 2, deterministic with s_churn = 0) and
// EulerAncestralDiscreteScheduler (ancestral sampling: a sigma_up noise draw per step).
#include <algorithm>
#include <cmath>

#include "models/diffusion/schedulers/scheduler.h"
#include "ops/ops.h"

namespace ia::diffusion {
namespace {

Tensor scalar(float v) { return Tensor::scalar(v); }

// np.interp(x, arange(len(fp)), fp) in float64.
double interp_index(double x, const std::vector<double>& fp) {
  const int64_t n = static_cast<int64_t>(fp.size());
  if (x <= 0.0) return fp[0];
  if (x >= double(n - 1)) return fp[static_cast<size_t>(n - 1)];
  const int64_t j = static_cast<int64_t>(std::floor(x));
  if (x == double(j)) return fp[static_cast<size_t>(j)];
  const double slope = fp[static_cast<size_t>(j + 1)] - fp[static_cast<size_t>(j)];
  return slope * (x - double(j)) + fp[static_cast<size_t>(j)];
}

// EulerDiscreteScheduler._sigma_to_t: the fractional training timestep whose log-sigma matches.
double sigma_to_t(double sigma, const std::vector<float>& log_sigmas) {
  const double log_sigma = std::log(std::max(sigma, 1e-10));
  const int64_t n = static_cast<int64_t>(log_sigmas.size());
  int64_t low = 0;
  for (int64_t i = 0; i < n; ++i)
    if (log_sigma - double(log_sigmas[static_cast<size_t>(i)]) >= 0) low = i;
  low = std::min(low, n - 2);
  const double lo = log_sigmas[static_cast<size_t>(low)], hi = log_sigmas[static_cast<size_t>(low + 1)];
  const double w = std::clamp((lo - log_sigma) / (lo - hi), 0.0, 1.0);
  return (1.0 - w) * double(low) + w * double(low + 1);
}

class EulerDiscrete : public Scheduler {
 public:
  EulerDiscrete(const ModelConfig& c, std::string cls, bool ancestral) : Scheduler(c, std::move(cls)), ancestral_(ancestral) {
    if (c.flag_or("rescale_betas_zero_snr", false)) schedule_.alphas_cumprod.back() = std::ldexp(1.0f, -24);
    IA_CHECK(prediction_type_ == "epsilon" || prediction_type_ == "v_prediction" ||
                 (!ancestral && (prediction_type_ == "sample" || prediction_type_ == "original_sample")),
             ErrorKind::Unsupported, "{}: unsupported prediction_type '{}' for {}", c.source(), prediction_type_,
             class_name_);
    if (!ancestral) {
      const int n_modes = int(c.flag_or("use_karras_sigmas", false)) + int(c.flag_or("use_exponential_sigmas", false)) +
                          int(c.flag_or("use_beta_sigmas", false));
      IA_CHECK(n_modes <= 1, ErrorKind::Format,
               "{}: only one of use_karras_sigmas, use_exponential_sigmas, use_beta_sigmas may be true", c.source());
      IA_CHECK(!c.flag_or("use_beta_sigmas", false), ErrorKind::Unsupported,
               "{}: use_beta_sigmas (scipy beta ppf) is not supported", c.source());
    }
  }

  void set_timesteps(int64_t n) override {
    const int64_t T = schedule_.num_train_timesteps;
    std::vector<double> ts = spaced_timesteps(config_, T, n, /*integer_linspace=*/false);
    for (double& t : ts) t = static_cast<double>(static_cast<float>(t));
    std::vector<float> train_sigmas, log_sigmas;
    std::vector<double> fp;
    for (float a : schedule_.alphas_cumprod) {
      const float s = std::sqrt((1.0f - a) / a);
      train_sigmas.push_back(s);
      log_sigmas.push_back(std::log(s));
      fp.push_back(s);
    }
    std::vector<double> sig;
    const std::string interp = ancestral_ ? "linear" : config_.str_or("interpolation_type", "linear");
    if (interp == "linear") {
      for (double t : ts) sig.push_back(interp_index(t, fp));
    } else if (interp == "log_linear") {
      // torch.linspace(log(sigma_min), log(sigma_max), n + 1).exp()
      const float lo = std::log(train_sigmas.back()), hi = std::log(train_sigmas.front());
      const float step = (lo - hi) / static_cast<float>(n);
      for (int64_t i = 0; i <= n; ++i) sig.push_back(std::exp(hi + step * static_cast<float>(i)));
    } else {
      fail(ErrorKind::Unsupported, "{}: unsupported interpolation_type '{}' (linear, log_linear)", config_.source(),
           interp);
    }
    if (!ancestral_ && (config_.flag_or("use_karras_sigmas", false) || config_.flag_or("use_exponential_sigmas", false))) {
      const double smin = config_.number_or("sigma_min", sig.back()), smax = config_.number_or("sigma_max", sig.front());
      std::vector<double> out;
      for (int64_t i = 0; i < n; ++i) {
        const double ramp = n == 1 ? 0.0 : (i == n - 1 ? 1.0 : double(i) * (1.0 / double(n - 1)));
        if (config_.flag_or("use_karras_sigmas", false)) {
          constexpr double rho = 7.0;
          const double min_inv = std::pow(smin, 1.0 / rho), max_inv = std::pow(smax, 1.0 / rho);
          out.push_back(std::pow(max_inv + ramp * (min_inv - max_inv), rho));
        } else {
          const double a = std::log(smax), b = std::log(smin);
          const double step = n == 1 ? 0.0 : (b - a) / double(n - 1);
          out.push_back(std::exp(i == n - 1 && n > 1 ? b : a + double(i) * step));
        }
      }
      sig = out;
      ts.clear();
      for (double s : sig) ts.push_back(static_cast<double>(static_cast<float>(sigma_to_t(s, log_sigmas))));
    }
    const std::string final_type = ancestral_ ? "zero" : config_.str_or("final_sigmas_type", "zero");
    if (final_type == "zero") {
      sig.push_back(0.0);
    } else if (final_type == "sigma_min") {
      sig.push_back(std::sqrt((1.0f - schedule_.alphas_cumprod[0]) / schedule_.alphas_cumprod[0]));
    } else {
      fail(ErrorKind::Unsupported, "{}: unsupported final_sigmas_type '{}' (zero, sigma_min)", config_.source(),
           final_type);
    }
    std::vector<float> sig32(sig.begin(), sig.end());
    sigmas_ = Tensor::from_vector<float>(sig32, {static_cast<int64_t>(sig32.size())});
    std::vector<float> ts32;
    const bool continuous = !ancestral_ && config_.str_or("timestep_type", "discrete") == "continuous" &&
                            prediction_type_ == "v_prediction";
    for (size_t i = 0; i < static_cast<size_t>(n); ++i)
      ts32.push_back(continuous ? 0.25f * std::log(sig32[i]) : static_cast<float>(ts[i]));
    timesteps_ = Tensor::from_vector<float>(ts32, {n});
  }

  float init_noise_sigma() const override {
    IA_CHECK(sigmas_.defined(), ErrorKind::InvalidArgument, "{}: set_timesteps was not called", class_name_);
    const float* s = sigmas_.data<float>();
    const float max_sigma = *std::max_element(s, s + sigmas_.numel());
    const std::string spacing = config_.str_or("timestep_spacing", "linspace");
    if (spacing == "linspace" || spacing == "trailing") return max_sigma;
    return std::sqrt(max_sigma * max_sigma + 1.0f);
  }

  Tensor scale_model_input(const Tensor& sample, int64_t i) const override {
    check_step(i);
    const float sigma = sigmas_.data<float>()[i];
    return ops::div(sample, scalar(std::sqrt(sigma * sigma + 1.0f)));
  }

  Tensor step(const Tensor& model_output, int64_t i, const Tensor& sample, TorchGenerator* gen) override {
    check_step(i);
    const float sigma = sigmas_.data<float>()[i], sigma_next = sigmas_.data<float>()[i + 1];
    Tensor pred_x0;
    if (prediction_type_ == "epsilon") {
      pred_x0 = ops::sub(sample, ops::mul(scalar(sigma), model_output));
    } else if (prediction_type_ == "v_prediction") {
      const float s2 = sigma * sigma + 1.0f;
      pred_x0 = ops::add(ops::mul(model_output, scalar(-sigma / std::sqrt(s2))), ops::div(sample, scalar(s2)));
    } else {
      pred_x0 = model_output;
    }
    Tensor derivative = ops::div(ops::sub(sample, pred_x0), scalar(sigma));
    if (!ancestral_) return ops::add(sample, ops::mul(derivative, scalar(sigma_next - sigma)));
    IA_CHECK(gen != nullptr, ErrorKind::InvalidArgument, "{}: step needs a random generator", class_name_);
    const float up = std::sqrt(sigma_next * sigma_next * (sigma * sigma - sigma_next * sigma_next) / (sigma * sigma));
    const float down = std::sqrt(sigma_next * sigma_next - up * up);
    Tensor prev = ops::add(sample, ops::mul(derivative, scalar(down - sigma)));
    Tensor noise = gen->randn(model_output.shape());
    return ops::add(prev, ops::mul(noise, scalar(up)));
  }

 private:
  bool ancestral_;
};

}  // namespace

IA_REGISTER_SCHEDULER(EulerDiscreteScheduler, [](const ModelConfig& c) -> std::unique_ptr<Scheduler> {
  return std::make_unique<EulerDiscrete>(c, "EulerDiscreteScheduler", false);
})
IA_REGISTER_SCHEDULER(EulerAncestralDiscreteScheduler, [](const ModelConfig& c) -> std::unique_ptr<Scheduler> {
  return std::make_unique<EulerDiscrete>(c, "EulerAncestralDiscreteScheduler", true);
})

}  // namespace ia::diffusion
