// fill-mask (transformers FillMaskPipeline): a masked-LM head's distribution at each mask token, top_k
// tokens (optionally restricted to `targets`) with the input completed by each.
#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "pipelines/postprocess.h"
#include "pipelines/text_model.h"

namespace ia::pipelines {

std::vector<Candidate> top_tokens(const std::vector<float>& logits, int64_t top_k,
                                  const std::vector<uint32_t>& targets) {
  const std::vector<double> probs = softmax(logits);
  std::vector<Candidate> c;
  if (targets.empty()) {
    c.reserve(probs.size());
    for (size_t i = 0; i < probs.size(); ++i) c.push_back({probs[i], static_cast<uint32_t>(i)});
  } else {
    for (uint32_t t : targets) {
      IA_CHECK(t < probs.size(), ErrorKind::InvalidArgument, "fill-mask: target id {} outside the vocabulary ({})", t,
               probs.size());
      c.push_back({probs[t], t});
    }
  }
  const size_t k = std::min(c.size(), static_cast<size_t>(std::max<int64_t>(top_k, 0)));
  std::partial_sort(c.begin(), c.begin() + static_cast<long>(k), c.end(), [](const Candidate& a, const Candidate& b) {
    return a.score != b.score ? a.score > b.score : a.token < b.token;
  });
  c.resize(k);
  return c;
}

namespace {

// get_target_ids: a target in the vocabulary is its id; otherwise the first token of its encoding.
std::vector<uint32_t> target_ids(const TextModel& tm, const RunContext& ctx) {
  std::vector<std::string> names;
  if (!ctx.has_param("targets")) return {};
  const auto& t = ctx.params["targets"];
  if (t.is_string()) {
    names.push_back(t.get<std::string>());
  } else {
    IA_CHECK(t.is_array(), ErrorKind::InvalidArgument, "fill-mask: targets must be a string or a list of strings");
    for (const auto& v : t) {
      IA_CHECK(v.is_string(), ErrorKind::InvalidArgument, "fill-mask: targets must be strings, got {}", v.dump());
      names.push_back(v.get<std::string>());
    }
  }
  std::vector<uint32_t> ids;
  for (const auto& n : names) {
    if (auto id = tm.tokenizer->token_to_id(n)) {
      ids.push_back(*id);
      continue;
    }
    text::Encoding e = tm.tokenizer->encode(n, false);
    if (!e.ids.empty()) ids.push_back(e.ids[0]);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  IA_CHECK(!ids.empty(), ErrorKind::InvalidArgument, "fill-mask: at least one target must be provided when passed");
  return ids;
}

nlohmann::json run(const RunContext& ctx, const std::vector<nlohmann::json>& inputs) {
  const std::string task = "fill-mask";
  TextModel tm = TextModel::load(ctx);
  const auto mask = tm.special_id(tm.tokenizer->config().mask_token, {"[MASK]", "<mask>"});
  IA_CHECK(mask, ErrorKind::Unsupported, "{}: {} has no mask token (tokenizer_config mask_token)", task, ctx.model_dir);
  const std::string mask_str = tm.tokenizer->id_to_token(*mask).value_or("[MASK]");
  const std::vector<uint32_t> targets = target_ids(tm, ctx);
  int64_t top_k = ctx.param_int("top_k", 5);
  IA_CHECK(top_k >= 1, ErrorKind::InvalidArgument, "{}: top_k must be >= 1, got {}", task, top_k);
  if (!targets.empty()) top_k = std::min<int64_t>(top_k, static_cast<int64_t>(targets.size()));
  const Truncation trunc = ctx.param_bool("truncation", false) ? Truncation::LongestFirst : Truncation::None;

  std::vector<text::Encoding> encs;
  for (const auto& in : inputs) {
    const std::string text = input_text(task, in, "text");
    text::Encoding e = tm.encode(task, text, nullptr, trunc);
    IA_CHECK(std::find(e.ids.begin(), e.ids.end(), *mask) != e.ids.end(), ErrorKind::InvalidArgument,
             "{}: no mask_token ({}) found on the input: {}", task, mask_str, text.substr(0, 200));
    encs.push_back(std::move(e));
  }
  std::vector<const text::Encoding*> rows;
  for (const auto& e : encs) rows.push_back(&e);
  const std::vector<Tensor> logits = tm.forward_rows(ctx, rows, "logits", true);

  nlohmann::json out = nlohmann::json::array();
  for (size_t r = 0; r < encs.size(); ++r) {
    const text::Encoding& e = encs[r];
    std::vector<size_t> masked;
    for (size_t i = 0; i < e.ids.size(); ++i)
      if (e.ids[i] == *mask) masked.push_back(i);
    const bool single = masked.size() == 1;
    nlohmann::json per_mask = nlohmann::json::array();
    for (size_t m : masked) {
      const std::vector<float> row = host_floats(logits[r].select(0, static_cast<int64_t>(m)));
      IA_CHECK(top_k <= static_cast<int64_t>(row.size()), ErrorKind::InvalidArgument,
               "{}: top_k {} exceeds the vocabulary size {}", task, top_k, row.size());
      nlohmann::json props = nlohmann::json::array();
      for (const Candidate& c : top_tokens(row, top_k, targets)) {
        std::vector<uint32_t> ids;
        for (size_t i = 0; i < e.ids.size(); ++i) {
          const uint32_t id = i == m ? c.token : e.ids[i];
          if (!tm.pad_id || id != *tm.pad_id) ids.push_back(id);
        }
        props.push_back({{"score", c.score},
                         {"token", c.token},
                         {"token_str", tm.tokenizer->decode({c.token})},
                         {"sequence", tm.tokenizer->decode(ids, single)}});
      }
      per_mask.push_back(std::move(props));
    }
    out.push_back(single ? per_mask[0] : per_mask);
  }
  return out;
}

}  // namespace
}  // namespace ia::pipelines

IA_REGISTER_TASK(fill_mask,
                 {"fill-mask",
                  {},
                  "Most likely tokens at each mask token (top_k, targets)",
                  [](const ia::ModelConfig& c, const std::string& cls) {
                    return ia::pipelines::implemented_head(c, cls, {"ForMaskedLM"});
                  },
                  ia::pipelines::run})
