// EfficientNet (HF modeling_efficientnet.py): zero-padded 3x3/2 stem, MBConv blocks (1x1 expansion ->
// depthwise conv with TF-style padding -> squeeze-excitation -> 1x1 projection, residual inside a stage),
// 1x1 top conv, avg/max pool; EfficientNetModel and EfficientNetForImageClassification.
#include <cmath>

#include "models/vision/common.h"

namespace ia::efficientnet {
namespace {

using layers::Linear;
using vision::BatchNorm2d;
using vision::Conv2d;
using vision::ConvBN;

struct Config {
  int64_t channels = 3, hidden_dim = 1280, depth_divisor = 8;
  double width = 1.0, depth = 1.0, se_ratio = 0.25, bn_eps = 1e-3;
  std::vector<int64_t> kernels, strides, in_channels, out_channels, repeats, expand_ratios, depthwise_padding;
  std::string act = "swish", pooling = "mean";
};

Config parse(const ModelConfig& c) {
  Config k;
  k.channels = c.dim_or("num_channels", 3, 1);
  k.hidden_dim = c.dim_or("hidden_dim", 1280, 1);
  k.depth_divisor = c.dim_or("depth_divisor", 8, 1);
  k.width = c.number_or("width_coefficient", 2.0);
  k.depth = c.number_or("depth_coefficient", 3.1);
  k.se_ratio = c.number_or("squeeze_expansion_ratio", 0.25);
  k.bn_eps = c.number_or("batch_norm_eps", 1e-3);
  k.kernels = vision::int_list(c, "kernel_sizes", 1);
  k.strides = vision::int_list(c, "strides", 1);
  k.in_channels = vision::int_list(c, "in_channels", 1);
  k.out_channels = vision::int_list(c, "out_channels", 1);
  k.repeats = vision::int_list(c, "num_block_repeats", 0);
  k.expand_ratios = vision::int_list(c, "expand_ratios", 1);
  k.depthwise_padding = c.has("depthwise_padding") ? vision::int_list(c, "depthwise_padding", 0) : std::vector<int64_t>{};
  const size_t n = k.in_channels.size();
  IA_CHECK(k.kernels.size() == n && k.strides.size() == n && k.out_channels.size() == n && k.repeats.size() == n &&
               k.expand_ratios.size() == n,
           ErrorKind::Format, "{}: per-stage lists (kernel_sizes, strides, in/out_channels, ...) differ in length",
           c.source());
  for (int64_t s : k.strides)
    IA_CHECK(s == 1 || s == 2, ErrorKind::Unsupported, "{}: unsupported stride {} (1 or 2)", c.source(), s);
  k.act = c.str_or("hidden_act", "swish");
  ops::activation_op(k.act);
  k.pooling = c.str_or("pooling_type", "mean");
  IA_CHECK(k.pooling == "mean" || k.pooling == "max", ErrorKind::Unsupported, "{}: unsupported pooling_type '{}'",
           c.source(), k.pooling);
  return k;
}

// HF round_filters.
int64_t round_filters(const Config& k, int64_t channels) {
  const double scaled = static_cast<double>(channels) * k.width;
  const int64_t d = k.depth_divisor;
  int64_t v = std::max<int64_t>(d, static_cast<int64_t>(scaled + static_cast<double>(d) / 2.0) / d * d);
  if (static_cast<double>(v) < 0.9 * scaled) v += d;
  return v;
}

struct Block {
  bool expand = false, residual = false;
  ConvBN expansion, depthwise, projection;
  Conv2d se_reduce, se_expand;
};

class EfficientNet : public Model {
 public:
  EfficientNet(const ModelConfig& c, const WeightLoader& weights, const std::string& cls) {
    k_ = parse(c);
    classify_ = cls == "EfficientNetForImageClassification";
    if (!classify_) IA_CHECK(cls == "EfficientNetModel", ErrorKind::Unsupported, "unsupported: efficientnet/{}", cls);
    auto w = weights.base("efficientnet");
    const int64_t stem_dim = round_filters(k_, 32);
    auto emb = w.pp("embeddings");
    stem_.conv = Conv2d::load(emb.pp("convolution"), k_.channels, stem_dim, 3, 2, 0, 1, false);
    stem_.conv.args.pad_right = stem_.conv.args.pad_bottom = 1;  // nn.ZeroPad2d((0, 1, 0, 1)), then "valid"
    stem_.norm = BatchNorm2d::load(emb.pp("batchnorm"), stem_dim, k_.bn_eps);
    stem_.act = k_.act;
    int64_t block_num = 0, out_dim = stem_dim;
    for (size_t i = 0; i < k_.in_channels.size(); ++i) {
      const int64_t base_in = round_filters(k_, k_.in_channels[i]);
      out_dim = round_filters(k_, k_.out_channels[i]);
      const int64_t repeats = static_cast<int64_t>(std::ceil(k_.depth * static_cast<double>(k_.repeats[i])));
      for (int64_t j = 0; j < repeats; ++j) {
        const int64_t in = j > 0 ? out_dim : base_in, stride = j > 0 ? 1 : k_.strides[i];
        const int64_t kernel = k_.kernels[i], ratio = k_.expand_ratios[i];
        const bool adjust = std::find(k_.depthwise_padding.begin(), k_.depthwise_padding.end(), block_num) ==
                            k_.depthwise_padding.end();
        auto b = w.pp("encoder").pp("blocks").pp(block_num);
        Block B;
        B.expand = ratio != 1;
        const int64_t dim = B.expand ? in * ratio : in;
        if (B.expand) {
          B.expansion.conv = Conv2d::load(b.pp("expansion").pp("expand_conv"), in, dim, 1, 1, 0, 1, false);
          B.expansion.norm = BatchNorm2d::load(b.pp("expansion").pp("expand_bn"), dim, k_.bn_eps);
          B.expansion.act = k_.act;
        }
        auto dw = b.pp("depthwise_conv");
        B.depthwise.conv = Conv2d::load(dw.pp("depthwise_conv"), dim, dim, kernel, stride, 0, dim, false);
        Conv2dArgs& a = B.depthwise.conv.args;
        const int64_t half = kernel / 2;
        if (stride == 2) {  // nn.ZeroPad2d(correct_pad(kernel, adjust)), then "valid"
          a.pad_left = a.pad_top = adjust ? half - 1 : half;
          a.pad_right = a.pad_bottom = half;
        } else {  // padding="same", stride 1
          a.pad_left = a.pad_top = (kernel - 1) / 2;
          a.pad_right = a.pad_bottom = kernel - 1 - (kernel - 1) / 2;
        }
        B.depthwise.norm = BatchNorm2d::load(dw.pp("depthwise_norm"), dim, k_.bn_eps);
        B.depthwise.act = k_.act;
        const int64_t dim_se = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(in) * k_.se_ratio));
        B.se_reduce = Conv2d::load(b.pp("squeeze_excite").pp("reduce"), dim, dim_se, 1);
        B.se_expand = Conv2d::load(b.pp("squeeze_excite").pp("expand"), dim_se, dim, 1);
        B.projection.conv = Conv2d::load(b.pp("projection").pp("project_conv"), dim, out_dim, 1, 1, 0, 1, false);
        B.projection.norm = BatchNorm2d::load(b.pp("projection").pp("project_bn"), out_dim, k_.bn_eps);
        B.residual = stride == 1 && j > 0;
        blocks_.push_back(std::move(B));
        ++block_num;
      }
    }
    const int64_t top = round_filters(k_, 1280);
    IA_CHECK(top == k_.hidden_dim, ErrorKind::Format, "{}: hidden_dim {} differs from round_filters(1280) = {}",
             c.source(), k_.hidden_dim, top);
    top_.conv = Conv2d::load(w.pp("encoder").pp("top_conv"), out_dim, top, 1, 1, 0, 1, false);
    top_.norm = BatchNorm2d::load(w.pp("encoder").pp("top_bn"), top, k_.bn_eps);
    top_.act = k_.act;
    if (classify_) {
      const int64_t labels = vision::num_labels(c);
      if (labels > 0) classifier_ = Linear::load(weights.pp("classifier"), k_.hidden_dim, labels);
    }
  }

  NamedTensors forward(const TensorMap& inputs, const ForwardOptions& opts) override {
    Tensor x = stem_(vision::pixel_values(inputs, k_.channels, device()));
    std::vector<Tensor> hs;
    if (opts.output_hidden_states) hs.push_back(x);
    for (const auto& B : blocks_) {
      Tensor h = B.expand ? B.expansion(x) : x;
      h = B.depthwise(h);
      Tensor s = ops::activation(B.se_reduce(ops::adaptive_avg_pool2d(h, 1, 1)), k_.act);
      h = ops::mul(h, ops::unary(UnaryOp::Sigmoid, B.se_expand(s)));
      h = B.projection(h);
      x = B.residual ? ops::add(h, x) : h;
      if (opts.output_hidden_states) hs.push_back(x);
    }
    x = top_(x);
    // nn.AvgPool2d / nn.MaxPool2d(hidden_dim, ceil_mode=True), reshaped to [B, C].
    Tensor pooled = ops::pool2d(
        x, Pool2dArgs::make(k_.pooling == "mean" ? PoolKind::Avg : PoolKind::Max, k_.hidden_dim, k_.hidden_dim, 0, true));
    IA_CHECK(pooled.dim(2) == 1 && pooled.dim(3) == 1, ErrorKind::Unsupported,
             "efficientnet: pooled feature map {} is not 1x1 (input larger than hidden_dim windows)", pooled.describe());
    pooled = pooled.reshape({pooled.dim(0), pooled.dim(1)});
    NamedTensors out;
    const std::string prefix = classify_ ? "base." : "";
    if (classify_) out.emplace_back("logits", classifier_.defined() ? classifier_(pooled) : pooled);
    out.emplace_back(prefix + "last_hidden_state", x);
    out.emplace_back(prefix + "pooler_output", pooled);
    if (opts.output_hidden_states) vision::append_hidden_states(out, hs);
    return out;
  }

 private:
  Config k_;
  bool classify_ = false;
  ConvBN stem_, top_;
  std::vector<Block> blocks_;
  Linear classifier_;
};

std::unique_ptr<Model> make(const ModelConfig& c, const WeightLoader& w, const std::string& cls) {
  return std::make_unique<EfficientNet>(c, w, cls);
}

}  // namespace
}  // namespace ia::efficientnet

IA_REGISTER_MODEL(efficientnet, {"efficientnet", "vision", {"EfficientNetModel", "EfficientNetForImageClassification"},
                                 ia::efficientnet::make})
