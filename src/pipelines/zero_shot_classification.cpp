// zero-shot-classification (transformers ZeroShotClassificationPipeline): each candidate label becomes the
// hypothesis of an NLI pair (sequence, hypothesis_template.format(label)); the entailment logit (label2id's
// "entail*" id) is softmaxed across labels, or against contradiction per label when multi_label.
#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "pipelines/postprocess.h"
#include "pipelines/text_model.h"

namespace ia::pipelines {

std::vector<double> zero_shot_scores(const std::vector<std::vector<float>>& nli_logits, int64_t entailment_id,
                                     int64_t contradiction_id, bool multi_label) {
  std::vector<double> scores;
  for (const auto& l : nli_logits)
    IA_CHECK(entailment_id >= 0 && entailment_id < static_cast<int64_t>(l.size()) &&
                 contradiction_id < static_cast<int64_t>(l.size()) && l.size() >= 2,
             ErrorKind::InvalidArgument, "zero-shot-classification: NLI logits have {} classes, entailment id {}",
             l.size(), entailment_id);
  if (multi_label) {
    for (const auto& l : nli_logits) {
      const size_t c = contradiction_id < 0 ? l.size() - 1 : static_cast<size_t>(contradiction_id);
      scores.push_back(softmax({l[c], l[static_cast<size_t>(entailment_id)]})[1]);
    }
    return scores;
  }
  std::vector<float> entail;
  for (const auto& l : nli_logits) entail.push_back(l[static_cast<size_t>(entailment_id)]);
  return softmax(entail);
}

namespace {

// The id of the first label2id entry whose name starts with "entail" (case-insensitive), or -1.
int64_t entailment_id(const ModelConfig& c) {
  if (!c.has("label2id") || !c.json()["label2id"].is_object()) return -1;
  for (auto it = c.json()["label2id"].begin(); it != c.json()["label2id"].end(); ++it) {
    std::string k = it.key();
    std::transform(k.begin(), k.end(), k.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    if (k.rfind("entail", 0) == 0 && it.value().is_number_integer()) return it.value().get<int64_t>();
  }
  return -1;
}

nlohmann::json run(const RunContext& ctx, const std::vector<nlohmann::json>& inputs) {
  const std::string task = "zero-shot-classification";
  TextModel tm = TextModel::load(ctx);
  const ModelConfig& config = tm.model->config();
  const int64_t entail = entailment_id(config);
  IA_CHECK(entail >= 0, ErrorKind::Unsupported, "{}: {} has no entailment label in label2id", task, ctx.model_dir);
  const int64_t contradiction = entail == 0 ? -1 : 0;  // -1: the last class, as numpy indexes it
  const std::string tmpl = ctx.param_string("hypothesis_template", "This example is {}.");
  const bool multi = ctx.param_bool("multi_label", false);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& in : inputs) {
    const std::string sequence = input_text(task, in, "sequence");
    const std::vector<std::string> labels = candidate_labels(ctx, in, task);
    std::vector<text::Encoding> encs;
    for (const auto& l : labels) {
      const std::string hyp = format_hypothesis(tmpl, l, task);
      encs.push_back(tm.encode(task, sequence, &hyp, Truncation::OnlyFirst));
    }
    std::vector<const text::Encoding*> rows;
    for (const auto& e : encs) rows.push_back(&e);
    std::vector<std::vector<float>> logits;
    for (const auto& t : tm.forward_rows(ctx, rows, "logits", false)) logits.push_back(host_floats(t));
    const std::vector<double> scores = zero_shot_scores(logits, entail, contradiction, multi || labels.size() == 1);
    // list(reversed(scores.argsort())): best first, equal scores in reverse label order.
    std::vector<size_t> order(scores.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
    std::reverse(order.begin(), order.end());
    nlohmann::json names = nlohmann::json::array(), values = nlohmann::json::array();
    for (size_t i : order) {
      names.push_back(labels[i]);
      values.push_back(scores[i]);
    }
    out.push_back({{"sequence", sequence}, {"labels", names}, {"scores", values}});
  }
  return out;
}

}  // namespace
}  // namespace ia::pipelines

IA_REGISTER_TASK(zero_shot_classification,
                 {"zero-shot-classification",
                  {},
                  "NLI zero-shot labels (candidate_labels, hypothesis_template, multi_label)",
                  [](const ia::ModelConfig& c, const std::string& cls) {
                    return ia::pipelines::implemented_head(c, cls, {"ForSequenceClassification"}) &&
                           ia::pipelines::entailment_id(c) >= 0;
                  },
                  ia::pipelines::run})
