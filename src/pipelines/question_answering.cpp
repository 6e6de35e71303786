// question-answering (transformers QuestionAnsweringPipeline, fast-tokenizer path): question + context
// encoded with only_second truncation into doc_stride windows of max_seq_len tokens, start/end softmax over
// context tokens, best spans up to max_answer_len tokens, answers aligned to words and reported with
// character offsets into the context; handle_impossible_answer adds the null answer.
#include <algorithm>
#include <map>

#include "core/error.h"
#include "pipelines/postprocess.h"
#include "pipelines/text_model.h"

namespace ia::pipelines {

std::vector<Span> best_spans(const std::vector<float>& start_logits, const std::vector<float>& end_logits,
                             const std::vector<uint8_t>& allowed, int64_t top_k, int64_t max_answer_len,
                             bool handle_impossible_answer, double* min_null_score) {
  const size_t S = start_logits.size();
  IA_CHECK(end_logits.size() == S && allowed.size() == S, ErrorKind::InvalidArgument,
           "question-answering: start/end logits and mask lengths differ ({}, {}, {})", S, end_logits.size(),
           allowed.size());
  if (S == 0) return {};
  std::vector<float> s(S), e(S);
  for (size_t i = 0; i < S; ++i) {
    s[i] = allowed[i] ? start_logits[i] : -10000.0f;
    e[i] = allowed[i] ? end_logits[i] : -10000.0f;
  }
  std::vector<double> ps = softmax(s), pe = softmax(e);
  if (handle_impossible_answer && min_null_score) *min_null_score = std::min(*min_null_score, ps[0] * pe[0]);
  ps[0] = pe[0] = 0.0;
  // Candidates start <= end <= start + max_answer_len - 1, in the flattened [start, end] order of decode_spans.
  std::vector<Span> cand;
  for (size_t i = 0; i < S; ++i)
    for (size_t j = i; j < S && static_cast<int64_t>(j - i) < max_answer_len; ++j)
      cand.push_back({static_cast<int64_t>(i), static_cast<int64_t>(j), ps[i] * pe[j]});
  const size_t k = std::min(cand.size(), static_cast<size_t>(std::max<int64_t>(top_k, 1)));
  std::stable_sort(cand.begin(), cand.end(), [](const Span& a, const Span& b) { return a.score > b.score; });
  cand.resize(k);
  std::vector<Span> out;
  for (const auto& c : cand)
    if (allowed[static_cast<size_t>(c.start)] && allowed[static_cast<size_t>(c.end)]) out.push_back(c);
  return out;
}

namespace {

struct QaInput {
  std::string question, context;
};

QaInput qa_input(const RunContext& ctx, const nlohmann::json& in, const std::string& task) {
  QaInput q;
  if (in.is_string() && ctx.has_param("context")) {
    q.question = input_text(task, in, "question");
    q.context = input_text(task, ctx.params["context"], "context");
    return q;
  }
  IA_CHECK(in.is_object() && in.contains("question") && in.contains("context"), ErrorKind::InvalidArgument,
           "{}: each input must be {{\"question\": ..., \"context\": ...}} (or a question with --param context=...), "
           "got {}", task, in.dump().substr(0, 200));
  q.question = input_text(task, in["question"], "question");
  q.context = input_text(task, in["context"], "context");
  return q;
}

nlohmann::json run(const RunContext& ctx, const std::vector<nlohmann::json>& inputs) {
  const std::string task = "question-answering";
  TextModel tm = TextModel::load(ctx);
  const int64_t top_k = ctx.param_int("top_k", 1);
  IA_CHECK(top_k >= 1, ErrorKind::InvalidArgument, "{}: top_k parameter should be >= 1 (got {})", task, top_k);
  const int64_t max_answer_len = ctx.param_int("max_answer_len", 15);
  IA_CHECK(max_answer_len >= 1, ErrorKind::InvalidArgument, "{}: max_answer_len parameter should be >= 1 (got {})",
           task, max_answer_len);
  const int64_t model_max = tm.max_length > 0 ? tm.max_length : 384;
  const int64_t max_seq_len = ctx.param_int("max_seq_len", std::min<int64_t>(model_max, 384));
  IA_CHECK(max_seq_len >= 1 && max_seq_len <= model_max, ErrorKind::InvalidArgument,
           "{}: max_seq_len {} must be within 1..{} (the model's maximum length)", task, max_seq_len, model_max);
  const int64_t doc_stride = ctx.param_int("doc_stride", std::min<int64_t>(max_seq_len / 2, 128));
  IA_CHECK(doc_stride >= 0 && doc_stride <= max_seq_len, ErrorKind::InvalidArgument,
           "{}: doc_stride ({}) is larger than max_seq_len ({})", task, doc_stride, max_seq_len);
  const bool impossible = ctx.param_bool("handle_impossible_answer", false);
  const bool align = ctx.param_bool("align_to_words", true);
  const auto cls = tm.special_id(tm.tokenizer->config().cls_token, {"[CLS]", "<s>"});

  nlohmann::json out = nlohmann::json::array();
  for (const auto& in : inputs) {
    const QaInput q = qa_input(ctx, in, task);
    const std::vector<int64_t> chars = char_index_of_bytes(q.context);
    const text::Encoding full = tm.encode(task, q.question, &q.context, Truncation::Unlimited);
    const std::vector<text::Encoding> windows = stride_windows(full, 1, max_seq_len, doc_stride, task);
    std::vector<const text::Encoding*> rows;
    for (const auto& w : windows) rows.push_back(&w);
    const auto logits = tm.forward_rows(ctx, rows, std::vector<std::string>{"start_logits", "end_logits"}, true);
    double min_null = 1000000.0;
    nlohmann::json answers = nlohmann::json::array();
    for (size_t w = 0; w < windows.size(); ++w) {
      const text::Encoding& e = windows[w];
      std::vector<uint8_t> allowed(e.size());
      for (size_t i = 0; i < e.size(); ++i) allowed[i] = e.sequence_ids[i] == 1 || (cls && e.ids[i] == *cls);
      for (const Span& sp : best_spans(host_floats(logits[w][0]), host_floats(logits[w][1]), allowed, top_k, max_answer_len,
                                       impossible, &min_null)) {
        const size_t s = static_cast<size_t>(sp.start), t = static_cast<size_t>(sp.end);
        size_t b0 = e.offsets[s].first, b1 = e.offsets[t].second;
        if (align && e.word_ids[s] >= 0 && e.word_ids[t] >= 0) {
          // word_to_chars of the words holding the span's ends, within this window's context tokens.
          size_t ws = SIZE_MAX, we = 0;
          for (size_t i = 0; i < e.size(); ++i) {
            if (e.sequence_ids[i] != 1) continue;
            if (e.word_ids[i] == e.word_ids[s]) ws = std::min<size_t>(ws, e.offsets[i].first);
            if (e.word_ids[i] == e.word_ids[t]) we = std::max<size_t>(we, e.offsets[i].second);
          }
          if (ws != SIZE_MAX) b0 = ws;
          b1 = std::max<size_t>(we, b0);
        }
        b0 = std::min(b0, q.context.size());
        b1 = std::min(std::max(b1, b0), q.context.size());
        const std::string text = q.context.substr(b0, b1 - b0);
        bool merged = false;
        for (auto& a : answers)
          if (a["answer"] == text) {
            a["score"] = a["score"].get<double>() + sp.score;
            merged = true;
            break;
          }
        if (!merged) answers.push_back({{"score", sp.score}, {"start", chars[b0]}, {"end", chars[b1]}, {"answer", text}});
      }
    }
    if (impossible) answers.push_back({{"score", min_null}, {"start", 0}, {"end", 0}, {"answer", ""}});
    std::stable_sort(answers.begin(), answers.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
      return a["score"].get<double>() > b["score"].get<double>();
    });
    if (answers.size() > static_cast<size_t>(top_k)) answers.erase(answers.begin() + top_k, answers.end());
    out.push_back(answers.size() == 1 ? answers[0] : answers);
  }
  return out;
}

}  // namespace
}  // namespace ia::pipelines

IA_REGISTER_TASK(question_answering,
                 {"question-answering",
                  {},
                  "Extractive QA over a context: best spans (top_k, max_answer_len, doc_stride windows)",
                  [](const ia::ModelConfig& c, const std::string& cls) {
                    return ia::pipelines::implemented_head(c, cls, {"ForQuestionAnswering"});
                  },
                  ia::pipelines::run})
