#include "generation/generate.h"

#include "generation/cache_reorder.h"
#include "ops/ops.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>

namespace ia::generation {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

NamedTensors GenerationOutput::named(bool with_logits) const {
  NamedTensors out;
  out.emplace_back("generated_ids", ids);
  if (with_logits) out.emplace_back("generated_logits", logits);
  return out;
}

GenerationOutput generate(CausalLM& model, const Tensor& input_ids, const Tensor& attention_mask,
                          const GenerationSettings& s) {
  IA_CHECK(input_ids.defined() && input_ids.ndim() == 2, ErrorKind::InvalidArgument,
           "generate: input_ids must be [batch, seq], got {}", input_ids.defined() ? input_ids.describe() : "nothing");
  const int64_t B = input_ids.dim(0), P = input_ids.dim(1), V = model.vocab_size();
  IA_CHECK(B > 0 && P > 0, ErrorKind::InvalidArgument, "generate: empty prompt ({})", input_ids.describe());
  IA_CHECK(s.max_new_tokens >= 0, ErrorKind::InvalidArgument, "generate: max_new_tokens must be >= 0, got {}",
           s.max_new_tokens);
  const int64_t max_pos = model.max_positions();
  IA_CHECK(max_pos == 0 || P <= max_pos, ErrorKind::InvalidArgument,
           "generate: prompt of {} tokens exceeds the model's maximum of {} positions", P, max_pos);
  IA_CHECK(max_pos == 0 || P + s.max_new_tokens <= max_pos, ErrorKind::InvalidArgument,
           "generate: prompt ({}) + max_new_tokens ({}) exceeds the model's maximum of {} positions", P,
           s.max_new_tokens, max_pos);
  s.sampling.validate();
  IA_CHECK(!s.prompt_embeds.defined() || model.accepts_inputs_embeds(), ErrorKind::Unsupported,
           "generate: unsupported: {}/{} does not take inputs_embeds", model.model_type(), model.hf_class());
  IA_CHECK(!s.prompt_embeds.defined() ||
               (s.prompt_embeds.ndim() == 3 && s.prompt_embeds.dim(0) == B && s.prompt_embeds.dim(1) == P),
           ErrorKind::InvalidArgument, "generate: prompt_embeds {} for input_ids {}",
           s.prompt_embeds.defined() ? s.prompt_embeds.describe() : "", input_ids.describe());
  IA_CHECK(s.processors.repetition_penalty == 1.0f, ErrorKind::InvalidArgument,
           "generate: the repetition penalty belongs in sampling.repetition_penalty");
  IA_CHECK(s.processors.encoder_no_repeat_ngram_size == 0, ErrorKind::Unsupported,
           "generate: encoder_no_repeat_ngram_size is for encoder-decoder models (a decoder-only model has no encoder)");
  IA_CHECK(s.stop_strings.empty() || s.decode, ErrorKind::InvalidArgument,
           "generate: stop strings need a tokenizer to decode with");

  std::vector<int64_t> ids = input_ids.to(Device::cpu()).to_vector<int64_t>();
  for (int64_t t : ids)
    IA_CHECK(t >= 0 && t < V, ErrorKind::InvalidArgument, "generate: token id {} outside the vocabulary [0, {})", t, V);
  std::vector<int64_t> mask(B * P, 1);
  if (attention_mask.defined()) {
    IA_CHECK(attention_mask.ndim() == 2 && attention_mask.dim(0) == B && attention_mask.dim(1) == P,
             ErrorKind::InvalidArgument, "generate: attention_mask {} for input_ids {}", attention_mask.describe(),
             input_ids.describe());
    mask = attention_mask.to(Device::cpu()).to_vector<int64_t>();
  }
  const int64_t N = s.max_new_tokens;
  std::vector<std::vector<int64_t>> rows(B), masks(B);
  for (int64_t b = 0; b < B; ++b) {
    rows[b].assign(ids.begin() + b * P, ids.begin() + (b + 1) * P);
    masks[b].assign(mask.begin() + b * P, mask.begin() + (b + 1) * P);
    for (auto& m : masks[b]) m = m != 0;
  }
  GenerationOutput out;
  out.finish_reason.assign(B, "length");
  std::vector<float> logits_store;
  if (s.return_logits) logits_store.reserve(static_cast<size_t>(B * N * V));

  auto mask_tensor = [&]() {
    const int64_t T = static_cast<int64_t>(masks[0].size());
    Tensor m = Tensor::empty({B, T}, DType::I64);
    for (int64_t b = 0; b < B; ++b) std::memcpy(m.data<int64_t>() + b * T, masks[b].data(), T * sizeof(int64_t));
    return m;
  };

  if (N > 0) {
    auto state = s.new_state ? s.new_state(B, P + N) : model.new_state(B, P + N);
    Tensor pos = Tensor::empty({B, P}, DType::I64);
    for (int64_t b = 0; b < B; ++b) {
      int64_t run = 0;
      for (int64_t i = 0; i < P; ++i) {
        run += masks[b][i];
        pos.data<int64_t>()[b * P + i] = masks[b][i] ? run - 1 : 1;
      }
    }
    StepInput in;
    in.input_ids = Tensor::from_vector(ids, {B, P});
    in.inputs_embeds = s.prompt_embeds;
    in.attention_mask = mask_tensor();
    in.position_ids = pos;
    in.last_logits_only = true;
    in.hf_cache_compat = s.hf_cache_compat;
    auto t0 = std::chrono::steady_clock::now();
    Tensor logits = model.step(*state, in);
    out.prefill_seconds = seconds_since(t0);

    std::vector<Sampler> samplers;
    for (int64_t b = 0; b < B; ++b) samplers.emplace_back(s.sampling);
    std::vector<char> done(B, 0);
    std::vector<size_t> text_checked(B, 0);
    for (int64_t step = 0; step < N; ++step) {
      std::vector<float> last = logits.to_vector<float>();  // [B, 1, V]
      if (s.return_logits) logits_store.insert(logits_store.end(), last.begin(), last.end());
      std::vector<int64_t> next(B);
      for (int64_t b = 0; b < B; ++b) {
        if (done[b]) {
          next[b] = s.pad_token_id;
          continue;
        }
        std::vector<float> row(last.begin() + b * V, last.begin() + (b + 1) * V);
        if (step < s.min_new_tokens)
          for (int64_t e : s.eos_token_ids)
            if (e >= 0 && e < V) row[e] = -std::numeric_limits<float>::infinity();
        s.processors.apply(row, rows[b], {}, s.eos_token_ids, P + N);
        next[b] = samplers[b].next(row, rows[b]);
      }
      for (int64_t b = 0; b < B; ++b) {
        rows[b].push_back(next[b]);
        masks[b].push_back(1);
        if (done[b]) continue;
        if (std::find(s.eos_token_ids.begin(), s.eos_token_ids.end(), next[b]) != s.eos_token_ids.end()) {
          done[b] = 1;
          out.finish_reason[b] = "eos";
        } else if (!s.stop_strings.empty()) {
          std::vector<int64_t> gen(rows[b].begin() + P, rows[b].end());
          const std::string text = s.decode(gen);
          for (const auto& stop : s.stop_strings)
            if (!stop.empty() && text.find(stop, text_checked[b] > stop.size() ? text_checked[b] - stop.size() : 0) !=
                                     std::string::npos) {
              done[b] = 1;
              out.finish_reason[b] = "stop_string";
            }
          text_checked[b] = text.size();
        }
      }
      out.new_tokens = step + 1;
      if (s.on_tokens) s.on_tokens(step, next);
      if (step + 1 == N || std::all_of(done.begin(), done.end(), [](char d) { return d != 0; })) break;
      Tensor npos = Tensor::empty({B, 1}, DType::I64);
      for (int64_t b = 0; b < B; ++b) {
        int64_t count = 0;
        for (int64_t m : masks[b]) count += m;
        npos.data<int64_t>()[b] = count - 1;
      }
      StepInput di;
      di.input_ids = Tensor::from_vector(next, {B, 1});
      di.attention_mask = mask_tensor();
      di.position_ids = npos;
      di.last_logits_only = true;
      di.hf_cache_compat = s.hf_cache_compat;
      auto t1 = std::chrono::steady_clock::now();
      logits = model.step(*state, di);
      out.decode_step_seconds.push_back(seconds_since(t1));
    }
  }
  const int64_t n = out.new_tokens, T = P + n;
  out.ids = Tensor::empty({B, T}, DType::I64);
  for (int64_t b = 0; b < B; ++b) std::memcpy(out.ids.data<int64_t>() + b * T, rows[b].data(), T * sizeof(int64_t));
  if (s.return_logits) {
    out.logits = Tensor::empty({B, n, V}, DType::F32);
    float* lp = out.logits.data<float>();
    for (int64_t i = 0; i < n; ++i)
      for (int64_t b = 0; b < B; ++b)
        std::memcpy(lp + (b * n + i) * V, logits_store.data() + (i * B + b) * V, V * sizeof(float));
  }
  return out;
}

BeamSearchOutput generate_beams(CausalLM& model, const Tensor& input_ids, const Tensor& attention_mask,
                                const BeamSearchSettings& settings, const BeamConditioning& cond) {
  IA_CHECK(input_ids.defined() && input_ids.ndim() == 2 && input_ids.dim(0) > 0 && input_ids.dim(1) > 0,
           ErrorKind::InvalidArgument, "generate: input_ids must be [batch, seq>0], got {}",
           input_ids.defined() ? input_ids.describe() : "nothing");
  const int64_t B = input_ids.dim(0), P = input_ids.dim(1), V = model.vocab_size(), K = settings.num_beams;
  const int64_t R = B * K;
  IA_CHECK(settings.max_length > P, ErrorKind::InvalidArgument,
           "generate: max_length {} leaves no room after the {}-token prompt", settings.max_length, P);
  const int64_t max_pos = model.max_positions();
  IA_CHECK(max_pos == 0 || settings.max_length <= max_pos, ErrorKind::InvalidArgument,
           "generate: prompt ({}) + new tokens ({}) exceed the model's maximum of {} positions", P,
           settings.max_length - P, max_pos);
  const std::vector<int64_t> ids = input_ids.to(Device::cpu()).to(DType::I64).contiguous().to_vector<int64_t>();
  for (int64_t t : ids)
    IA_CHECK(t >= 0 && t < V, ErrorKind::InvalidArgument, "generate: token id {} outside the vocabulary [0, {})", t, V);
  const Tensor& embeds = cond.prompt_embeds;
  IA_CHECK(!embeds.defined() || model.accepts_inputs_embeds(), ErrorKind::Unsupported,
           "generate: unsupported: {}/{} does not take inputs_embeds", model.model_type(), model.hf_class());
  IA_CHECK(!embeds.defined() || (embeds.ndim() == 3 && embeds.dim(0) == B && embeds.dim(1) == P),
           ErrorKind::InvalidArgument, "generate: prompt_embeds {} for input_ids {}",
           embeds.defined() ? embeds.describe() : "", input_ids.describe());
  std::vector<int64_t> mask(B * P, 1);
  if (attention_mask.defined()) {
    IA_CHECK(attention_mask.shape() == input_ids.shape(), ErrorKind::InvalidArgument,
             "generate: attention_mask {} for input_ids {}", attention_mask.describe(), input_ids.describe());
    mask = attention_mask.to(Device::cpu()).to(DType::I64).contiguous().to_vector<int64_t>();
  }
  std::vector<std::vector<int64_t>> prompts(B), masks(R);
  for (int64_t b = 0; b < B; ++b) prompts[b].assign(ids.begin() + b * P, ids.begin() + (b + 1) * P);
  for (int64_t r = 0; r < R; ++r) {
    masks[r].assign(mask.begin() + (r / K) * P, mask.begin() + (r / K + 1) * P);
    for (auto& m : masks[r]) m = m != 0;
  }
  auto state = cond.new_state ? cond.new_state(R, settings.max_length) : model.new_state(R, settings.max_length);
  IA_CHECK(state->batch() == R, ErrorKind::InvalidArgument, "generate: a decoding state for {} rows, {} beam rows needed",
           state->batch(), R);
  StateReorder reorder_state;
  auto mask_tensor = [&]() {
    const int64_t T = static_cast<int64_t>(masks[0].size());
    Tensor m = Tensor::empty({R, T}, DType::I64);
    for (int64_t r = 0; r < R; ++r) std::memcpy(m.data<int64_t>() + r * T, masks[r].data(), T * sizeof(int64_t));
    return m;
  };
  BeamModel bm;
  bm.next_logits = [&](const std::vector<std::vector<int64_t>>& seqs) {
    StepInput in;
    in.last_logits_only = true;
    in.hf_cache_compat = cond.hf_cache_compat;
    if (state->length() == 0) {  // prefill: every beam row holds its batch row's prompt
      Tensor t = Tensor::empty({R, P}, DType::I64), pos = Tensor::empty({R, P}, DType::I64);
      for (int64_t r = 0; r < R; ++r) {
        int64_t run = 0;
        for (int64_t i = 0; i < P; ++i) {
          t.data<int64_t>()[r * P + i] = seqs[r][i];
          run += masks[r][i];
          pos.data<int64_t>()[r * P + i] = masks[r][i] ? run - 1 : 1;
        }
      }
      in.input_ids = t;
      in.position_ids = pos;
      if (embeds.defined()) in.inputs_embeds = repeat_rows(embeds, K);
    } else {
      Tensor t = Tensor::empty({R, 1}, DType::I64), pos = Tensor::empty({R, 1}, DType::I64);
      for (int64_t r = 0; r < R; ++r) {
        masks[r].push_back(1);
        int64_t count = 0;
        for (int64_t m : masks[r]) count += m;
        t.data<int64_t>()[r] = seqs[r].back();
        pos.data<int64_t>()[r] = count - 1;
      }
      in.input_ids = t;
      in.position_ids = pos;
    }
    in.attention_mask = mask_tensor();
    return model.step(*state, in).to(Device::cpu()).contiguous().to_vector<float>();
  };
  bm.reorder = [&](const std::vector<int64_t>& beam_idx) {
    reorder_state(*state, beam_idx);
    std::vector<std::vector<int64_t>> m(R);
    for (int64_t r = 0; r < R; ++r) m[r] = masks[beam_idx[r]];
    masks.swap(m);
  };
  return K == 1 ? greedy_search(bm, prompts, V, settings) : beam_search(bm, prompts, V, settings);
}

Tensor repeat_rows(const Tensor& t, int64_t times) {
  IA_CHECK(t.defined() && t.ndim() >= 1 && times >= 1, ErrorKind::InvalidArgument, "repeat_rows: {} x {}",
           t.defined() ? t.describe() : "nothing", times);
  if (times == 1) return t;
  Shape shape = t.shape();
  shape[0] *= times;
  Tensor out = Tensor::empty(shape, t.dtype(), t.device());
  for (int64_t r = 0; r < shape[0]; ++r) {
    Tensor row = out.select(0, r);
    ops::copy_(row, t.select(0, r / times));
  }
  return out;
}

}  // namespace ia::generation
