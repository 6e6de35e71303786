// sentence-embeddings: sentence-transformers' SentenceTransformer.encode for a sentence-transformers
// directory (not a transformers pipeline): modules.json's Transformer module (truncating at
// sentence_bert_config.json max_seq_length), then 1_Pooling/config.json (cls / mean / max / mean_sqrt_len /
// weightedmean / lasttoken, concatenated in sentence-transformers' order) and an optional Normalize module.
#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "pipelines/text_model.h"

namespace ia::pipelines {
namespace {
namespace fs = std::filesystem;

struct Modules {
  fs::path transformer;  // directory of the Transformer module
  nlohmann::json pooling = nlohmann::json::object();
  bool normalize = false;
};

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  IA_CHECK(in.good(), ErrorKind::NotFound, "{}: cannot open", p.string());
  auto j = nlohmann::json::parse(in, nullptr, false);
  IA_CHECK(!j.is_discarded(), ErrorKind::Format, "{}: not valid JSON", p.string());
  return j;
}

Modules read_modules(const fs::path& dir) {
  const nlohmann::json m = read_json(dir / "modules.json");
  IA_CHECK(m.is_array(), ErrorKind::Format, "{}: expected a list of modules", (dir / "modules.json").string());
  Modules out;
  bool have_transformer = false, have_pooling = false;
  for (const auto& mod : m) {
    const std::string type = mod.value("type", ""), path = mod.value("path", "");
    const std::string kind = type.substr(type.rfind('.') == std::string::npos ? 0 : type.rfind('.') + 1);
    if (kind == "Transformer") {
      out.transformer = path.empty() ? dir : dir / path;
      have_transformer = true;
    } else if (kind == "Pooling") {
      out.pooling = read_json(dir / path / "config.json");
      have_pooling = true;
    } else if (kind == "Normalize") {
      out.normalize = true;
    } else {
      fail(ErrorKind::Unsupported, "{}: sentence-transformers module {} ({}) is not supported", dir.string(), type,
           path);
    }
  }
  IA_CHECK(have_transformer && have_pooling, ErrorKind::Format,
           "{}: modules.json needs a Transformer and a Pooling module", dir.string());
  return out;
}

// Pooling.forward over one row's token embeddings [S, H] (padding already removed).
std::vector<float> pool(const Tensor& tokens, const nlohmann::json& cfg, const std::string& where) {
  const int64_t S = tokens.dim(0), H = tokens.dim(1);
  const std::vector<float> v = host_floats(tokens);
  auto flag = [&](const char* k) { return cfg.contains(k) && cfg[k].is_boolean() && cfg[k].get<bool>(); };
  std::vector<float> out;
  auto weighted_sum = [&](auto weight) {
    std::vector<double> sum(static_cast<size_t>(H), 0.0);
    double total = 0;
    for (int64_t s = 0; s < S; ++s) {
      const double w = weight(s);
      total += w;
      for (int64_t h = 0; h < H; ++h) sum[static_cast<size_t>(h)] += w * v[static_cast<size_t>(s * H + h)];
    }
    return std::make_pair(sum, std::max(total, 1e-9));
  };
  bool any = false;
  if (flag("pooling_mode_cls_token")) {
    out.insert(out.end(), v.begin(), v.begin() + H);
    any = true;
  }
  if (flag("pooling_mode_max_tokens")) {
    for (int64_t h = 0; h < H; ++h) {
      float m = v[static_cast<size_t>(h)];
      for (int64_t s = 1; s < S; ++s) m = std::max(m, v[static_cast<size_t>(s * H + h)]);
      out.push_back(m);
    }
    any = true;
  }
  if (flag("pooling_mode_mean_tokens") || flag("pooling_mode_mean_sqrt_len_tokens")) {
    auto [sum, n] = weighted_sum([](int64_t) { return 1.0; });
    if (flag("pooling_mode_mean_tokens"))
      for (double x : sum) out.push_back(static_cast<float>(x / n));
    if (flag("pooling_mode_mean_sqrt_len_tokens"))
      for (double x : sum) out.push_back(static_cast<float>(x / std::sqrt(n)));
    any = true;
  }
  if (flag("pooling_mode_weightedmean_tokens")) {
    auto [sum, n] = weighted_sum([](int64_t s) { return static_cast<double>(s + 1); });
    for (double x : sum) out.push_back(static_cast<float>(x / n));
    any = true;
  }
  if (flag("pooling_mode_lasttoken")) {
    out.insert(out.end(), v.begin() + (S - 1) * H, v.begin() + S * H);
    any = true;
  }
  IA_CHECK(any, ErrorKind::Unsupported, "{}: no pooling mode this engine knows is enabled", where);
  return out;
}

nlohmann::json run(const RunContext& ctx, const std::vector<nlohmann::json>& inputs) {
  const std::string task = "sentence-embeddings";
  const Modules mods = read_modules(ctx.model_dir);
  RunContext inner = ctx;
  inner.model_dir = mods.transformer.string();
  TextModel tm = TextModel::load(inner);
  const fs::path st_cfg = mods.transformer / "sentence_bert_config.json";
  if (fs::exists(st_cfg)) {
    const nlohmann::json j = read_json(st_cfg);
    if (j.contains("max_seq_length") && j["max_seq_length"].is_number_integer()) {
      const int64_t m = j["max_seq_length"].get<int64_t>();
      if (m > 0 && (tm.max_length == 0 || m < tm.max_length)) tm.max_length = m;
    }
  }
  std::vector<text::Encoding> encs;
  for (const auto& in : inputs) encs.push_back(tm.encode(task, input_text(task, in, "text"), nullptr,
                                                         Truncation::LongestFirst));
  std::vector<const text::Encoding*> rows;
  for (const auto& e : encs) rows.push_back(&e);
  const bool normalize = mods.normalize || ctx.param_bool("normalize_embeddings", false);
  nlohmann::json out = nlohmann::json::array();
  for (const Tensor& h : tm.forward_rows(inner, rows, hidden_state_output(*tm.model), true)) {
    std::vector<float> e = pool(h, mods.pooling, ctx.model_dir + "/1_Pooling/config.json");
    if (normalize) {
      double n = 0;
      for (float x : e) n += static_cast<double>(x) * x;
      n = std::max(std::sqrt(n), 1e-12);
      for (float& x : e) x = static_cast<float>(x / n);
    }
    out.push_back(e);
  }
  return out;
}

}  // namespace
}  // namespace ia::pipelines

IA_REGISTER_TASK(sentence_embeddings,
                 {"sentence-embeddings",
                  {},
                  "sentence-transformers embeddings (modules.json: Pooling cls/mean/max, Normalize)",
                  [](const ia::ModelConfig& c, const std::string& cls) {
                    const ia::ModelSpec* m = ia::find_model_type(c.model_type());
                    const auto dir = std::filesystem::path(c.source()).parent_path();
                    return m && m->family == "encoder-only" && ia::model_supports(c.model_type(), cls) &&
                           std::filesystem::exists(dir / "modules.json");
                  },
                  ia::pipelines::run})
