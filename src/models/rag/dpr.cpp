// DPR question/context encoders (HF modeling_dpr.py): a BERT encoder without pooler whose pooled output is
// the [CLS] hidden state, optionally projected (projection_dim > 0). The retriever side of RAG.
#include "models/encoder/bert.h"

namespace ia::dpr {
namespace {

class DprEncoder : public Model {
 public:
  DprEncoder(const ModelConfig& c, const WeightLoader& root, const std::string& cls) {
    const std::string prefix = cls == "DPRQuestionEncoder" ? "question_encoder" : cls == "DPRContextEncoder" ? "ctx_encoder" : "";
    IA_CHECK(!prefix.empty(), ErrorKind::Unsupported, "unsupported: dpr/{}", cls);
    auto w = root.pp(prefix);
    encoder_ = std::make_unique<bert::BertEncoder>(bert::BertConfig::from(c, false), w.pp("bert_model"), false);
    const int64_t proj = c.dim_or("projection_dim", 0, 0);
    if (proj > 0) projection_ = layers::Linear::load(w.pp("encode_proj"), c.dim("hidden_size"), proj);
  }

  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override {
    std::vector<Tensor> hs;
    Tensor h = encoder_->forward(inputs, opts.output_hidden_states ? &hs : nullptr);
    Tensor pooled = h.select(1, 0).contiguous();
    if (projection_.defined()) pooled = projection_(pooled);
    NamedTensors out{{"pooler_output", pooled}, {"base.last_hidden_state", h}};
    if (opts.output_hidden_states) bert::append_hidden_states(out, hs);
    return out;
  }

 private:
  std::unique_ptr<bert::BertEncoder> encoder_;
  layers::Linear projection_;
};

}  // namespace
}  // namespace ia::dpr

IA_REGISTER_MODEL(dpr, {"dpr", "rag", {"DPRQuestionEncoder", "DPRContextEncoder"},
                        [](const ia::ModelConfig& c, const ia::WeightLoader& w, const std::string& cls) {
                          return std::unique_ptr<ia::Model>(new ia::dpr::DprEncoder(c, w, cls));
                        }})
