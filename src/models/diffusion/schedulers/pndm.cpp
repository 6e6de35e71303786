// diffusers' PNDMScheduler (pseudo numerical methods, Liu et al. 2022): Runge-Kutta warm-up steps (unless
// skip_prk_steps, as Stable Diffusion configures it) followed by linear multistep (PLMS) steps over integer timesteps.
#include <algorithm>
#include <cmath>

#include "models/diffusion/schedulers/scheduler.h"
#include "ops/ops.h"

namespace ia::diffusion {
namespace {

Tensor scalar(float v) { return Tensor::scalar(v); }
Tensor lin(float a, const Tensor& x) { return ops::mul(scalar(a), x); }

class PNDM : public Scheduler {
 public:
  explicit PNDM(const ModelConfig& c) : Scheduler(c, "PNDMScheduler") {
    IA_CHECK(prediction_type_ == "epsilon" || prediction_type_ == "v_prediction", ErrorKind::Unsupported,
             "{}: unsupported prediction_type '{}' for PNDMScheduler (epsilon, v_prediction)", c.source(),
             prediction_type_);
    final_alpha_cumprod_ = c.flag_or("set_alpha_to_one", false) ? 1.0f : schedule_.alphas_cumprod[0];
    skip_prk_ = c.flag_or("skip_prk_steps", false);
  }

  void set_timesteps(int64_t n) override {
    const int64_t T = schedule_.num_train_timesteps;
    num_inference_steps_ = n;
    // diffusers builds PNDM's _timesteps ascending; spaced_timesteps gives them descending.
    std::vector<double> desc = spaced_timesteps(config_, T, n, /*integer_linspace=*/true);
    std::vector<int64_t> ts(desc.rbegin(), desc.rend());
    const int64_t m = static_cast<int64_t>(ts.size());
    prk_.clear();
    std::vector<int64_t> plms;
    if (skip_prk_) {
      // concatenate([ts[:-1], ts[-2:-1], ts[-1:]])[::-1]
      std::vector<int64_t> cat(ts.begin(), ts.end() - 1);
      if (m >= 2) cat.push_back(ts[static_cast<size_t>(m - 2)]);
      cat.push_back(ts.back());
      plms.assign(cat.rbegin(), cat.rend());
    } else {
      const int64_t half = T / n / 2;
      std::vector<int64_t> base;  // ts[-pndm_order:].repeat(2) + tile([0, half], pndm_order), pndm_order = 4
      for (int64_t k = std::max<int64_t>(m - 4, 0); k < m; ++k) {
        base.push_back(ts[static_cast<size_t>(k)]);
        base.push_back(ts[static_cast<size_t>(k)] + half);
      }
      std::vector<int64_t> rep;  // base[:-1].repeat(2)[1:-1]
      for (size_t i = 0; i + 1 < base.size(); ++i) rep.insert(rep.end(), {base[i], base[i]});
      std::vector<int64_t> mid(rep.begin() + 1, rep.end() - 1);
      prk_.assign(mid.rbegin(), mid.rend());
      for (int64_t k = m - 4; k >= 0; --k) plms.push_back(ts[static_cast<size_t>(k)]);
    }
    std::vector<int64_t> all = prk_;
    all.insert(all.end(), plms.begin(), plms.end());
    timesteps_ = Tensor::from_vector<int64_t>(all, {static_cast<int64_t>(all.size())});
    ets_.clear();
    counter_ = 0;
    cur_model_output_ = Tensor();
    cur_sample_ = Tensor();
  }

  Tensor step(const Tensor& model_output, int64_t i, const Tensor& sample, TorchGenerator*) override {
    check_step(i);
    const int64_t t = timesteps_.data<int64_t>()[i];
    if (counter_ < static_cast<int64_t>(prk_.size()) && !skip_prk_) return step_prk(model_output, t, sample);
    return step_plms(model_output, t, sample);
  }

 private:
  Tensor step_prk(const Tensor& mo_in, int64_t t, const Tensor& sample) {
    const int64_t T = schedule_.num_train_timesteps;
    const int64_t diff = counter_ % 2 ? 0 : T / num_inference_steps_ / 2;
    const int64_t prev_t = t - diff;
    const int64_t timestep = prk_[static_cast<size_t>(counter_ / 4 * 4)];
    Tensor mo = mo_in;
    auto acc = [&](float w) {
      Tensor add = lin(w, mo);
      cur_model_output_ = cur_model_output_.defined() ? ops::add(cur_model_output_, add) : add;
    };
    if (counter_ % 4 == 0) {
      acc(1.0f / 6.0f);
      ets_.push_back(mo);
      cur_sample_ = sample;
    } else if ((counter_ - 1) % 4 == 0 || (counter_ - 2) % 4 == 0) {
      acc(1.0f / 3.0f);
    } else {
      Tensor sixth = lin(1.0f / 6.0f, mo);
      mo = cur_model_output_.defined() ? ops::add(cur_model_output_, sixth) : sixth;
      cur_model_output_ = Tensor();
    }
    const Tensor& cur = cur_sample_.defined() ? cur_sample_ : sample;
    Tensor prev = prev_sample(cur, timestep, prev_t, mo);
    ++counter_;
    return prev;
  }

  Tensor step_plms(const Tensor& mo_in, int64_t t, const Tensor& sample_in) {
    const int64_t T = schedule_.num_train_timesteps;
    IA_CHECK(skip_prk_ || ets_.size() >= 3, ErrorKind::InvalidArgument,
             "PNDMScheduler: PLMS step before the Runge-Kutta warm-up");
    int64_t timestep = t, prev_t = t - T / num_inference_steps_;
    if (counter_ != 1) {
      if (ets_.size() > 3) ets_.erase(ets_.begin(), ets_.end() - 3);
      ets_.push_back(mo_in);
    } else {
      prev_t = t;
      timestep = t + T / num_inference_steps_;
    }
    Tensor mo = mo_in, sample = sample_in;
    const size_t n = ets_.size();
    if (n == 1 && counter_ == 0) {
      cur_sample_ = sample;
    } else if (n == 1 && counter_ == 1) {
      mo = ops::div(ops::add(mo, ets_.back()), scalar(2.0f));
      sample = cur_sample_;
      cur_sample_ = Tensor();
    } else if (n == 2) {
      mo = ops::div(ops::sub(lin(3.0f, ets_[n - 1]), ets_[n - 2]), scalar(2.0f));
    } else if (n == 3) {
      mo = ops::div(ops::add(ops::sub(lin(23.0f, ets_[n - 1]), lin(16.0f, ets_[n - 2])), lin(5.0f, ets_[n - 3])),
                    scalar(12.0f));
    } else {
      Tensor s = ops::sub(ops::add(ops::sub(lin(55.0f, ets_[n - 1]), lin(59.0f, ets_[n - 2])), lin(37.0f, ets_[n - 3])),
                          lin(9.0f, ets_[n - 4]));
      mo = lin(1.0f / 24.0f, s);
    }
    Tensor prev = prev_sample(sample, timestep, prev_t, mo);
    ++counter_;
    return prev;
  }

  // PNDMScheduler._get_prev_sample (formula (9) of the paper).
  Tensor prev_sample(const Tensor& sample, int64_t t, int64_t prev_t, Tensor mo) const {
    const int64_t T = schedule_.num_train_timesteps;
    IA_CHECK(t >= 0 && t < T && prev_t < T, ErrorKind::InvalidArgument, "PNDMScheduler: timestep {} outside [0, {})",
             t, T);
    const float a_t = schedule_.alphas_cumprod[static_cast<size_t>(t)];
    const float a_prev = prev_t >= 0 ? schedule_.alphas_cumprod[static_cast<size_t>(prev_t)] : final_alpha_cumprod_;
    const float b_t = 1.0f - a_t, b_prev = 1.0f - a_prev;
    if (prediction_type_ == "v_prediction") mo = ops::add(lin(std::sqrt(a_t), mo), lin(std::sqrt(b_t), sample));
    const float sample_coeff = std::sqrt(a_prev / a_t);
    const float denom = a_t * std::sqrt(b_prev) + std::sqrt(a_t * b_t * a_prev);
    return ops::sub(lin(sample_coeff, sample), ops::div(lin(a_prev - a_t, mo), scalar(denom)));
  }

  float final_alpha_cumprod_ = 1.0f;
  bool skip_prk_ = false;
  int64_t num_inference_steps_ = 0, counter_ = 0;
  std::vector<int64_t> prk_;
  std::vector<Tensor> ets_;
  Tensor cur_model_output_, cur_sample_;
};

}  // namespace

IA_REGISTER_SCHEDULER(PNDMScheduler, [](const ModelConfig& c) -> std::unique_ptr<Scheduler> {
  return std::make_unique<PNDM>(c);
})

}  // namespace ia::diffusion
