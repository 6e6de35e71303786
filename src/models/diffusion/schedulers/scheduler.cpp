#include "models/diffusion/schedulers/scheduler.h"

#include <cmath>
#include <map>

#include "core/error.h"

namespace ia::diffusion {
namespace {

// torch.linspace(start, end, steps, dtype=float32): the first half counts up from start, the second down from end.
std::vector<float> torch_linspace_f32(float start, float end, int64_t steps) {
  std::vector<float> out(static_cast<size_t>(steps));
  if (steps == 1) {
    out[0] = start;
    return out;
  }
  const float step = (end - start) / static_cast<float>(steps - 1);
  const int64_t halfway = steps / 2;
  for (int64_t i = 0; i < steps; ++i)
    out[static_cast<size_t>(i)] =
        i < halfway ? start + step * static_cast<float>(i) : end - step * static_cast<float>(steps - i - 1);
  return out;
}

// diffusers' betas_for_alpha_bar with the cosine alpha_bar (squaredcos_cap_v2), in Python floats.
std::vector<float> cosine_betas(int64_t n, double max_beta = 0.999) {
  auto alpha_bar = [](double t) {
    const double c = std::cos((t + 0.008) / 1.008 * M_PI / 2.0);
    return c * c;
  };
  std::vector<float> betas;
  for (int64_t i = 0; i < n; ++i) {
    const double t1 = double(i) / double(n), t2 = double(i + 1) / double(n);
    betas.push_back(static_cast<float>(std::min(1.0 - alpha_bar(t2) / alpha_bar(t1), max_beta)));
  }
  return betas;
}

// diffusers' rescale_zero_terminal_snr (float32 tensor math).
std::vector<float> rescale_zero_terminal_snr(const std::vector<float>& betas) {
  const size_t n = betas.size();
  std::vector<float> sqrt_bar(n);
  double acc = 1.0;
  for (size_t i = 0; i < n; ++i) {
    acc *= static_cast<double>(1.0f - betas[i]);
    sqrt_bar[i] = std::sqrt(static_cast<float>(acc));
  }
  const float s0 = sqrt_bar[0], sT = sqrt_bar[n - 1];
  const float factor = s0 / (s0 - sT);
  std::vector<float> bar(n);
  for (size_t i = 0; i < n; ++i) {
    const float s = (sqrt_bar[i] - sT) * factor;
    bar[i] = s * s;
  }
  std::vector<float> out(n);
  out[0] = 1.0f - bar[0];
  for (size_t i = 1; i < n; ++i) out[i] = 1.0f - bar[i] / bar[i - 1];
  return out;
}

std::map<std::string, SchedulerFactory>& scheduler_registry() {
  static std::map<std::string, SchedulerFactory> r;
  return r;
}

}  // namespace

NoiseSchedule NoiseSchedule::from_config(const ModelConfig& c) {
  NoiseSchedule s;
  s.num_train_timesteps = c.dim_or("num_train_timesteps", 1000, 1);
  const int64_t T = s.num_train_timesteps;
  if (c.has("trained_betas")) {
    const auto& tb = c.json()["trained_betas"];
    IA_CHECK(tb.is_array() && static_cast<int64_t>(tb.size()) == T, ErrorKind::Format,
             "{}: field 'trained_betas' must be a list of num_train_timesteps ({}) numbers", c.source(), T);
    for (const auto& b : tb) s.betas.push_back(b.get<float>());
  } else {
    const std::string kind = c.str_or("beta_schedule", "linear");
    const double beta_start = c.number_or("beta_start", 0.0001), beta_end = c.number_or("beta_end", 0.02);
    if (kind == "linear") {
      s.betas = torch_linspace_f32(static_cast<float>(beta_start), static_cast<float>(beta_end), T);
    } else if (kind == "scaled_linear") {
      s.betas = torch_linspace_f32(static_cast<float>(std::sqrt(beta_start)), static_cast<float>(std::sqrt(beta_end)), T);
      for (float& b : s.betas) b = b * b;
    } else if (kind == "squaredcos_cap_v2") {
      s.betas = cosine_betas(T);
    } else {
      fail(ErrorKind::Unsupported, "{}: unsupported beta_schedule '{}' (linear, scaled_linear, squaredcos_cap_v2)",
           c.source(), kind);
    }
  }
  if (c.flag_or("rescale_betas_zero_snr", false)) s.betas = rescale_zero_terminal_snr(s.betas);
  double acc = 1.0;  // torch.cumprod accumulates float32 in double on CPU
  for (float b : s.betas) {
    const float a = 1.0f - b;
    s.alphas.push_back(a);
    acc *= static_cast<double>(a);
    s.alphas_cumprod.push_back(static_cast<float>(acc));
  }
  return s;
}

std::vector<double> spaced_timesteps(const ModelConfig& c, int64_t T, int64_t n, bool integer_linspace) {
  IA_CHECK(n >= 1 && n <= T, ErrorKind::InvalidArgument,
           "{}: num_inference_steps {} must be in [1, num_train_timesteps = {}]", c.source(), n, T);
  const std::string spacing = c.str_or("timestep_spacing", "linspace");
  std::vector<double> ts;
  if (spacing == "linspace") {
    // np.linspace: i * step, the last point exactly stop
    const double step = n == 1 ? 0.0 : double(T - 1) / double(n - 1);
    for (int64_t i = n - 1; i >= 0; --i) {
      const double v = (i == n - 1 && n > 1) ? double(T - 1) : double(i) * step;
      ts.push_back(integer_linspace ? std::nearbyint(v) : static_cast<double>(static_cast<float>(v)));
    }
  } else if (spacing == "leading") {
    const int64_t ratio = T / n, offset = c.dim_or("steps_offset", 0, 0);
    for (int64_t i = n - 1; i >= 0; --i) ts.push_back(double(i * ratio + offset));
  } else if (spacing == "trailing") {
    // np.round(np.arange(T, 0, -T / n)) - 1
    const double step = -double(T) / double(n);
    const int64_t len = static_cast<int64_t>(std::ceil((0.0 - double(T)) / step));
    for (int64_t i = 0; i < len; ++i) ts.push_back(std::nearbyint(double(T) + double(i) * step) - 1.0);
  } else {
    fail(ErrorKind::Unsupported, "{}: unsupported timestep_spacing '{}' (linspace, leading, trailing)", c.source(),
         spacing);
  }
  return ts;
}

Scheduler::Scheduler(const ModelConfig& c, std::string class_name)
    : config_(c), class_name_(std::move(class_name)), schedule_(NoiseSchedule::from_config(c)) {
  prediction_type_ = c.str_or("prediction_type", "epsilon");
}

double Scheduler::timestep(int64_t i) const {
  check_step(i);
  if (timesteps_.dtype() == DType::I64) return static_cast<double>(timesteps_.data<int64_t>()[i]);
  return static_cast<double>(timesteps_.data<float>()[i]);
}

void Scheduler::check_step(int64_t i) const {
  IA_CHECK(timesteps_.defined(), ErrorKind::InvalidArgument, "{}: set_timesteps was not called", class_name_);
  IA_CHECK(i >= 0 && i < timesteps_.numel(), ErrorKind::InvalidArgument, "{}: step index {} outside [0, {})",
           class_name_, i, timesteps_.numel());
}

void register_scheduler(const std::string& class_name, SchedulerFactory f) {
  scheduler_registry()[class_name] = std::move(f);
}

std::vector<std::string> registered_schedulers() {
  std::vector<std::string> out;
  for (const auto& [k, v] : scheduler_registry()) out.push_back(k);
  return out;
}

std::unique_ptr<Scheduler> make_scheduler(const ModelConfig& c) {
  const std::string cls = c.str("_class_name");
  auto it = scheduler_registry().find(cls);
  if (it == scheduler_registry().end()) {
    std::string known;
    for (const auto& n : registered_schedulers()) known += (known.empty() ? "" : ", ") + n;
    fail(ErrorKind::Unsupported, "{}: unsupported scheduler _class_name '{}' (supported: {})", c.source(), cls, known);
  }
  return it->second(c);
}

std::unique_ptr<Scheduler> load_scheduler(const std::string& path) { return make_scheduler(ModelConfig::load(path)); }

}  // namespace ia::diffusion
