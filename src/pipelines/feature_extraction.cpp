// feature-extraction (transformers FeatureExtractionPipeline): the model's first output per input as a nested
// list with its batch dimension: an encoder's last_hidden_state [1, tokens, hidden] (the backbone's states for a
// checkpoint with a head, as AutoModel loads it), a DPR encoder's pooler_output [1, hidden].
#include "core/error.h"
#include "pipelines/text_model.h"

namespace ia::pipelines {
namespace {

nlohmann::json run(const RunContext& ctx, const std::vector<nlohmann::json>& inputs) {
  const std::string task = "feature-extraction";
  TextModel tm = TextModel::load(ctx);
  const Truncation trunc = ctx.param_bool("truncation", false) ? Truncation::LongestFirst : Truncation::None;
  std::vector<text::Encoding> encs;
  for (const auto& in : inputs) encs.push_back(tm.encode(task, input_text(task, in, "text"), nullptr, trunc));
  std::vector<const text::Encoding*> rows;
  for (const auto& e : encs) rows.push_back(&e);
  const bool pooled = tm.model->model_type() == "dpr";
  const std::string name = pooled ? "pooler_output" : hidden_state_output(*tm.model);
  nlohmann::json out = nlohmann::json::array();
  for (const Tensor& h : tm.forward_rows(ctx, rows, name, !pooled)) {
    if (h.ndim() == 1) {
      out.push_back(nlohmann::json::array({host_floats(h)}));
      continue;
    }
    const int64_t S = h.dim(0), H = h.dim(1);
    const std::vector<float> v = host_floats(h);
    nlohmann::json tokens = nlohmann::json::array();
    for (int64_t s = 0; s < S; ++s)
      tokens.push_back(std::vector<float>(v.begin() + s * H, v.begin() + (s + 1) * H));
    out.push_back(nlohmann::json::array({tokens}));
  }
  return out;
}

}  // namespace
}  // namespace ia::pipelines

IA_REGISTER_TASK(feature_extraction,
                 {"feature-extraction",
                  {},
                  "Token embeddings (last_hidden_state, [1, tokens, hidden]) of a text encoder",
                  [](const ia::ModelConfig& c, const std::string& cls) {
                    const ia::ModelSpec* m = ia::find_model_type(c.model_type());
                    return m && (m->family == "encoder-only" || c.model_type() == "dpr") &&
                           ia::model_supports(c.model_type(), cls);
                  },
                  ia::pipelines::run})
