// DeiT (HF modeling_deit.py): the ViT encoder with a second, distillation token; DeiTModel,
// DeiTForImageClassification ([CLS] head) and DeiTForImageClassificationWithTeacher (mean of the [CLS] and
// distillation heads).
#include "models/vision/vit.h"

namespace ia::deit {
namespace {

using layers::Linear;

enum class Head { None, Classification, WithTeacher };

class DeiTModel : public Model {
 public:
  DeiTModel(const ModelConfig& c, const WeightLoader& w, const std::string& cls) {
    cfg_ = vit::Config::from(c);
    if (cls == "DeiTModel") head_ = Head::None;
    else if (cls == "DeiTForImageClassification") head_ = Head::Classification;
    else if (cls == "DeiTForImageClassificationWithTeacher") head_ = Head::WithTeacher;
    else fail(ErrorKind::Unsupported, "unsupported: deit/{}", cls);
    encoder_ = std::make_unique<vit::Encoder>(cfg_, w.base("deit"), 2, head_ == Head::None);
    const int64_t labels = vision::num_labels(c);
    if (labels > 0 && head_ == Head::Classification) classifier_ = Linear::load(w.pp("classifier"), cfg_.hidden, labels);
    if (labels > 0 && head_ == Head::WithTeacher) {
      cls_classifier_ = Linear::load(w.pp("cls_classifier"), cfg_.hidden, labels);
      dist_classifier_ = Linear::load(w.pp("distillation_classifier"), cfg_.hidden, labels);
    }
  }

  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override {
    Tensor pixels = vision::pixel_values(inputs, cfg_.channels, device());
    std::vector<Tensor> hs;
    Tensor h = encoder_->forward(pixels, vit::interpolate_flag(inputs), opts.output_hidden_states ? &hs : nullptr);
    NamedTensors out;
    auto apply = [](const Linear& l, const Tensor& x) { return l.defined() ? l(x) : x.contiguous(); };
    switch (head_) {
      case Head::None:
        out.emplace_back("last_hidden_state", h);
        out.emplace_back("pooler_output", encoder_->pool(h));
        break;
      case Head::Classification: out.emplace_back("logits", apply(classifier_, h.select(1, 0))); break;
      case Head::WithTeacher: {
        Tensor cls_logits = apply(cls_classifier_, h.select(1, 0));
        Tensor dist_logits = apply(dist_classifier_, h.select(1, 1));
        out.emplace_back("logits", ops::scale(ops::add(cls_logits, dist_logits), 0.5f));
        out.emplace_back("cls_logits", cls_logits);
        out.emplace_back("distillation_logits", dist_logits);
        break;
      }
    }
    if (head_ != Head::None) out.emplace_back("base.last_hidden_state", h);
    if (opts.output_hidden_states) vision::append_hidden_states(out, hs);
    return out;
  }

 private:
  vit::Config cfg_;
  Head head_ = Head::None;
  std::unique_ptr<vit::Encoder> encoder_;
  Linear classifier_, cls_classifier_, dist_classifier_;
};

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& w, const std::string& cls) {
  return std::make_unique<DeiTModel>(c, w, cls);
}

}  // namespace
}  // namespace ia::deit

IA_REGISTER_MODEL(deit, {"deit", "vision",
                         {"DeiTModel", "DeiTForImageClassification", "DeiTForImageClassificationWithTeacher"},
                         ia::deit::make})
