// RegNet (HF modeling_regnet.py): 3x3/2 conv stem, stages of X layers (1x1 -> grouped 3x3 -> 1x1, residual)
// or Y layers (X + squeeze-excitation), BatchNorm eval, global average pool; RegNetModel and
// RegNetForImageClassification.
#include <cmath>

#include "models/vision/common.h"

namespace ia::regnet {
namespace {

using layers::Linear;
using vision::BatchNorm2d;
using vision::Conv2d;
using vision::ConvBN;

// RegNetConvLayer: "convolution" (padding k/2, no bias) + "normalization" + activation.
ConvBN conv_layer(const WeightLoader& w, int64_t in, int64_t out, int64_t k, int64_t stride, int64_t groups,
                  const std::string& act) {
  ConvBN c;
  c.conv = Conv2d::load(w.pp("convolution"), in, out, k, stride, k / 2, groups, false);
  c.norm = BatchNorm2d::load(w.pp("normalization"), out);
  c.act = act;
  return c;
}

struct Layer {
  bool has_shortcut = false;
  ConvBN shortcut, conv1, conv2, conv3;
  Conv2d se_reduce, se_expand;  // Y layers only
};

class RegNet : public Model {
 public:
  RegNet(const ModelConfig& c, const WeightLoader& weights, const std::string& cls) {
    classify_ = cls == "RegNetForImageClassification";
    if (!classify_) IA_CHECK(cls == "RegNetModel", ErrorKind::Unsupported, "unsupported: regnet/{}", cls);
    channels_ = c.dim_or("num_channels", 3, 1);
    const int64_t emb = c.dim("embedding_size");
    const auto hidden = vision::int_list(c, "hidden_sizes", 1);
    const auto depths = vision::int_list(c, "depths", 0);
    IA_CHECK(!hidden.empty() && hidden.size() == depths.size(), ErrorKind::Format,
             "{}: hidden_sizes and depths must be non-empty lists of equal length", c.source());
    act_ = c.str_or("hidden_act", "relu");
    ops::activation_op(act_);
    const std::string type = c.str_or("layer_type", "y");
    IA_CHECK(type == "x" || type == "y", ErrorKind::Unsupported, "{}: unsupported layer_type '{}'", c.source(), type);
    const int64_t groups_width = c.dim_or("groups_width", 64, 1);
    const bool first_stage = c.flag_or("downsample_in_first_stage", true);
    auto w = weights.base("regnet");
    stem_ = conv_layer(w.pp("embedder").pp("embedder"), channels_, emb, 3, 2, 1, act_);
    int64_t in = emb;
    for (size_t s = 0; s < hidden.size(); ++s) {
      std::vector<Layer> stage;
      for (int64_t d = 0; d < depths[s]; ++d) {
        const int64_t out = hidden[s];
        const int64_t stride = d > 0 ? 1 : (s == 0 ? (first_stage ? 2 : 1) : 2);
        const int64_t groups = std::max<int64_t>(1, out / groups_width);
        auto l = w.pp("encoder").pp("stages").pp(static_cast<int64_t>(s)).pp("layers").pp(d);
        auto seq = l.pp("layer");
        Layer L;
        L.has_shortcut = in != out || stride != 1;
        if (L.has_shortcut) {
          L.shortcut.conv = Conv2d::load(l.pp("shortcut").pp("convolution"), in, out, 1, stride, 0, 1, false);
          L.shortcut.norm = BatchNorm2d::load(l.pp("shortcut").pp("normalization"), out);
        }
        L.conv1 = conv_layer(seq.pp(0), in, out, 1, 1, 1, act_);
        L.conv2 = conv_layer(seq.pp(1), out, out, 3, stride, groups, act_);
        if (type == "y") {
          // Python's int(round(in / 4)): round half to even.
          const int64_t reduced = static_cast<int64_t>(std::nearbyint(static_cast<double>(in) / 4.0));
          L.se_reduce = Conv2d::load(seq.pp(2).pp("attention").pp(0), out, reduced, 1);
          L.se_expand = Conv2d::load(seq.pp(2).pp("attention").pp(2), reduced, out, 1);
        }
        L.conv3 = conv_layer(seq.pp(type == "y" ? 3 : 2), out, out, 1, 1, 1, "");
        stage.push_back(std::move(L));
        in = out;
      }
      stages_.push_back(std::move(stage));
    }
    if (classify_) {
      const int64_t labels = vision::num_labels(c);
      if (labels > 0) classifier_ = Linear::load(weights.pp("classifier").pp(1), hidden.back(), labels);
    }
  }

  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override {
    Tensor x = stem_(vision::pixel_values(inputs, channels_, device()));
    std::vector<Tensor> hs;
    for (const auto& stage : stages_) {
      if (opts.output_hidden_states) hs.push_back(x);
      for (const auto& L : stage) {
        Tensor h = L.conv2(L.conv1(x));
        if (L.se_reduce.weight.defined()) {
          Tensor a = ops::adaptive_avg_pool2d(h, 1, 1);
          a = ops::unary(UnaryOp::Sigmoid, L.se_expand(ops::unary(UnaryOp::Relu, L.se_reduce(a))));
          h = ops::mul(h, a);
        }
        h = L.conv3(h);
        x = ops::activation(ops::add(h, L.has_shortcut ? L.shortcut(x) : x), act_);
      }
    }
    if (opts.output_hidden_states) hs.push_back(x);
    Tensor pooled = ops::adaptive_avg_pool2d(x, 1, 1);
    NamedTensors out;
    const std::string prefix = classify_ ? "base." : "";
    if (classify_) {
      Tensor flat = pooled.reshape({pooled.dim(0), -1});
      out.emplace_back("logits", classifier_.defined() ? classifier_(flat) : flat);
    }
    out.emplace_back(prefix + "last_hidden_state", x);
    out.emplace_back(prefix + "pooler_output", pooled);
    if (opts.output_hidden_states) vision::append_hidden_states(out, hs);
    return out;
  }

 private:
  bool classify_ = false;
  int64_t channels_ = 3;
  std::string act_;
  ConvBN stem_;
  std::vector<std::vector<Layer>> stages_;
  Linear classifier_;
};

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& w, const std::string& cls) {
  return std::make_unique<RegNet>(c, w, cls);
}

}  // namespace
}  // namespace ia::regnet

IA_REGISTER_MODEL(regnet, {"regnet", "vision", {"RegNetModel", "RegNetForImageClassification"}, ia::regnet::make})
