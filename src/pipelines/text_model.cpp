// Tokenizer + model loading, encoding with transformers' truncation rules, batched forward passes.
#include "pipelines/text_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "models/layers.h"

namespace ia::pipelines {
namespace fs = std::filesystem;

namespace {

// Model types whose position ids start after padding_idx (create_position_ids_from_input_ids).
bool offset_positions(const std::string& type) {
  return type == "roberta" || type == "camembert" || type == "xlm-roberta" || type == "esm" || type == "mpnet";
}

int64_t position_limit(const ModelConfig& c) {
  const nlohmann::json& j = c.json();
  const ModelConfig tc = c.has("text_config") ? c.sub("text_config") : c;
  if (!tc.has("max_position_embeddings")) return 0;
  int64_t n = tc.dim("max_position_embeddings");
  if (offset_positions(c.model_type())) n -= c.dim_or("pad_token_id", 1, 0) + 1;
  // DeBERTa-v2 without position_biased_input uses relative positions only: no absolute table.
  if (c.model_type() == "deberta-v2" && j.contains("position_biased_input") && j["position_biased_input"] == false)
    return 0;
  return std::max<int64_t>(n, 1);
}

std::string tokenizer_json_subword_prefix(const fs::path& dir) {
  const fs::path p = dir / "tokenizer.json";
  if (!fs::exists(p)) return "";
  auto j = nlohmann::json::parse(text::read_text_file(p), nullptr, false);
  if (j.is_discarded() || !j.contains("model") || !j["model"].is_object()) return "";
  const auto& m = j["model"];
  if (m.contains("continuing_subword_prefix") && m["continuing_subword_prefix"].is_string())
    return m["continuing_subword_prefix"].get<std::string>();
  return "";
}

}  // namespace

TextModel TextModel::load(const RunContext& ctx, const std::string& hf_class) {
  TextModel m;
  m.dir = ctx.model_dir;
  m.tokenizer = std::make_unique<text::Tokenizer>(text::Tokenizer::from_dir(ctx.model_dir));
  LoadOptions lo;
  lo.hf_class = hf_class;
  lo.device = ctx.device;
  m.model = load_model(ctx.model_dir, lo);
  const ModelConfig& c = m.model->config();
  m.max_length = position_limit(c);
  const nlohmann::json& raw = m.tokenizer->config().raw;
  if (raw.is_object() && raw.contains("model_max_length") && raw["model_max_length"].is_number()) {
    const double tl = raw["model_max_length"].get<double>();
    if (tl > 0 && tl < 1e9 && (m.max_length == 0 || tl < static_cast<double>(m.max_length)))
      m.max_length = static_cast<int64_t>(tl);
  }
  if (raw.is_object() && raw.contains("padding_side") && raw["padding_side"].is_string())
    m.right_padding = raw["padding_side"].get<std::string>() != "left";
  m.pad_id = m.special_id(m.tokenizer->config().pad_token, {"[PAD]", "<pad>"});
  if (!m.pad_id && c.has("pad_token_id")) m.pad_id = static_cast<uint32_t>(c.dim_or("pad_token_id", 0, 0));
  m.uses_token_types = c.dim_or("type_vocab_size", 0, 0) >= 2;
  m.continuing_subword_prefix = tokenizer_json_subword_prefix(ctx.model_dir);
  return m;
}

std::optional<uint32_t> TextModel::special_id(const std::optional<std::string>& configured,
                                              const std::vector<std::string>& fallbacks) const {
  if (configured)
    if (auto id = tokenizer->token_to_id(*configured)) return id;
  for (const auto& name : fallbacks)
    for (const auto& a : tokenizer->added_tokens())
      if (a.special && a.content == name) return a.id;
  return std::nullopt;
}

text::Encoding TextModel::encode(const std::string& task, const std::string& text, const std::string* pair,
                                 Truncation truncation) const {
  // transformers overrides whatever truncation/padding tokenizer.json carries with the call's arguments.
  tokenizer->set_padding(std::nullopt);
  if (truncation == Truncation::None || truncation == Truncation::Unlimited || max_length == 0) {
    tokenizer->set_truncation(std::nullopt);
  } else {
    text::TruncationParams t;
    t.max_length = static_cast<size_t>(max_length);
    t.strategy = truncation == Truncation::OnlyFirst    ? text::TruncationParams::Strategy::OnlyFirst
                 : truncation == Truncation::OnlySecond ? text::TruncationParams::Strategy::OnlySecond
                                                        : text::TruncationParams::Strategy::LongestFirst;
    tokenizer->set_truncation(t);
  }
  text::Encoding e = pair ? tokenizer->encode_pair(text, *pair) : tokenizer->encode(text);
  e.overflowing.clear();
  IA_CHECK(truncation == Truncation::Unlimited || max_length == 0 || static_cast<int64_t>(e.size()) <= max_length, ErrorKind::InvalidArgument,
           "{}: input is {} tokens but {} accepts at most {}; pass --param truncation=true to cut it as "
           "transformers' truncation=True does",
           task, e.size(), dir, max_length);
  return e;
}

TensorMap TextModel::batch_inputs(const std::vector<const text::Encoding*>& rows, size_t pad_to) const {
  IA_CHECK(!rows.empty(), ErrorKind::InvalidArgument, "forward: no rows");
  size_t S = pad_to;
  for (const auto* r : rows) S = std::max(S, r->size());
  const int64_t B = static_cast<int64_t>(rows.size()), L = static_cast<int64_t>(S);
  Tensor ids = Tensor::empty({B, L}, DType::I64), mask = Tensor::empty({B, L}, DType::I64);
  Tensor types = Tensor::empty({B, L}, DType::I64);
  int64_t* ip = ids.data<int64_t>();
  int64_t* mp = mask.data<int64_t>();
  int64_t* tp = types.data<int64_t>();
  for (int64_t b = 0; b < B; ++b) {
    const text::Encoding& e = *rows[static_cast<size_t>(b)];
    const size_t pad = S - e.size();
    IA_CHECK(pad == 0 || pad_id, ErrorKind::InvalidArgument,
             "{}: batching rows of different lengths needs a pad token, and the tokenizer has none "
             "(use --batch-size 1)", dir);
    const size_t first = right_padding ? 0 : pad;
    for (size_t s = 0; s < S; ++s) {
      const bool real = s >= first && s < first + e.size();
      const size_t k = s - first;
      ip[b * L + static_cast<int64_t>(s)] = real ? e.ids[k] : *pad_id;
      mp[b * L + static_cast<int64_t>(s)] = real ? 1 : 0;
      tp[b * L + static_cast<int64_t>(s)] = real && k < e.type_ids.size() ? e.type_ids[k] : 0;
    }
  }
  TensorMap in{{"input_ids", ids}, {"attention_mask", mask}};
  if (uses_token_types) in["token_type_ids"] = types;
  return in;
}

NamedTensors TextModel::forward(const std::vector<const text::Encoding*>& rows) const {
  return model->forward(batch_inputs(rows), ForwardOptions{});
}

std::vector<Tensor> TextModel::forward_rows(const RunContext& ctx, const std::vector<const text::Encoding*>& rows,
                                            const std::string& output, bool per_token) const {
  std::vector<Tensor> out;
  for (auto& r : forward_rows(ctx, rows, std::vector<std::string>{output}, per_token)) out.push_back(std::move(r[0]));
  return out;
}

std::vector<std::vector<Tensor>> TextModel::forward_rows(const RunContext& ctx,
                                                         const std::vector<const text::Encoding*>& rows,
                                                         const std::vector<std::string>& outputs,
                                                         bool per_token) const {
  std::vector<std::vector<Tensor>> out;
  const size_t bs = static_cast<size_t>(std::max<int64_t>(ctx.batch_size, 1));
  for (size_t lo = 0; lo < rows.size(); lo += bs) {
    std::vector<const text::Encoding*> batch(rows.begin() + static_cast<long>(lo),
                                             rows.begin() + static_cast<long>(std::min(rows.size(), lo + bs)));
    NamedTensors res = forward(batch);
    std::vector<Tensor> host;
    for (const auto& name : outputs)
      host.push_back(output_named(res, name, dir).to(Device::cpu()).to(DType::F32).contiguous());
    for (size_t b = 0; b < batch.size(); ++b) {
      std::vector<Tensor> per_row;
      for (const Tensor& t : host) {
        Tensor row = t.select(0, static_cast<int64_t>(b));
        if (per_token) {
          const int64_t S = row.dim(0), n = static_cast<int64_t>(batch[b]->size());
          row = right_padding ? row.slice(0, 0, n) : row.slice(0, S - n, S);
        }
        per_row.push_back(row.contiguous());
      }
      out.push_back(std::move(per_row));
    }
  }
  return out;
}

namespace {

void append_range(text::Encoding& dst, const text::Encoding& src, size_t b, size_t e) {
  auto cut = [&](const auto& from, auto& to) {
    if (from.size() >= e) to.insert(to.end(), from.begin() + static_cast<long>(b), from.begin() + static_cast<long>(e));
  };
  cut(src.ids, dst.ids);
  cut(src.type_ids, dst.type_ids);
  cut(src.tokens, dst.tokens);
  cut(src.offsets, dst.offsets);
  cut(src.special_tokens_mask, dst.special_tokens_mask);
  cut(src.attention_mask, dst.attention_mask);
  cut(src.sequence_ids, dst.sequence_ids);
  cut(src.word_ids, dst.word_ids);
}

}  // namespace

std::vector<text::Encoding> stride_windows(const text::Encoding& full, int32_t seq, int64_t max_length,
                                           int64_t stride, const std::string& task) {
  const size_t n = full.size();
  size_t a = n, b = 0;
  for (size_t i = 0; i < n; ++i)
    if (full.sequence_ids[i] == seq) {
      a = std::min(a, i);
      b = i + 1;
    }
  if (a >= b || max_length <= 0 || static_cast<int64_t>(n) <= max_length) return {full};
  const int64_t around = static_cast<int64_t>(n - (b - a));
  const int64_t room = max_length - around;
  IA_CHECK(room > 0, ErrorKind::InvalidArgument,
           "{}: the other input and special tokens take {} of the {} tokens the model accepts, leaving no room for "
           "the text", task, around, max_length);
  IA_CHECK(stride >= 0 && stride < room, ErrorKind::InvalidArgument,
           "{}: stride {} must be smaller than the {} tokens of text that fit in one window", task, stride, room);
  const size_t len = b - a, r = static_cast<size_t>(room), step = static_cast<size_t>(room - stride);
  std::vector<text::Encoding> out;
  for (size_t s = 0; s < len; s += step) {
    text::Encoding w;
    append_range(w, full, 0, a);
    append_range(w, full, a + s, a + std::min(len, s + r));
    append_range(w, full, b, n);
    out.push_back(std::move(w));
    if (s + r >= len) break;
  }
  return out;
}

int64_t char_count(const std::string& s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::vector<std::string> candidate_labels(const RunContext& ctx, const nlohmann::json& in, const std::string& task) {
  const nlohmann::json* v = nullptr;
  if (in.is_object() && in.contains("candidate_labels")) v = &in["candidate_labels"];
  else if (ctx.has_param("candidate_labels")) v = &ctx.params["candidate_labels"];
  IA_CHECK(v, ErrorKind::InvalidArgument, "{}: give candidate labels (--candidate-labels a,b,c)", task);
  std::vector<std::string> raw;
  if (v->is_string()) {
    std::string s = v->get<std::string>();
    size_t p = 0;
    while (p <= s.size()) {
      const size_t q = std::min(s.find(',', p), s.size());
      raw.push_back(s.substr(p, q - p));
      p = q + 1;
    }
  } else {
    IA_CHECK(v->is_array(), ErrorKind::InvalidArgument, "{}: candidate_labels must be a string or a list", task);
    for (const auto& x : *v) {
      IA_CHECK(x.is_string(), ErrorKind::InvalidArgument, "{}: candidate labels must be strings", task);
      raw.push_back(x.get<std::string>());
    }
  }
  std::vector<std::string> labels;
  for (auto& l : raw) {
    const size_t b = l.find_first_not_of(" \t"), e = l.find_last_not_of(" \t");
    if (b != std::string::npos) labels.push_back(l.substr(b, e - b + 1));
  }
  IA_CHECK(!labels.empty(), ErrorKind::InvalidArgument, "{}: you must include at least one label", task);
  return labels;
}

std::string format_hypothesis(const std::string& tmpl, const std::string& label, const std::string& task) {
  const size_t p = tmpl.find("{}");
  IA_CHECK(p != std::string::npos, ErrorKind::InvalidArgument,
           "{}: the provided hypothesis_template \"{}\" was not able to be formatted with the target labels; it must "
           "contain {{}} where the label goes", task, tmpl);
  return tmpl.substr(0, p) + label + tmpl.substr(p + 2);
}

std::string input_text(const std::string& task, const nlohmann::json& input, const std::string& key) {
  std::string s;
  if (input.is_string()) {
    s = input.get<std::string>();
  } else if (input.is_object() && input.contains(key) && input[key].is_string()) {
    s = input[key].get<std::string>();
  } else {
    fail(ErrorKind::InvalidArgument, "{}: expected a text or an object with a \"{}\" string, got {}", task, key,
         input.dump().substr(0, 200));
  }
  IA_CHECK(s.find_first_not_of(" \t\r\n") != std::string::npos, ErrorKind::InvalidArgument, "{}: empty input",
           task);
  return s;
}

std::vector<int64_t> char_index_of_bytes(const std::string& s) {
  // A character's first byte maps to its index, a continuation byte to the character it belongs to.
  std::vector<int64_t> idx(s.size() + 1);
  int64_t chars = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool start = (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80;
    idx[i] = start ? chars : std::max<int64_t>(chars - 1, 0);
    chars += start;
  }
  idx[s.size()] = chars;
  return idx;
}

std::vector<float> host_floats(const Tensor& t) {
  return t.to(Device::cpu()).to(DType::F32).contiguous().to_vector<float>();
}

std::vector<double> softmax(const std::vector<float>& logits) {
  std::vector<double> p(logits.size());
  if (logits.empty()) return p;
  const float mx = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) sum += p[i] = std::exp(static_cast<double>(logits[i]) - mx);
  for (auto& v : p) v /= sum;
  return p;
}

std::vector<double> sigmoid(const std::vector<float>& logits) {
  std::vector<double> p(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) p[i] = 1.0 / (1.0 + std::exp(-static_cast<double>(logits[i])));
  return p;
}

std::string id2label(const ModelConfig& config, int64_t i) {
  const nlohmann::json& j = config.json();
  const std::string key = std::to_string(i);
  if (j.contains("id2label") && j["id2label"].is_object() && j["id2label"].contains(key) &&
      j["id2label"][key].is_string())
    return j["id2label"][key].get<std::string>();
  return fmt::format("LABEL_{}", i);
}

std::string hidden_state_output(const Model& model) {
  const std::string& c = model.hf_class();
  const bool base = c.size() >= 5 && c.compare(c.size() - 5, 5, "Model") == 0;
  return base ? "last_hidden_state" : "base.last_hidden_state";
}

const Tensor& output_named(const NamedTensors& out, const std::string& name, const std::string& task) {
  std::vector<std::string> names;
  for (const auto& [n, t] : out) {
    if (n == name) return t;
    names.push_back(n);
  }
  fail(ErrorKind::Unsupported, "{}: the model returns no '{}' output (it returns: {})", task, name,
       fmt::format("{}", fmt::join(names, ", ")));
}

}  // namespace ia::pipelines
