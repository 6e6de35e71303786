#include "generation/beam_generate.h"

#include "generation/generate.h"
#include "generation/generation_config.h"
#include "models/causal_lm.h"
#include "models/seq2seq/seq2seq.h"
#include "ops/ops.h"

namespace ia::generation {

NamedTensors beam_outputs(const BeamSearchOutput& r, int64_t rows, int64_t V, bool logits) {
  const int64_t N = static_cast<int64_t>(r.sequences.size()), L = static_cast<int64_t>(r.sequences[0].size());
  std::vector<int64_t> ids, bi;
  for (int64_t i = 0; i < N; ++i) {
    ids.insert(ids.end(), r.sequences[i].begin(), r.sequences[i].end());
    if (!r.beam_indices.empty()) bi.insert(bi.end(), r.beam_indices[i].begin(), r.beam_indices[i].end());
  }
  NamedTensors out;
  out.emplace_back("generated_ids", Tensor::from_vector<int64_t>(ids, {N, L}));
  if (!r.sequence_scores.empty()) {
    out.emplace_back("generated_sequences_scores", Tensor::from_vector<float>(r.sequence_scores, {N}));
    out.emplace_back("generated_beam_indices", Tensor::from_vector<int64_t>(bi, {N, L}));
  }
  if (logits) out.emplace_back("generated_logits", Tensor::from_vector<float>(r.logits, {rows, r.steps, V}));
  return out;
}

BeamSearchSettings beam_settings(const BeamRequest& req, const ModelConfig& config, int64_t prompt_len) {
  const GenerationConfig gc = GenerationConfig::for_model(config);
  BeamSearchSettings bs;
  bs.num_beams = req.num_beams;
  bs.num_return_sequences = req.num_return_sequences;
  bs.length_penalty = req.length_penalty;
  bs.early_stopping = req.early_stopping;
  bs.max_length = prompt_len + req.base.max_new_tokens;
  bs.eos_token_ids = req.base.eos_token_ids.empty() ? gc.eos_token_ids : req.base.eos_token_ids;
  bs.pad_token_id = req.base.pad_token_id;
  bs.processors = req.processors ? *req.processors : gc.processors(prompt_len);
  bs.return_logits = req.base.return_logits;
  return bs;
}

namespace {

NamedTensors seq2seq_beams(seq2seq::Seq2SeqLM& m, const TensorMap& inputs, const BeamRequest& req) {
  IA_CHECK(m.has_lm_head(), ErrorKind::Unsupported, "unsupported: generation for {}/{} (no LM head)", m.model_type(),
           m.hf_class());
  const int64_t V = m.vocab_size(), N = req.base.max_new_tokens, K = req.num_beams;
  IA_CHECK(N >= 1, ErrorKind::InvalidArgument, "generate: beam search needs max_new_tokens >= 1, got {}", N);
  IA_CHECK(K >= 1, ErrorKind::InvalidArgument, "generate: num_beams must be >= 1, got {}", K);
  const Tensor ids = seq2seq::host_ids(inputs, "input_ids", m.input_vocab_size());
  const Tensor mask = seq2seq::host_mask(inputs, "attention_mask", ids.shape());
  const int64_t B = ids.dim(0), S = ids.dim(1), R = B * K;
  const int64_t start = req.base.decoder_start_token_id >= 0 ? req.base.decoder_start_token_id
                                                              : m.config().dim_or("decoder_start_token_id", 0, 0);
  IA_CHECK(start >= 0 && start < V, ErrorKind::InvalidArgument,
           "generate: decoder_start_token_id {} outside the vocabulary [0, {})", start, V);
  const int64_t maxp = m.max_decoder_positions();
  IA_CHECK(maxp == 0 || N <= maxp, ErrorKind::InvalidArgument,
           "generate: 1 + {} new tokens exceed the model's maximum of {} decoder positions", N, maxp);
  const std::vector<int64_t> enc_ids = ids.to_vector<int64_t>();
  BeamSearchSettings bs = beam_settings(req, m.config(), 1);
  for (int64_t b = 0; b < B; ++b) bs.encoder_ids.emplace_back(enc_ids.begin() + b * S, enc_ids.begin() + (b + 1) * S);

  // HF _expand_inputs_for_generation: the encoder output and its mask repeated per beam.
  const Tensor enc = m.encode(ids, mask, nullptr);
  const Tensor enc_r = repeat_rows(enc, K);
  const Tensor mask_r = mask.defined() ? repeat_rows(mask, K) : Tensor();
  // The last new token is never fed back: the decoder consumes the start token and N - 1 generated ones.
  auto state = m.new_state(enc_r, mask_r, N);
  BeamModel bm;
  bm.next_logits = [&](const std::vector<std::vector<int64_t>>& seqs) {
    std::vector<int64_t> last(R);
    for (int64_t r = 0; r < R; ++r) last[r] = seqs[r].back();
    seq2seq::DecodeInput in;
    in.input_ids = Tensor::from_vector<int64_t>(last, {R, 1});
    const Tensor h = m.decode(*state, in);
    return m.lm_logits(h.slice(1, h.dim(1) - 1, h.dim(1))).to(Device::cpu()).contiguous().to_vector<float>();
  };
  bm.reorder = [&](const std::vector<int64_t>& beam_idx) { state->reorder(beam_idx); };
  const std::vector<std::vector<int64_t>> prompts(B, {start});
  const auto r = K == 1 ? greedy_search(bm, prompts, V, bs) : beam_search(bm, prompts, V, bs);
  return beam_outputs(r, R, V, bs.return_logits);
}

}  // namespace

NamedTensors generate_beams(Model& model, const TensorMap& inputs, const BeamRequest& req) {
  IA_CHECK(model.can_generate(), ErrorKind::Unsupported, "unsupported: generation for {}/{}", model.model_type(),
           model.hf_class());
  if (auto* s2s = dynamic_cast<seq2seq::Seq2SeqLM*>(&model)) return seq2seq_beams(*s2s, inputs, req);
  if (auto* conditioned = dynamic_cast<BeamGenerating*>(&model)) return conditioned->generate_beams(inputs, req);
  auto* lm = dynamic_cast<CausalLM*>(&model);
  IA_CHECK(lm != nullptr, ErrorKind::Unsupported, "unsupported: beam search for {}/{} (neither a causal LM nor a "
           "seq2seq model)", model.model_type(), model.hf_class());
  IA_CHECK(req.num_beams >= 1, ErrorKind::InvalidArgument, "generate: num_beams must be >= 1, got {}", req.num_beams);
  auto it = inputs.find("input_ids");
  IA_CHECK(it != inputs.end() && it->second.defined() && it->second.ndim() == 2, ErrorKind::InvalidArgument,
           "generate: missing input 'input_ids' [batch, seq]");
  auto m = inputs.find("attention_mask");
  const int64_t B = it->second.dim(0), P = it->second.dim(1);
  BeamSearchSettings bs = beam_settings(req, model.config(), P);
  IA_CHECK(bs.processors.encoder_no_repeat_ngram_size == 0, ErrorKind::Unsupported,
           "generate: encoder_no_repeat_ngram_size is for encoder-decoder models");
  BeamConditioning cond;
  cond.hf_cache_compat = model.config().reproduces_transformers();
  const auto r = generate_beams(*lm, it->second, m != inputs.end() ? m->second : Tensor(), bs, cond);
  return beam_outputs(r, B * req.num_beams, lm->vocab_size(), bs.return_logits);
}

}  // namespace ia::generation
