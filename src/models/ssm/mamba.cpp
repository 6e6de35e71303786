// Mamba (transformers modeling_mamba.py) and Falcon-Mamba (modeling_falcon_mamba.py: the same block plus a
// weightless RMS norm on dt, B and C), following the sequential slow_forward path. Prefill runs the scan over
// the prompt; each decode step advances the per-layer conv and SSM state by one token.
#include "models/layers.h"
#include "models/ssm/mamba_mixer.h"
#include "models/ssm/recurrent_state.h"

namespace ia::ssm {
namespace {

struct Block {
  layers::RMSNorm norm;
  MambaMixer mixer;
};

class MambaLM : public CausalLM {
 public:
  MambaLM(const ModelConfig& c, const WeightLoader& root, bool falcon) {
    MambaMixerConfig m;
    m.hidden = c.dim("hidden_size");
    m.inner = c.has("intermediate_size") ? c.dim("intermediate_size")
                                         : static_cast<int64_t>(c.number_or("expand", 2) * m.hidden);
    m.state = c.dim("state_size");
    m.kernel = c.dim("conv_kernel");
    m.proj_bias = c.flag_or("use_bias", false);
    m.conv_bias = c.flag_or("use_conv_bias", true);
    m.act = c.str_or("hidden_act", "silu");
    const bool auto_rank = c.has("time_step_rank") && c.json()["time_step_rank"].is_string();
    IA_CHECK(!auto_rank || c.str("time_step_rank") == "auto", ErrorKind::Format,
             "{}: time_step_rank must be an integer or \"auto\"", c.source());
    m.rank = !c.has("time_step_rank") || auto_rank ? (m.hidden + 15) / 16 : c.dim("time_step_rank");
    if (falcon) {
      m.inner_norm = MambaMixerConfig::InnerNorm::Weightless;
      m.inner_norm_eps = static_cast<float>(c.number_or("mixer_rms_eps", 1e-6));
    }
    vocab_ = c.dim("vocab_size");
    const float eps = static_cast<float>(c.number_or("layer_norm_epsilon", 1e-5));
    const WeightLoader bb = root.pp("backbone");
    embed_ = layers::Embedding::load(bb.pp("embeddings"), vocab_, m.hidden);
    for (int64_t i = 0; i < c.dim("num_hidden_layers"); ++i) {
      const WeightLoader l = bb.pp("layers").pp(i);
      blocks_.push_back({layers::RMSNorm::load(l.pp("norm"), m.hidden, eps), MambaMixer::load(l.pp("mixer"), m)});
    }
    norm_f_ = layers::RMSNorm::load(bb.pp("norm_f"), m.hidden, eps);
    lm_head_ = c.flag_or("tie_word_embeddings", true) ? embed_.weight
                                                        : root.pp("lm_head").get("weight", {vocab_, m.hidden});
  }

  std::unique_ptr<DecoderState> new_state(int64_t batch, int64_t) const override {
    const MambaMixer& m = blocks_.front().mixer;
    return std::make_unique<RecurrentState>(static_cast<int64_t>(blocks_.size()), batch,
                                            std::vector<Shape>{m.conv_state_shape(batch), m.ssm_state_shape(batch)},
                                            std::vector<float>{0.0f, 0.0f}, embed_.weight.device());
  }

  int64_t vocab_size() const override { return vocab_; }

  Tensor step(DecoderState& st, const StepInput& in) override {
    auto& state = dynamic_cast<RecurrentState&>(st);
    const int64_t S = in.input_ids.dim(1);
    Tensor x = embed_(in.input_ids.to(embed_.weight.device()));
    Tensor mask = in.attention_mask.defined() ? new_token_mask(in.attention_mask, S).to(x.device()) : Tensor();
    // HF's hidden_states: each block's output, then norm_f of the last (no embedding entry).
    for (size_t li = 0; li < blocks_.size(); ++li) {
      const int64_t l = static_cast<int64_t>(li);
      x = ops::add(x, blocks_[li].mixer(blocks_[li].norm(x), mask, state.at(l, 0), state.at(l, 1)));
      if (in.hidden_states) in.hidden_states->push_back(x);
    }
    st.advance(S);
    x = norm_f_(x);
    if (in.hidden_states) in.hidden_states->push_back(x);
    if (in.last_logits_only) x = x.slice(1, S - 1, S);
    return ops::linear(x, lm_head_);
  }

 private:
  int64_t vocab_;
  layers::Embedding embed_;
  std::vector<Block> blocks_;
  layers::RMSNorm norm_f_;
  Tensor lm_head_;
};

std::unique_ptr<Model> make_mamba(const ModelConfig& c, const WeightLoader& root, const std::string&) {
  return std::make_unique<MambaLM>(c, root, false);
}
std::unique_ptr<Model> make_falcon_mamba(const ModelConfig& c, const WeightLoader& root, const std::string&) {
  return std::make_unique<MambaLM>(c, root, true);
}

}  // namespace
}  // namespace ia::ssm

IA_REGISTER_MODEL(mamba, {"mamba", "state-space", {"MambaForCausalLM"}, ia::ssm::make_mamba})
IA_REGISTER_MODEL(falcon_mamba, {"falcon_mamba", "state-space", {"FalconMambaForCausalLM"}, ia::ssm::make_falcon_mamba})
