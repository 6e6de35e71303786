// `run text2text-generation`: transformers' Text2TextGenerationPipeline for encoder-decoder models, and the
// shared implementation of summarization and translation (run_seq2seq_task). Input text (after the task's
// config prefix) -> [{"generated_text": ...}] per returned sequence; greedy or beam search with the model's
// generation config, then task_specific_params, then the call's parameters.
#include <fmt/format.h>

#include "core/error.h"
#include "generation/beam_generate.h"
#include "models/seq2seq/seq2seq.h"
#include "pipelines/generation_task.h"
#include "text/tokenizer.h"

namespace ia::pipelines {

namespace {

// Source ids and forced BOS of a multilingual translation model (TokenizerFast._build_translation_inputs).
struct Translation {
  std::vector<int64_t> ids;
  int64_t forced_bos = -1;
};

int64_t lang_token(const text::Tokenizer& tok, const std::string& token, const std::string& what) {
  auto id = tok.token_to_id(token);
  IA_CHECK(id.has_value(), ErrorKind::InvalidArgument, "translation: {} '{}' is not a token of this tokenizer", what,
           token);
  return *id;
}

}  // namespace

bool accepts_seq2seq(const ModelConfig& c, const std::string& cls) {
  const ModelSpec* spec = find_model_type(c.model_type());
  if (!spec || spec->family != "encoder-decoder") return false;
  return cls.empty() || cls.find("ForConditionalGeneration") != std::string::npos ||
         cls.find("MTModel") != std::string::npos;
}

nlohmann::json run_seq2seq_task(const RunContext& ctx, const std::vector<nlohmann::json>& inputs,
                                const std::string& requested_task, const std::string& return_name) {
  LoadOptions lo;
  lo.device = ctx.device;
  auto model = load_model(ctx.model_dir, lo);
  IA_CHECK(dynamic_cast<seq2seq::Seq2SeqLM*>(model.get()) && model->can_generate(), ErrorKind::Unsupported,
           "{}: {} ({}) is not an encoder-decoder language model", requested_task, model->model_type(),
           model->hf_class());
  const text::Tokenizer tok = text::Tokenizer::from_dir(ctx.model_dir);
  const ModelConfig& cfg = model->config();
  std::string task = requested_task;
  // pipeline("translation", t5): the first translation_* entry of task_specific_params.
  const auto& cj = cfg.json();
  if (task == "translation" && cj.contains("task_specific_params") && cj["task_specific_params"].is_object())
    for (auto it = cj["task_specific_params"].begin(); it != cj["task_specific_params"].end(); ++it)
      if (it.key().rfind("translation", 0) == 0) {
        task = it.key();
        break;
      }
  const GenerationPlan plan = plan_generation(ctx, cfg, task);
  const auto& g = plan.config;
  IA_CHECK(!g.do_sample.value_or(false), ErrorKind::Unsupported,
           "{}: sampling for encoder-decoder models is not implemented (greedy and beam search are)", requested_task);
  std::string prefix;
  if (cj.contains("prefix") && cj["prefix"].is_string()) prefix = cj["prefix"].get<std::string>();
  if (plan.task_params.contains("prefix") && plan.task_params["prefix"].is_string())
    prefix = plan.task_params["prefix"].get<std::string>();

  // Languages: the call's src_lang / tgt_lang, else the task name translation_<src>_to_<tgt>.
  std::string src_lang = ctx.param_string("src_lang", ""), tgt_lang = ctx.param_string("tgt_lang", "");
  if (task.rfind("translation_", 0) == 0) {
    const auto to = task.find("_to_");
    if (to != std::string::npos) {
      if (src_lang.empty()) src_lang = task.substr(12, to - 12);
      if (tgt_lang.empty()) tgt_lang = task.substr(to + 4);
    }
  }
  const std::string mt = cfg.model_type();
  const std::string tok_class = tok.config().tokenizer_class;
  const bool multilingual = mt == "m2m_100" || mt == "mbart" || tok_class.rfind("Nllb", 0) == 0;
  const bool translating = requested_task.rfind("translation", 0) == 0;
  auto encode = [&](const std::string& text) {
    Translation t;
    if (translating && multilingual) {
      IA_CHECK(!src_lang.empty() && !tgt_lang.empty(), ErrorKind::InvalidArgument,
               "translation: {} needs src_lang and tgt_lang (--param src_lang=... --param tgt_lang=...)", mt);
      std::vector<int64_t> body;
      for (uint32_t id : tok.encode(text, false).ids) body.push_back(id);
      const auto eos = tok.config().eos_token ? tok.token_to_id(*tok.config().eos_token) : std::nullopt;
      IA_CHECK(eos.has_value(), ErrorKind::Format, "translation: the tokenizer has no eos token");
      if (mt == "m2m_100" && tok_class.rfind("Nllb", 0) != 0) {
        const int64_t src = lang_token(tok, "__" + src_lang + "__", "src_lang");
        t.forced_bos = lang_token(tok, "__" + tgt_lang + "__", "tgt_lang");
        t.ids.push_back(src);
        t.ids.insert(t.ids.end(), body.begin(), body.end());
        t.ids.push_back(*eos);
      } else if (tok_class.rfind("MBart50", 0) == 0 || tok_class.rfind("Nllb", 0) == 0) {
        t.ids.push_back(lang_token(tok, src_lang, "src_lang"));
        t.ids.insert(t.ids.end(), body.begin(), body.end());
        t.ids.push_back(*eos);
        t.forced_bos = lang_token(tok, tgt_lang, "tgt_lang");
      } else {  // MBartTokenizer: tokens, </s>, source language code
        t.ids = body;
        t.ids.push_back(*eos);
        t.ids.push_back(lang_token(tok, src_lang, "src_lang"));
        t.forced_bos = lang_token(tok, tgt_lang, "tgt_lang");
      }
    } else {
      for (uint32_t id : tok.encode(prefix + text, true).ids) t.ids.push_back(id);
    }
    return t;
  };

  generation::BeamRequest req = beam_request(plan, requested_task);
  req.base.pad_token_id = g.pad_token_id.value_or(cfg.dim_or("pad_token_id", 0, 0));
  req.base.max_new_tokens =
      new_token_budget(plan, 1, dynamic_cast<seq2seq::Seq2SeqLM&>(*model).max_decoder_positions());

  nlohmann::json out = nlohmann::json::array();
  for (const auto& in : inputs) {
    IA_CHECK(in.is_string() || (in.is_object() && in.contains("text") && in["text"].is_string()),
             ErrorKind::InvalidArgument, "{}: expected a text input, got {}", requested_task, in.dump().substr(0, 200));
    const Translation t = encode(in.is_string() ? in.get<std::string>() : in["text"].get<std::string>());
    IA_CHECK(!t.ids.empty(), ErrorKind::InvalidArgument, "{}: the input has no tokens", requested_task);
    generation::BeamRequest r = req;
    r.processors = g.processors(1);
    if (t.forced_bos >= 0) r.processors->forced_bos_token_id = t.forced_bos;
    const int64_t S = static_cast<int64_t>(t.ids.size());
    const NamedTensors gen = generation::generate_beams(
        *model, {{"input_ids", Tensor::from_vector(t.ids, {1, S})}, {"attention_mask", layers::full_i64({1, S}, 1)}},
        r);
    const Tensor& ids = gen[0].second;
    nlohmann::json results = nlohmann::json::array();
    for (int64_t i = 0; i < ids.dim(0); ++i) {
      const auto row = ids.select(0, i).contiguous().to_vector<int64_t>();
      results.push_back({{return_name + "_text", tok.decode(std::vector<uint32_t>(row.begin(), row.end()), true)}});
    }
    out.push_back(results);
  }
  return out;
}

namespace {

nlohmann::json run_text2text(const RunContext& ctx, const std::vector<nlohmann::json>& inputs) {
  return run_seq2seq_task(ctx, inputs, "text2text-generation", "generated");
}

}  // namespace

IA_REGISTER_TASK(text2text_generation,
                 TaskSpec{"text2text-generation", {}, "Encoder-decoder text to text (greedy or beam search)",
                          accepts_seq2seq, run_text2text})

}  // namespace ia::pipelines
