// diffusers noise schedulers (scheduler_config.json): the shared training noise schedule (betas, alphas_cumprod)
// and the interface the denoising loop drives -- set_timesteps, scale_model_input, step -- with one
// implementation per diffusers class, registered by its _class_name.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/config.h"
#include "models/diffusion/torch_randn.h"

namespace ia::diffusion {

// The training schedule every diffusers scheduler builds in __init__ (float32, as torch computes it):
// trained_betas, or beta_schedule linear / scaled_linear / squaredcos_cap_v2, optionally rescaled to zero
// terminal SNR (rescale_betas_zero_snr).
struct NoiseSchedule {
  int64_t num_train_timesteps = 1000;
  std::vector<float> betas, alphas, alphas_cumprod;
  static NoiseSchedule from_config(const ModelConfig& c);
};

// Timesteps for `num_inference_steps` by timestep_spacing (linspace / leading / trailing), as the float values
// numpy produces before the scheduler casts them (DDIM to int64, Euler to float32).
std::vector<double> spaced_timesteps(const ModelConfig& c, int64_t num_train_timesteps, int64_t num_inference_steps,
                                     bool integer_linspace);

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  const std::string& class_name() const { return class_name_; }
  const std::string& prediction_type() const { return prediction_type_; }

  virtual void set_timesteps(int64_t num_inference_steps) = 0;
  // diffusers' scheduler.timesteps (int64 or float32 like the diffusers class) and, for sigma-based
  // schedulers, scheduler.sigmas (undefined otherwise).
  const Tensor& timesteps() const { return timesteps_; }
  const Tensor& sigmas() const { return sigmas_; }
  int64_t num_steps() const { return timesteps_.defined() ? timesteps_.numel() : 0; }
  // The model's timestep input at step i (a float, as the UNet's time projection receives it).
  double timestep(int64_t i) const;
  virtual float init_noise_sigma() const { return 1.0f; }
  // Steps are addressed by their index in timesteps() (diffusers derives the same index from the timestep).
  virtual Tensor scale_model_input(const Tensor& sample, int64_t step_index) const { return sample; }
  // One denoising step: the sample at timesteps()[i+1] from the model output at timesteps()[i].
  // `gen` supplies the noise of stochastic schedulers (may be null for deterministic ones).
  virtual Tensor step(const Tensor& model_output, int64_t step_index, const Tensor& sample, TorchGenerator* gen) = 0;

 protected:
  Scheduler(const ModelConfig& c, std::string class_name);
  void check_step(int64_t step_index) const;
  ModelConfig config_;
  std::string class_name_, prediction_type_;
  NoiseSchedule schedule_;
  Tensor timesteps_, sigmas_;
};

using SchedulerFactory = std::function<std::unique_ptr<Scheduler>(const ModelConfig&)>;
void register_scheduler(const std::string& class_name, SchedulerFactory f);
std::vector<std::string> registered_schedulers();
// From a parsed scheduler_config.json (by _class_name; Unsupported naming the class when absent).
std::unique_ptr<Scheduler> make_scheduler(const ModelConfig& c);
// From a scheduler_config.json file.
std::unique_ptr<Scheduler> load_scheduler(const std::string& path);

#define IA_REGISTER_SCHEDULER(CLASS, FACTORY)                                                            \
  namespace {                                                                                            \
  const bool ia_scheduler_registered_##CLASS = (::ia::diffusion::register_scheduler(#CLASS, FACTORY), true); \
  }

}  // namespace ia::diffusion
