// text-classification / sentiment-analysis (transformers TextClassificationPipeline): a sequence
// classification head's logits through softmax, sigmoid or nothing, labelled by id2label.
#include <algorithm>

#include "core/error.h"
#include "pipelines/postprocess.h"
#include "pipelines/text_model.h"

namespace ia::pipelines {

ClassificationFunction classification_function(const ModelConfig& config, const std::string& requested) {
  std::string r = requested;
  std::transform(r.begin(), r.end(), r.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (r == "softmax") return ClassificationFunction::Softmax;
  if (r == "sigmoid") return ClassificationFunction::Sigmoid;
  if (r == "none") return ClassificationFunction::None;
  IA_CHECK(r.empty(), ErrorKind::InvalidArgument,
           "text-classification: function_to_apply must be softmax, sigmoid or none, got '{}'", requested);
  const std::string problem = config.str_or("problem_type", "");
  const int64_t labels = config.has("id2label") ? static_cast<int64_t>(config.json()["id2label"].size())
                                                : config.dim_or("num_labels", 2, 1);
  if (problem == "multi_label_classification" || labels == 1) return ClassificationFunction::Sigmoid;
  if (problem == "single_label_classification" || labels > 1) return ClassificationFunction::Softmax;
  const std::string f = config.str_or("function_to_apply", "none");
  return f == "none" ? ClassificationFunction::None : classification_function(config, f);
}

nlohmann::json classify(const std::vector<float>& logits, const ModelConfig& config, ClassificationFunction f,
                        std::optional<int64_t> top_k) {
  std::vector<double> scores;
  if (f == ClassificationFunction::Softmax) scores = softmax(logits);
  else if (f == ClassificationFunction::Sigmoid) scores = sigmoid(logits);
  else scores.assign(logits.begin(), logits.end());
  IA_CHECK(!scores.empty(), ErrorKind::Backend, "text-classification: the model returned no logits");
  if (!top_k) {
    const size_t best = static_cast<size_t>(std::max_element(scores.begin(), scores.end()) - scores.begin());
    return {{"label", id2label(config, static_cast<int64_t>(best))}, {"score", scores[best]}};
  }
  std::vector<size_t> order(scores.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  if (*top_k > 0 && static_cast<size_t>(*top_k) < order.size()) order.resize(static_cast<size_t>(*top_k));
  nlohmann::json out = nlohmann::json::array();
  for (size_t i : order) out.push_back({{"label", id2label(config, static_cast<int64_t>(i))}, {"score", scores[i]}});
  return out;
}

namespace {

nlohmann::json run(const RunContext& ctx, const std::vector<nlohmann::json>& inputs) {
  const std::string task = "text-classification";
  TextModel tm = TextModel::load(ctx);
  const ModelConfig& config = tm.model->config();
  const ClassificationFunction f = classification_function(config, ctx.param_string("function_to_apply", ""));
  // transformers: top_k=None means every label; an absent top_k keeps the legacy single best label.
  std::optional<int64_t> top_k;
  if (ctx.params.contains("top_k")) {
    top_k = ctx.params["top_k"].is_null() ? 0 : ctx.param_int("top_k", 1);
    IA_CHECK(*top_k >= 0, ErrorKind::InvalidArgument, "{}: top_k must be >= 1, got {}", task, *top_k);
  }
  const Truncation trunc = ctx.param_bool("truncation", false) ? Truncation::LongestFirst : Truncation::None;
  std::vector<text::Encoding> encs;
  for (const auto& in : inputs) {
    // {"text": ..., "text_pair": ...} classifies a pair, as transformers' dict input does.
    const std::string text = input_text(task, in, "text");
    if (in.is_object() && in.contains("text_pair")) {
      const std::string pair = input_text(task, in["text_pair"], "text_pair");
      encs.push_back(tm.encode(task, text, &pair, trunc));
    } else {
      encs.push_back(tm.encode(task, text, nullptr, trunc));
    }
  }
  std::vector<const text::Encoding*> rows;
  for (const auto& e : encs) rows.push_back(&e);
  const std::vector<Tensor> logits = tm.forward_rows(ctx, rows, "logits", false);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& l : logits) out.push_back(classify(host_floats(l), config, f, top_k));
  return out;
}

}  // namespace
}  // namespace ia::pipelines

IA_REGISTER_TASK(text_classification,
                 {"text-classification",
                  {"sentiment-analysis"},
                  "Sequence classification with id2label (softmax/sigmoid per problem_type, top_k)",
                  [](const ia::ModelConfig& c, const std::string& cls) {
                    return ia::pipelines::implemented_head(c, cls, {"ForSequenceClassification"});
                  },
                  ia::pipelines::run})
