// `run text-generation`: transformers' TextGenerationPipeline for causal LMs. A string prompt (tokenized with
// the tokenizer's special tokens) or a chat (a JSON list of {"role", "content"} messages, or {"messages": [...]},
// rendered with the tokenizer's chat template and add_generation_prompt) -> [{"generated_text": ...}] per
// returned sequence: the prompt + the continuation (return_full_text, default true; for a chat, the messages
// plus the assistant's reply), else only the continuation. Greedy, seeded sampling or beam search with the
// model's generation config overridden by the call's parameters; streaming prints text as it is produced.
#include <fmt/format.h>

#include "core/error.h"
#include "generation/generate.h"
#include "models/causal_lm.h"
#include "pipelines/generation_task.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"

namespace ia::pipelines {
namespace {

bool is_chat(const nlohmann::json& in) {
  if (in.is_object() && in.contains("messages")) return true;
  if (!in.is_array() || in.empty()) return false;
  for (const auto& m : in)
    if (!m.is_object() || !m.contains("role")) return false;
  return true;
}

bool accepts(const ModelConfig& c, const std::string& cls) {
  const ModelSpec* spec = find_model_type(c.model_type());
  if (!spec) return false;
  if (spec->family != "decoder-only" && spec->family != "mixture-of-experts" && spec->family != "state-space")
    return false;
  return cls.empty() || cls.find("CausalLM") != std::string::npos || cls.find("LMHead") != std::string::npos;
}

std::vector<uint32_t> u32(const std::vector<int64_t>& v) { return {v.begin(), v.end()}; }

nlohmann::json run(const RunContext& ctx, const std::vector<nlohmann::json>& inputs) {
  LoadOptions lo;
  lo.device = ctx.device;
  auto base = load_model(ctx.model_dir, lo);
  auto* lm = dynamic_cast<CausalLM*>(base.get());
  IA_CHECK(lm != nullptr, ErrorKind::Unsupported, "text-generation: {} ({}) is not a causal language model",
           base->model_type(), base->hf_class());
  const text::Tokenizer tok = text::Tokenizer::from_dir(ctx.model_dir);
  const GenerationPlan plan = plan_generation(ctx, lm->config(), "text-generation");
  const auto& g = plan.config;
  const bool full_text = ctx.param_bool("return_full_text", true);
  const bool sample = g.do_sample.value_or(false);
  const int64_t beams = g.num_beams.value_or(1);
  IA_CHECK(!(sample && beams > 1), ErrorKind::Unsupported, "text-generation: beam sampling (num_beams > 1 with "
           "do_sample) is not implemented");
  const int64_t n_return = g.num_return_sequences.value_or(1);
  IA_CHECK(n_return == 1 || beams >= n_return, ErrorKind::InvalidArgument,
           "text-generation: num_return_sequences {} needs num_beams >= {} (sampled sequences are not implemented "
           "for several returns)", n_return, n_return);
  auto decode = [&](const std::vector<int64_t>& ids) { return tok.decode(u32(ids), true); };

  nlohmann::json out = nlohmann::json::array();
  for (const auto& in : inputs) {
    std::string prompt_text;
    nlohmann::ordered_json messages;
    std::vector<int64_t> ids;
    const bool chat = is_chat(in);
    if (chat) {
      messages = nlohmann::ordered_json::parse((in.is_object() ? in["messages"] : in).dump());
      text::ChatOptions co;
      co.add_generation_prompt = true;
      prompt_text = text::apply_chat_template(tok, messages, co);
      for (uint32_t t : tok.encode(prompt_text, false).ids) ids.push_back(t);
    } else {
      IA_CHECK(in.is_string() || (in.is_object() && in.contains("text") && in["text"].is_string()),
               ErrorKind::InvalidArgument, "text-generation: expected a prompt string or a chat (list of "
               "{{\"role\", \"content\"}}), got {}", in.dump().substr(0, 200));
      prompt_text = in.is_string() ? in.get<std::string>() : in["text"].get<std::string>();
      for (uint32_t t : tok.encode(prompt_text, true).ids) ids.push_back(t);
    }
    IA_CHECK(!ids.empty(), ErrorKind::InvalidArgument, "text-generation: the prompt has no tokens");
    const int64_t P = static_cast<int64_t>(ids.size());
    const int64_t max_pos = lm->max_positions();
    IA_CHECK(max_pos == 0 || P < max_pos, ErrorKind::InvalidArgument,
             "text-generation: prompt of {} tokens leaves no room in the model's {} positions", P, max_pos);
    int64_t N = new_token_budget(plan, P, max_pos);
    if (max_pos > 0) N = std::min(N, max_pos - P);

    generation::GenerationSettings s;
    g.apply(s, P);
    s.max_new_tokens = N;
    if (ctx.has_param("seed")) s.sampling.seed = static_cast<uint64_t>(ctx.param_int("seed", 0));
    std::vector<std::vector<int64_t>> seqs;
    const Tensor prompt = Tensor::from_vector(ids, {1, P});
    if (beams > 1) {
      generation::BeamSearchSettings bs;
      bs.num_beams = beams;
      bs.num_return_sequences = n_return;
      bs.length_penalty = g.length_penalty.value_or(1.0);
      bs.early_stopping = g.early_stopping.value_or(generation::EarlyStopping::False);
      bs.max_length = P + N;
      bs.eos_token_ids = s.eos_token_ids;
      bs.pad_token_id = s.pad_token_id;
      bs.processors = g.processors(P);
      seqs = generation::generate_beams(*lm, prompt, Tensor(), bs).sequences;
    } else {
      s.decode = decode;
      std::vector<int64_t> produced;
      std::string shown;
      if (ctx.stream)
        s.on_tokens = [&](int64_t, const std::vector<int64_t>& t) {
          produced.push_back(t[0]);
          const std::string text = decode(produced);
          if (text.size() > shown.size() && text.compare(0, shown.size(), shown) == 0) {
            ctx.stream(text.substr(shown.size()));
            shown = text;
          }
        };
      seqs.push_back(generation::generate(*lm, prompt, Tensor(), s).ids.to_vector<int64_t>());
    }
    // TextGenerationPipeline.postprocess: decode everything, drop the decoded prompt's length.
    const size_t prompt_chars = decode(ids).size();
    nlohmann::json results = nlohmann::json::array();
    for (const auto& seq : seqs) {
      std::string all = decode(seq);
      std::string fresh = all.size() >= prompt_chars ? all.substr(prompt_chars) : std::string();
      nlohmann::json r;
      if (chat && full_text) {
        nlohmann::json conv = nlohmann::json::parse(messages.dump());
        conv.push_back({{"role", "assistant"}, {"content", fresh}});
        r["generated_text"] = conv;
      } else {
        r["generated_text"] = full_text ? prompt_text + fresh : fresh;
      }
      results.push_back(r);
    }
    out.push_back(results);
  }
  return out;
}

}  // namespace

IA_REGISTER_TASK(text_generation,
                 TaskSpec{"text-generation", {}, "Causal LM continuation or chat reply (greedy, sampling, beam search)",
                          accepts, run})

}  // namespace ia::pipelines
