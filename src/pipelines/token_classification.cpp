// token-classification / ner (transformers TokenClassificationPipeline): per-token softmax over id2label,
// special tokens dropped, subwords detected from offsets, then aggregation_strategy none / simple / first /
// average / max and B-/I- entity grouping; long inputs are truncated at the model's maximum length, or cut
// into overlapping windows with `stride` (overlapping entities resolved as transformers does).
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "pipelines/postprocess.h"
#include "pipelines/text_model.h"

namespace ia::pipelines {

Aggregation aggregation_from_name(const std::string& name) {
  std::string n = name;
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (n == "none") return Aggregation::None;
  if (n == "simple") return Aggregation::Simple;
  if (n == "first") return Aggregation::First;
  if (n == "average") return Aggregation::Average;
  if (n == "max") return Aggregation::Max;
  fail(ErrorKind::InvalidArgument, "token-classification: aggregation_strategy must be none, simple, first, average or "
       "max, got '{}'", name);
}

std::pair<char, std::string> entity_tag(const std::string& label) {
  if (label.rfind("B-", 0) == 0) return {'B', label.substr(2)};
  if (label.rfind("I-", 0) == 0) return {'I', label.substr(2)};
  return {'I', label};
}

namespace {

size_t argmax(const std::vector<double>& v) {
  return static_cast<size_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

// An entity before grouping: a token (none/simple) or a word (first/average/max).
struct Entity {
  std::string entity, word;
  double score = 0;
  int64_t index = 0, start = 0, end = 0;
};

Entity aggregate_word(const std::vector<const PreEntity*>& toks, Aggregation s, const ModelConfig& config,
                      const std::function<std::string(const std::vector<std::string>&)>& to_string) {
  std::vector<std::string> words;
  for (const auto* t : toks) words.push_back(t->word);
  Entity e;
  e.word = to_string(words);
  e.start = toks.front()->start;
  e.end = toks.back()->end;
  std::vector<double> scores;
  if (s == Aggregation::First) {
    scores = toks.front()->scores;
  } else if (s == Aggregation::Max) {
    // The token whose best label scores highest (the first on ties, as Python's max()).
    const PreEntity* best = toks.front();
    double best_score = *std::max_element(best->scores.begin(), best->scores.end());
    for (const auto* t : toks) {
      const double m = *std::max_element(t->scores.begin(), t->scores.end());
      if (m > best_score) {
        best = t;
        best_score = m;
      }
    }
    scores = best->scores;
  } else {
    scores.assign(toks.front()->scores.size(), 0.0);
    for (const auto* t : toks)
      for (size_t i = 0; i < scores.size(); ++i) scores[i] += t->scores[i];
    for (auto& v : scores) v /= static_cast<double>(toks.size());
  }
  const size_t i = argmax(scores);
  e.entity = id2label(config, static_cast<int64_t>(i));
  e.score = scores[i];
  return e;
}

nlohmann::json group_entities(const std::vector<Entity>& entities,
                              const std::function<std::string(const std::vector<std::string>&)>& to_string) {
  nlohmann::json out = nlohmann::json::array();
  std::vector<const Entity*> group;
  auto flush = [&] {
    if (group.empty()) return;
    std::vector<std::string> words;
    double sum = 0;
    for (const auto* e : group) {
      words.push_back(e->word);
      sum += e->score;
    }
    out.push_back({{"entity_group", entity_tag(group.front()->entity).second},
                   {"score", sum / static_cast<double>(group.size())},
                   {"word", to_string(words)},
                   {"start", group.front()->start},
                   {"end", group.back()->end}});
    group.clear();
  };
  for (const auto& e : entities) {
    if (!group.empty()) {
      const auto [bi, tag] = entity_tag(e.entity);
      const auto last_tag = entity_tag(group.back()->entity).second;
      if (!(tag == last_tag && bi != 'B')) flush();
    }
    group.push_back(&e);
  }
  flush();
  return out;
}

}  // namespace

nlohmann::json aggregate_entities(const std::vector<PreEntity>& pre, Aggregation strategy, const ModelConfig& config,
                                  const std::vector<std::string>& ignore_labels,
                                  const std::function<std::string(const std::vector<std::string>&)>& to_string) {
  std::vector<Entity> entities;
  if (strategy == Aggregation::None || strategy == Aggregation::Simple) {
    for (const auto& p : pre) {
      const size_t i = argmax(p.scores);
      entities.push_back({id2label(config, static_cast<int64_t>(i)), p.word, p.scores[i], p.index, p.start, p.end});
    }
  } else {
    std::vector<const PreEntity*> word;
    for (const auto& p : pre) {
      if (!word.empty() && !p.is_subword) {
        entities.push_back(aggregate_word(word, strategy, config, to_string));
        word.clear();
      }
      word.push_back(&p);
    }
    if (!word.empty()) entities.push_back(aggregate_word(word, strategy, config, to_string));
  }
  auto ignored = [&](const std::string& label) {
    return std::find(ignore_labels.begin(), ignore_labels.end(), label) != ignore_labels.end();
  };
  nlohmann::json out = nlohmann::json::array();
  if (strategy == Aggregation::None) {
    for (const auto& e : entities)
      if (!ignored(e.entity))
        out.push_back({{"entity", e.entity}, {"score", e.score}, {"index", e.index}, {"word", e.word},
                       {"start", e.start}, {"end", e.end}});
    return out;
  }
  for (auto& g : group_entities(entities, to_string))
    if (!ignored(g["entity_group"].get<std::string>())) out.push_back(std::move(g));
  return out;
}

namespace {

// aggregate_overlapping_entities: across stride windows keep, of overlapping entities, the longer one (the
// higher score on equal length).
nlohmann::json resolve_overlaps(nlohmann::json entities) {
  if (entities.empty()) return entities;
  std::stable_sort(entities.begin(), entities.end(),
                   [](const nlohmann::json& a, const nlohmann::json& b) { return a["start"] < b["start"]; });
  nlohmann::json out = nlohmann::json::array();
  nlohmann::json prev = entities[0];
  for (const auto& e : entities) {
    const int64_t s = e["start"], en = e["end"], ps = prev["start"], pe = prev["end"];
    if (ps <= s && s < pe) {
      const int64_t len = en - s, plen = pe - ps;
      if (len > plen || (len == plen && e["score"].get<double>() > prev["score"].get<double>())) prev = e;
    } else {
      out.push_back(prev);
      prev = e;
    }
  }
  out.push_back(prev);
  return out;
}

nlohmann::json run(const RunContext& ctx, const std::vector<nlohmann::json>& inputs) {
  const std::string task = "token-classification";
  TextModel tm = TextModel::load(ctx);
  const ModelConfig& config = tm.model->config();
  const Aggregation strategy = aggregation_from_name(ctx.param_string("aggregation_strategy", "none"));
  std::vector<std::string> ignore_labels{"O"};
  if (ctx.has_param("ignore_labels")) {
    IA_CHECK(ctx.params["ignore_labels"].is_array(), ErrorKind::InvalidArgument,
             "{}: ignore_labels must be a list of labels", task);
    ignore_labels = ctx.params["ignore_labels"].get<std::vector<std::string>>();
  }
  const bool strided = ctx.has_param("stride");
  const int64_t stride = ctx.param_int("stride", 0);
  if (strided) {
    IA_CHECK(strategy != Aggregation::None, ErrorKind::InvalidArgument,
             "{}: stride was provided to process all the text but aggregation_strategy=\"none\"; choose another one",
             task);
    IA_CHECK(tm.max_length == 0 || stride < tm.max_length, ErrorKind::InvalidArgument,
             "{}: stride {} must be less than the model's maximum length {}", task, stride, tm.max_length);
  }
  const auto unk = tm.special_id(tm.tokenizer->config().unk_token, {"[UNK]", "<unk>"});
  auto to_string = [&](const std::vector<std::string>& toks) { return tm.tokenizer->convert_tokens_to_string(toks); };

  nlohmann::json out = nlohmann::json::array();
  for (const auto& in : inputs) {
    const std::string sentence = input_text(task, in, "text");
    const std::vector<int64_t> chars = char_index_of_bytes(sentence);
    std::vector<text::Encoding> windows;
    if (strided) {
      windows = stride_windows(tm.encode(task, sentence, nullptr, Truncation::Unlimited), 0, tm.max_length, stride,
                               task);
    } else {
      windows.push_back(tm.encode(task, sentence, nullptr, Truncation::LongestFirst));
    }
    std::vector<const text::Encoding*> rows;
    for (const auto& w : windows) rows.push_back(&w);
    const std::vector<Tensor> logits = tm.forward_rows(ctx, rows, "logits", true);
    nlohmann::json all = nlohmann::json::array();
    for (size_t w = 0; w < windows.size(); ++w) {
      const text::Encoding& e = windows[w];
      const Tensor& l = logits[w];
      std::vector<PreEntity> pre;
      for (size_t i = 0; i < e.size(); ++i) {
        if (e.special_tokens_mask[i]) continue;
        PreEntity p;
        p.word = e.tokens[i];
        p.scores = softmax(host_floats(l.select(0, static_cast<int64_t>(i))));
        p.start = chars[std::min<size_t>(e.offsets[i].first, sentence.size())];
        p.end = chars[std::min<size_t>(e.offsets[i].second, sentence.size())];
        p.index = static_cast<int64_t>(i);
        const std::string word_ref = sentence.substr(e.offsets[i].first, e.offsets[i].second - e.offsets[i].first);
        if (!tm.continuing_subword_prefix.empty()) {
          p.is_subword = char_count(p.word) != char_count(word_ref);
        } else {
          // transformers' fallback: a token not preceded by a space (and not itself a space) continues a word.
          const size_t b = e.offsets[i].first;
          p.is_subword = b > 0 && b < sentence.size() && sentence[b - 1] != ' ' && sentence[b] != ' ';
        }
        if (unk && e.ids[i] == *unk) {
          p.word = word_ref;
          p.is_subword = false;
        }
        pre.push_back(std::move(p));
      }
      for (auto& ent : aggregate_entities(pre, strategy, config, ignore_labels, to_string)) all.push_back(ent);
    }
    out.push_back(windows.size() > 1 ? resolve_overlaps(std::move(all)) : all);
  }
  return out;
}

}  // namespace
}  // namespace ia::pipelines

IA_REGISTER_TASK(token_classification,
                 {"token-classification",
                  {"ner"},
                  "Per-token labels with aggregation_strategy none/simple/first/average/max (start/end offsets)",
                  [](const ia::ModelConfig& c, const std::string& cls) {
                    return ia::pipelines::implemented_head(c, cls, {"ForTokenClassification"});
                  },
                  ia::pipelines::run})
