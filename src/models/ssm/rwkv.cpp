// RWKV-4 (transformers modeling_rwkv.py, the CPU path rwkv_linear_attention_cpu). Per layer the state holds
// the time-mix shift (last ln1 output) [B, C], the WKV state (numerator, denominator, running max) [B, 3, A]
// and the channel-mix shift (last ln2 output) [B, C]. Inference-time rescaling (rescale_every) is applied
// like transformers: attention.output and feed_forward.value weights divided by 2^(layer / rescale_every),
// and the hidden state halved after every rescale_every-th layer. forward() also returns HF's "state.0..4"
// ([B, C, layers] each: channel-mix shift, time-mix shift, numerator, denominator, max).
#include "models/layers.h"
#include "models/ssm/recurrent_state.h"
#include "ops/ssm.h"

namespace ia::ssm {
namespace {

// HF initialises the running max to -1e30 when it creates the state (RwkvModel.forward).
constexpr float kInitialMax = -1e30f;

struct TimeMix {
  Tensor mix_k, mix_v, mix_r, one_minus_k, one_minus_v, one_minus_r;  // [C]
  Tensor time_decay, time_first;                                       // [A]
  layers::Linear key, value, receptance, output;
};

struct ChannelMix {
  Tensor mix_k, mix_r, one_minus_k, one_minus_r;
  layers::Linear key, receptance, value;
};

struct Block {
  layers::LayerNorm pre_ln, ln1, ln2;
  TimeMix att;
  ChannelMix ffn;
};

Tensor load_mix(const WeightLoader& w, const std::string& name, int64_t C) {
  return w.get(name, {1, 1, C}).contiguous().view({C});
}

class RwkvLM : public CausalLM {
 public:
  RwkvLM(const ModelConfig& c, const WeightLoader& root) {
    hidden_ = c.dim("hidden_size");
    att_ = c.has("attention_hidden_size") ? c.dim("attention_hidden_size") : hidden_;
    const int64_t inter = c.has("intermediate_size") ? c.dim("intermediate_size") : 4 * hidden_;
    vocab_ = c.dim("vocab_size");
    rescale_every_ = c.dim_or("rescale_every", 6, 0);
    const int64_t L = c.dim("num_hidden_layers");
    const double eps = c.number_or("layer_norm_epsilon", 1e-5);
    const WeightLoader base = root.pp("rwkv");
    embed_ = layers::Embedding::load(base.pp("embeddings"), vocab_, hidden_);
    for (int64_t i = 0; i < L; ++i) {
      const WeightLoader b = base.pp("blocks").pp(i);
      Block blk;
      if (i == 0) blk.pre_ln = layers::LayerNorm::load(b.pp("pre_ln"), hidden_, eps);
      blk.ln1 = layers::LayerNorm::load(b.pp("ln1"), hidden_, eps);
      blk.ln2 = layers::LayerNorm::load(b.pp("ln2"), hidden_, eps);
      const float rescale = rescale_every_ > 0 ? 1.0f / static_cast<float>(int64_t(1) << (i / rescale_every_)) : 1.0f;
      const WeightLoader a = b.pp("attention");
      blk.att.mix_k = load_mix(a, "time_mix_key", hidden_);
      blk.att.mix_v = load_mix(a, "time_mix_value", hidden_);
      blk.att.mix_r = load_mix(a, "time_mix_receptance", hidden_);
      blk.att.one_minus_k = ops::scale(blk.att.mix_k, -1.0f, 1.0f);
      blk.att.one_minus_v = ops::scale(blk.att.mix_v, -1.0f, 1.0f);
      blk.att.one_minus_r = ops::scale(blk.att.mix_r, -1.0f, 1.0f);
      blk.att.time_decay = a.get("time_decay", {att_});
      blk.att.time_first = a.get("time_first", {att_});
      blk.att.key = layers::Linear::load(a.pp("key"), hidden_, att_, false);
      blk.att.value = layers::Linear::load(a.pp("value"), hidden_, att_, false);
      blk.att.receptance = layers::Linear::load(a.pp("receptance"), hidden_, att_, false);
      blk.att.output = layers::Linear::load(a.pp("output"), att_, hidden_, false);
      if (rescale != 1.0f) blk.att.output.weight = ops::scale(blk.att.output.weight, rescale);
      const WeightLoader f = b.pp("feed_forward");
      blk.ffn.mix_k = load_mix(f, "time_mix_key", hidden_);
      blk.ffn.mix_r = load_mix(f, "time_mix_receptance", hidden_);
      blk.ffn.one_minus_k = ops::scale(blk.ffn.mix_k, -1.0f, 1.0f);
      blk.ffn.one_minus_r = ops::scale(blk.ffn.mix_r, -1.0f, 1.0f);
      blk.ffn.key = layers::Linear::load(f.pp("key"), hidden_, inter, false);
      blk.ffn.receptance = layers::Linear::load(f.pp("receptance"), hidden_, hidden_, false);
      blk.ffn.value = layers::Linear::load(f.pp("value"), inter, hidden_, false);
      if (rescale != 1.0f) blk.ffn.value.weight = ops::scale(blk.ffn.value.weight, rescale);
      blocks_.push_back(std::move(blk));
    }
    ln_out_ = layers::LayerNorm::load(base.pp("ln_out"), hidden_, 1e-5);
    head_ = c.flag_or("tie_word_embeddings", false) ? embed_.weight : root.pp("head").get("weight", {vocab_, hidden_});
  }

  std::unique_ptr<DecoderState> new_state(int64_t batch, int64_t) const override {
    const Device dev = embed_.weight.device();
    auto st = std::make_unique<RecurrentState>(static_cast<int64_t>(blocks_.size()), batch,
                                               std::vector<Shape>{{batch, hidden_}, {batch, 3, att_}, {batch, hidden_}},
                                               std::vector<float>{0.0f, 0.0f, 0.0f}, dev);
    Tensor wkv0 = Tensor::zeros({batch, 3, att_}, DType::F32);
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t i = 0; i < att_; ++i) wkv0.data<float>()[(b * 3 + 2) * att_ + i] = kInitialMax;
    wkv0 = wkv0.to(dev);
    for (int64_t l = 0; l < st->layers(); ++l) ops::copy_(st->at(l, 1), wkv0);
    return st;
  }

  int64_t vocab_size() const override { return vocab_; }

  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override {
    capture_ = true;
    NamedTensors out;
    try {
      out = CausalLM::forward(inputs, opts);
    } catch (...) {
      capture_ = false;
      throw;
    }
    capture_ = false;
    // HF state order: channel-mix shift, time-mix shift, numerator, denominator, max; each [B, C, layers].
    auto stack = [&](auto get) {
      std::vector<Tensor> per_layer;
      for (size_t l = 0; l < captured_.size(); ++l) per_layer.push_back(get(l).contiguous().unsqueeze(2));
      return ops::concat(per_layer, 2);
    };
    out.emplace_back("state.0", stack([&](size_t l) { return captured_[l][2]; }));
    out.emplace_back("state.1", stack([&](size_t l) { return captured_[l][0]; }));
    for (int64_t j = 0; j < 3; ++j)
      out.emplace_back("state." + std::to_string(2 + j), stack([&](size_t l) { return captured_[l][1].select(1, j); }));
    captured_.clear();
    return out;
  }

  Tensor step(DecoderState& st, const StepInput& in) override {
    auto& state = dynamic_cast<RecurrentState&>(st);
    const int64_t B = in.input_ids.dim(0), S = in.input_ids.dim(1);
    // transformers quirk (hf_cache_compat only): with a one-token input and a batch of B > 1, RwkvSelfAttention
    // reads the carried shift state as [B, C] and broadcasts it against [B, 1, C], so layer 0's time mixing
    // sees a pseudo-sequence of B positions (position j mixes the row's token with row j's shift state) and
    // every later op runs over those B positions; generate() takes the last one.
    const bool broadcast_quirk = in.hf_cache_compat && S == 1 && B > 1;
    Tensor x = embed_(in.input_ids.to(embed_.weight.device()));
    for (size_t li = 0; li < blocks_.size(); ++li) {
      const Block& b = blocks_[li];
      const int64_t l = static_cast<int64_t>(li);
      if (li == 0) x = b.pre_ln(x);
      // Time mixing (attention).
      Tensor h = b.ln1(x);
      Tensor sh = broadcast_quirk && h.dim(1) == 1 ? state.at(l, 0).view({1, B, hidden_}) : shifted(h, state.at(l, 0));
      Tensor k = b.att.key(mixed(h, sh, b.att.mix_k, b.att.one_minus_k));
      Tensor v = b.att.value(mixed(h, sh, b.att.mix_v, b.att.one_minus_v));
      Tensor r = ops::unary(UnaryOp::Sigmoid, b.att.receptance(mixed(h, sh, b.att.mix_r, b.att.one_minus_r)));
      ops::copy_(state.at(l, 0), h.select(1, h.dim(1) - 1));
      Tensor wkv = ops::wkv_(k, v, b.att.time_decay, b.att.time_first, state.at(l, 1));
      x = ops::add(x, b.att.output(ops::mul(r, wkv)));
      // Channel mixing (feed-forward).
      h = b.ln2(x);
      sh = shifted(h, state.at(l, 2));
      Tensor fk = b.ffn.key(mixed(h, sh, b.ffn.mix_k, b.ffn.one_minus_k));
      fk = ops::unary(UnaryOp::Square, ops::unary(UnaryOp::Relu, fk));
      Tensor fv = b.ffn.value(fk);
      Tensor fr = ops::unary(UnaryOp::Sigmoid, b.ffn.receptance(mixed(h, sh, b.ffn.mix_r, b.ffn.one_minus_r)));
      ops::copy_(state.at(l, 2), h.select(1, h.dim(1) - 1));
      x = ops::add(x, ops::mul(fr, fv));
      if (rescale_every_ > 0 && (l + 1) % rescale_every_ == 0) x = ops::scale(x, 0.5f);
      if (in.hidden_states) in.hidden_states->push_back(x);
    }
    st.advance(S);
    x = ln_out_(x);
    if (in.hidden_states) in.hidden_states->push_back(x);
    if (capture_) {
      captured_.clear();
      for (int64_t l = 0; l < state.layers(); ++l)
        captured_.push_back({state.at(l, 0), state.at(l, 1), state.at(l, 2)});
    }
    const int64_t T = x.dim(1);
    if (in.last_logits_only || T != S) x = x.slice(1, T - 1, T);
    return ops::linear(x, head_);
  }

 private:
  // HF time_shift: the previous token's features (the carried state for the first new token).
  static Tensor shifted(const Tensor& h, const Tensor& prev) {
    const int64_t B = h.dim(0), S = h.dim(1), C = h.dim(2);
    Tensor p = prev.contiguous().view({B, 1, C});
    if (S == 1) return p;
    return ops::concat({p, h.slice(1, 0, S - 1).contiguous()}, 1);
  }
  // hidden * mix + shifted * (1 - mix), in HF's order.
  static Tensor mixed(const Tensor& h, const Tensor& sh, const Tensor& mix, const Tensor& one_minus) {
    return ops::add(ops::mul(h, mix), ops::mul(sh, one_minus));
  }

  int64_t hidden_, att_, vocab_, rescale_every_;
  layers::Embedding embed_;
  std::vector<Block> blocks_;
  layers::LayerNorm ln_out_;
  Tensor head_;
  bool capture_ = false;
  std::vector<std::vector<Tensor>> captured_;  // the last forward's final state (per layer: the three slots)
};

std::unique_ptr<Model> make_rwkv(const ModelConfig& c, const WeightLoader& root, const std::string&) {
  return std::make_unique<RwkvLM>(c, root);
}

}  // namespace
}  // namespace ia::ssm

IA_REGISTER_MODEL(rwkv, {"rwkv", "state-space", {"RwkvForCausalLM"}, ia::ssm::make_rwkv})
