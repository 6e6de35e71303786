#include "models/seq2seq/seq2seq.h"
#include "models/seq2seq/sinusoid.h"

#include "generation/cache_reorder.h"
#include "generation/generation_config.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ia::seq2seq {

DecoderState::DecoderState(int64_t layers, int64_t batch, int64_t capacity, int64_t heads, int64_t head_dim,
                           Device device)
    : batch_(batch), capacity_(capacity), heads_(heads) {
  for (int64_t l = 0; l < layers; ++l) {
    k_.push_back(Tensor::empty({batch, capacity, heads, head_dim}, DType::F32, device));
    v_.push_back(Tensor::empty({batch, capacity, heads, head_dim}, DType::F32, device));
  }
}

void DecoderState::reorder(const std::vector<int64_t>& beam_idx) {
  for (size_t l = 0; l < k_.size(); ++l) {
    generation::reorder_rows_(k_[l], beam_idx, k_scratch_, 1, length_);
    generation::reorder_rows_(v_[l], beam_idx, v_scratch_, 1, length_);
  }
}

std::pair<Tensor, Tensor> DecoderState::append(int64_t layer, const Tensor& k, const Tensor& v) {
  IA_CHECK(layer >= 0 && layer < static_cast<int64_t>(k_.size()), ErrorKind::InvalidArgument,
           "decoder state: layer {} of {}", layer, k_.size());
  const int64_t T = k.dim(1), D = k_[layer].dim(3);
  IA_CHECK(k.ndim() == 3 && k.dim(0) == batch_ && k.dim(2) == heads_ * D && v.shape() == k.shape(),
           ErrorKind::InvalidArgument, "decoder state: keys {} values {} for cache {}", k.describe(), v.describe(),
           k_[layer].describe());
  IA_CHECK(length_ + T <= capacity_, ErrorKind::InvalidArgument,
           "decoder state: positions [{}, {}) exceed the cache capacity {}", length_, length_ + T, capacity_);
  const Tensor kc = k.contiguous(), vc = v.contiguous();
  for (int64_t b = 0; b < batch_; ++b) {
    Tensor kd = k_[layer].select(0, b).slice(0, length_, length_ + T);
    Tensor vd = v_[layer].select(0, b).slice(0, length_, length_ + T);
    ops::copy_(kd, kc.select(0, b).view({T, heads_, D}));
    ops::copy_(vd, vc.select(0, b).view({T, heads_, D}));
  }
  const int64_t n = length_ + T;
  return {k_[layer].slice(1, 0, n).permute({0, 2, 1, 3}), v_[layer].slice(1, 0, n).permute({0, 2, 1, 3})};
}

Tensor attend(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, const AttentionArgs& args) {
  return layers::merge_heads(ops::attention(layers::split_heads(q, heads), k, v, args));
}

Tensor host_ids(const TensorMap& inputs, const std::string& name, int64_t vocab) {
  auto it = inputs.find(name);
  IA_CHECK(it != inputs.end() && it->second.defined(), ErrorKind::InvalidArgument, "missing input '{}'", name);
  Tensor ids = it->second.to(Device::cpu()).to(DType::I64).contiguous();
  IA_CHECK(ids.ndim() == 2 && ids.dim(0) > 0 && ids.dim(1) > 0, ErrorKind::InvalidArgument,
           "{} must be [batch, seq>0], got {}", name, ids.describe());
  for (int64_t t : ids.to_vector<int64_t>())
    IA_CHECK(t >= 0 && t < vocab, ErrorKind::InvalidArgument, "{}: token id {} outside the vocabulary [0, {})", name,
             t, vocab);
  return ids;
}

Tensor host_mask(const TensorMap& inputs, const std::string& name, const Shape& shape) {
  auto it = inputs.find(name);
  if (it == inputs.end() || !it->second.defined()) return Tensor();
  Tensor m = it->second.to(Device::cpu()).to(DType::I64).contiguous();
  IA_CHECK(m.shape() == shape, ErrorKind::InvalidArgument, "{} {} does not match the ids {}", name, m.describe(),
           shape_str(shape));
  return m;
}

void fairseq_sinusoid_row(int64_t pos, int64_t dim, int64_t padding_idx, float* out) {
  std::fill(out, out + dim, 0.0f);
  if (pos == padding_idx) return;
  const int64_t half = dim / 2;
  const float step = static_cast<float>(-(std::log(10000.0) / static_cast<double>(half - 1)));
  for (int64_t i = 0; i < half; ++i) {
    const float freq = std::exp(static_cast<float>(i) * step);
    const float a = static_cast<float>(pos) * freq;
    out[i] = std::sin(a);
    out[half + i] = std::cos(a);
  }
}

void append_indexed(NamedTensors& out, const std::string& prefix, const std::vector<Tensor>& xs) {
  for (size_t i = 0; i < xs.size(); ++i) out.emplace_back(prefix + "." + std::to_string(i), xs[i]);
}

EncoderOutput Seq2SeqLM::encode_inputs(const TensorMap& inputs, std::vector<Tensor>* hidden_states) {
  const Tensor ids = host_ids(inputs, "input_ids", input_vocab_size());
  EncoderOutput e;
  e.mask = host_mask(inputs, "attention_mask", ids.shape());
  e.hidden = encode(ids, e.mask, hidden_states);
  e.ids = ids.to_vector<int64_t>();
  return e;
}

NamedTensors Seq2SeqLM::forward(const TensorMap& inputs, const ForwardOptions& opts) {
  const int64_t V = vocab_size();
  IA_CHECK(inputs.count("decoder_input_ids"), ErrorKind::InvalidArgument,
           "missing input 'decoder_input_ids' ({} needs the decoder sequence)", hf_class_);
  const Tensor dec = host_ids(inputs, "decoder_input_ids", V);
  const int64_t maxp = max_decoder_positions();
  IA_CHECK(maxp == 0 || dec.dim(1) <= maxp, ErrorKind::InvalidArgument,
           "decoder sequence length {} exceeds the model's maximum of {} positions", dec.dim(1), maxp);
  std::vector<Tensor> enc_hs, dec_hs;
  const EncoderOutput enc = encode_inputs(inputs, opts.output_hidden_states ? &enc_hs : nullptr);
  IA_CHECK(dec.dim(0) == enc.hidden.dim(0), ErrorKind::InvalidArgument,
           "decoder_input_ids {} for an encoder batch of {}", dec.describe(), enc.hidden.dim(0));
  auto state = new_state(enc.hidden, enc.mask, dec.dim(1));
  DecodeInput in;
  in.input_ids = dec;
  in.attention_mask = host_mask(inputs, "decoder_attention_mask", dec.shape());
  in.hidden_states = opts.output_hidden_states ? &dec_hs : nullptr;
  const Tensor h = decode(*state, in);
  NamedTensors out;
  if (has_lm_head())
    out.emplace_back("logits", lm_logits(h));
  else
    out.emplace_back("last_hidden_state", h);
  append_indexed(out, "decoder_hidden_states", dec_hs);
  out.emplace_back("encoder_last_hidden_state", enc.hidden);
  append_indexed(out, "encoder_hidden_states", enc_hs);
  return out;
}

NamedTensors Seq2SeqLM::generate(const TensorMap& inputs, const GenerationRequest& req) {
  return generate(inputs, req, DecoderPromptRules{});
}

NamedTensors Seq2SeqLM::generate(const TensorMap& inputs, const GenerationRequest& req,
                                 const DecoderPromptRules& prompt_rules) {
  IA_CHECK(has_lm_head(), ErrorKind::Unsupported, "unsupported: generation for {}/{} (no LM head)", model_type_,
           hf_class_);
  IA_CHECK(req.max_new_tokens >= 0, ErrorKind::InvalidArgument, "generate: max_new_tokens {} < 0",
           req.max_new_tokens);
  const int64_t V = vocab_size(), N = req.max_new_tokens;
  const generation::GenerationConfig gc = generation::GenerationConfig::for_model(config_);
  IA_CHECK(!gc.has_forced_decoder_ids || !prompt_rules.decoder_prompt.empty(), ErrorKind::Unsupported,
           "unsupported: generation_config forced_decoder_ids for {}/{} (only Whisper's decoder prompt uses them)",
           model_type_, hf_class_);
  const generation::LogitsProcessors rules = gc.processors(1);
  const int64_t start = req.decoder_start_token_id >= 0 ? req.decoder_start_token_id : default_decoder_start_;
  const std::vector<int64_t> prompt = prompt_rules.decoder_prompt.empty() ? std::vector<int64_t>{start}
                                                                        : prompt_rules.decoder_prompt;
  for (int64_t t : prompt)
    IA_CHECK(t >= 0 && t < V, ErrorKind::InvalidArgument, "generate: decoder prompt token {} outside the vocabulary [0, {})",
             t, V);
  const int64_t P = static_cast<int64_t>(prompt.size());
  const int64_t maxp = max_decoder_positions();
  IA_CHECK(maxp == 0 || P - 1 + N <= maxp, ErrorKind::InvalidArgument,
           "generate: {} prompt + {} new tokens exceed the model's maximum of {} decoder positions", P, N, maxp);

  const EncoderOutput enc = encode_inputs(inputs, nullptr);
  NamedTensors out;
  const int64_t B = enc.hidden.dim(0);
  const int64_t S = enc.ids.empty() ? 0 : static_cast<int64_t>(enc.ids.size()) / B;
  // The last new token is never fed back: the decoder consumes the prompt and N - 1 generated tokens.
  auto state = new_state(enc.hidden, enc.mask, P + std::max<int64_t>(N, 1) - 1);
  std::vector<std::vector<int64_t>> seqs(B, prompt);
  std::vector<std::vector<int64_t>> enc_rows(B);
  for (int64_t b = 0; b < B && S > 0; ++b) enc_rows[b].assign(enc.ids.begin() + b * S, enc.ids.begin() + (b + 1) * S);
  std::vector<bool> unfinished(B, true);
  std::vector<Tensor> step_logits;
  std::vector<int64_t> first(B * P);
  for (int64_t b = 0; b < B; ++b) std::copy(prompt.begin(), prompt.end(), first.begin() + b * P);
  Tensor cur = Tensor::from_vector<int64_t>(first, {B, P});
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  for (int64_t step = 0; step < N; ++step) {
    DecodeInput in;
    in.input_ids = cur;
    const Tensor h = decode(*state, in);
    const Tensor logits = lm_logits(h.slice(1, h.dim(1) - 1, h.dim(1))).to(Device::cpu()).contiguous();  // [B,1,V]
    if (req.return_logits) step_logits.push_back(logits);
    const std::vector<float> lv = logits.to_vector<float>();
    std::vector<int64_t> next(B);
    bool any = false;
    for (int64_t b = 0; b < B; ++b) {
      std::vector<float> scores(lv.begin() + b * V, lv.begin() + (b + 1) * V);
      for (int64_t t : prompt_rules.suppress_tokens)
        if (t >= 0 && t < V) scores[t] = kNegInf;
      if (static_cast<int64_t>(seqs[b].size()) == P)
        for (int64_t t : prompt_rules.begin_suppress_tokens)
          if (t >= 0 && t < V) scores[t] = kNegInf;
      rules.apply(scores, seqs[b], enc_rows[b], req.eos_token_ids, P + N);
      // First maximum wins, like torch.argmax.
      const int64_t best = std::max_element(scores.begin(), scores.end()) - scores.begin();
      next[b] = unfinished[b] ? best : req.pad_token_id;
      seqs[b].push_back(next[b]);
      if (std::find(req.eos_token_ids.begin(), req.eos_token_ids.end(), next[b]) != req.eos_token_ids.end())
        unfinished[b] = false;
      any = any || unfinished[b];
    }
    if (!any) break;
    cur = Tensor::from_vector<int64_t>(next, {B, 1});
  }
  const int64_t L = static_cast<int64_t>(seqs[0].size());
  std::vector<int64_t> flat;
  for (const auto& s : seqs) flat.insert(flat.end(), s.begin(), s.end());
  out.emplace_back("generated_ids", Tensor::from_vector<int64_t>(flat, {B, L}));
  if (req.return_logits)
    out.emplace_back("generated_logits",
                     step_logits.empty() ? Tensor::zeros({B, 0, V}, DType::F32) : ops::concat(step_logits, 1));
  return out;
}

}  // namespace ia::seq2seq
