// `ipfs-accelerate generate <model-dir>`: text generation with a causal LM (greedy, seeded sampling or beam
// search, generation_config.json defaults overridable by flags, EOS/stop strings, streaming, --json).
#include <fmt/format.h>

#include <iostream>
#include <sstream>

#include "cli/command.h"
#include "io/model_source.h"
#include "cli/device_flag.h"
#include "generation/generate.h"
#include "generation/generation_config.h"
#include "models/causal_lm.h"
#if __has_include("text/tokenizer.h")
#include "text/tokenizer.h"
#define IA_GENERATE_HAS_TOKENIZER 1
#endif

namespace {

struct Args {
  std::string model, prompt, input_ids, device = "cpu";
  std::optional<int64_t> max_new_tokens, top_k, min_new_tokens, num_beams, num_return_sequences, no_repeat_ngram_size;
  std::optional<float> temperature, top_p, min_p, repetition_penalty;
  std::optional<double> length_penalty;
  std::string early_stopping;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  bool greedy = false, sample = false, stream = false, truncate = false, no_eos = false;
};

std::vector<int64_t> parse_ids(const std::string& s) {
  std::vector<int64_t> ids;
  std::stringstream ss(s);
  std::string tok;
  while (std::getline(ss, tok, ',')) {
    if (tok.find_first_not_of(" \t") == std::string::npos) continue;
    try {
      size_t used = 0;
      ids.push_back(std::stoll(tok, &used));
      IA_CHECK(tok.find_first_not_of(" \t", used) == std::string::npos, ia::ErrorKind::InvalidArgument, "x");
    } catch (const std::exception&) {
      ia::fail(ia::ErrorKind::InvalidArgument, "--input-ids: '{}' is not an integer token id", tok);
    }
  }
  return ids;
}

// Beam search: the best sequences (HF sequences / sequences_scores) from generation::generate_beams.
int run_beams(const Args& a, ia::CausalLM& lm, const std::vector<int64_t>& ids, const ia::generation::GenerationSettings& s,
              const ia::generation::GenerationConfig& g, int64_t num_beams,
              const std::function<std::string(const std::vector<int64_t>&)>& decode, bool json) {
  using namespace ia;
  IA_CHECK(s.stop_strings.empty(), ErrorKind::Unsupported, "generate: stop strings with beam search");
  generation::BeamSearchSettings bs;
  const int64_t P = static_cast<int64_t>(ids.size());
  bs.num_beams = num_beams;
  bs.num_return_sequences = a.num_return_sequences.value_or(g.num_return_sequences.value_or(1));
  bs.length_penalty = a.length_penalty.value_or(g.length_penalty.value_or(1.0));
  bs.early_stopping = a.early_stopping.empty() ? g.early_stopping.value_or(generation::EarlyStopping::False)
                                               : generation::parse_early_stopping(a.early_stopping);
  bs.max_length = P + s.max_new_tokens;
  bs.eos_token_ids = s.eos_token_ids;
  bs.pad_token_id = s.pad_token_id;
  bs.processors = s.processors;
  bs.processors.repetition_penalty = s.sampling.repetition_penalty;
  if (a.no_repeat_ngram_size) bs.processors.no_repeat_ngram_size = *a.no_repeat_ngram_size;
  IA_CHECK(s.max_new_tokens > 0, ErrorKind::InvalidArgument, "generate: beam search needs --max-new-tokens > 0");
  auto r = generation::generate_beams(lm, Tensor::from_vector(ids, {1, P}), Tensor(), bs);
  nlohmann::json seqs = nlohmann::json::array();
  for (size_t i = 0; i < r.sequences.size(); ++i) {
    std::vector<int64_t> fresh(r.sequences[i].begin() + P, r.sequences[i].end());
    nlohmann::json j;
    j["generated_ids"] = fresh;
    if (decode) j["text"] = decode(fresh);
    j["sequence_score"] = r.sequence_scores[i];
    seqs.push_back(j);
    if (!json) {
      if (r.sequences.size() > 1) std::cout << fmt::format("[{}] score {:.4f}: ", i, r.sequence_scores[i]);
      std::cout << (decode ? decode(fresh) : fmt::format("{}", fmt::join(fresh, ","))) << std::endl;
    }
  }
  if (json) {
    nlohmann::json j;
    j["model"] = a.model;
    j["prompt_ids"] = ids;
    j["num_beams"] = num_beams;
    j["length_penalty"] = bs.length_penalty;
    j["early_stopping"] = generation::to_string(bs.early_stopping);
    j["steps"] = r.steps;
    j["sequences"] = seqs;
    std::cout << j.dump() << std::endl;
  } else {
    std::cerr << fmt::format("[beam search: {} beams, {} steps]\n", num_beams, r.steps);
  }
  return 0;
}

int run(const Args& requested) {
  using namespace ia;
  Args a = requested;
  a.model = resolve_model(requested.model);  // local dir, HF id (org/name[@rev]) or ipfs://cid
  const bool json = cli::globals().json;
  IA_CHECK(a.prompt.empty() != a.input_ids.empty(), ErrorKind::InvalidArgument,
           "generate: give exactly one of --prompt or --input-ids");
  LoadOptions lo;
  lo.device = cli::resolve_device_flag(a.device).device;
  auto base = load_model(a.model, lo);
  auto* lm = dynamic_cast<CausalLM*>(base.get());
  IA_CHECK(lm != nullptr, ErrorKind::Unsupported, "generate: {} ({}) is not a causal language model",
           base->model_type(), base->hf_class());

  std::function<std::string(const std::vector<int64_t>&)> decode;
  std::vector<int64_t> ids;
#ifdef IA_GENERATE_HAS_TOKENIZER
  std::optional<text::Tokenizer> tok;
  auto load_tok = [&] {
    if (!tok) tok.emplace(text::Tokenizer::from_dir(a.model));
    return &*tok;
  };
  if (!a.prompt.empty()) {
    auto enc = load_tok()->encode(a.prompt, true);
    for (auto id : enc.ids) ids.push_back(static_cast<int64_t>(id));
  }
  try {
    load_tok();
    decode = [&](const std::vector<int64_t>& v) {
      std::vector<uint32_t> u(v.begin(), v.end());
      return tok->decode(u, true);
    };
  } catch (const Error&) {
    decode = nullptr;  // ids-only model directory: print ids
  }
#else
  IA_CHECK(a.prompt.empty(), ErrorKind::Unsupported,
           "generate: --prompt needs the tokenizer library, not in this build; use --input-ids");
#endif
  if (!a.input_ids.empty()) ids = parse_ids(a.input_ids);
  IA_CHECK(!ids.empty(), ErrorKind::InvalidArgument, "generate: empty prompt (no tokens)");
  const int64_t max_pos = lm->max_positions();
  if (max_pos > 0 && static_cast<int64_t>(ids.size()) > max_pos) {
    IA_CHECK(a.truncate, ErrorKind::InvalidArgument,
             "generate: prompt of {} tokens exceeds the model's maximum of {} positions (use --truncate to keep the "
             "last {})",
             ids.size(), max_pos, max_pos);
    ids.erase(ids.begin(), ids.end() - max_pos);
  }

  generation::GenerationSettings s;
  generation::GenerationConfig::load_dir(a.model).apply(s, static_cast<int64_t>(ids.size()));
  if (a.max_new_tokens) s.max_new_tokens = *a.max_new_tokens;
  if (a.min_new_tokens) s.min_new_tokens = *a.min_new_tokens;
  if (a.temperature || a.top_p || a.top_k || a.min_p || a.seed) s.sampling.do_sample = true;
  if (a.temperature) s.sampling.temperature = *a.temperature;
  if (a.top_p) s.sampling.top_p = *a.top_p;
  if (a.top_k) s.sampling.top_k = *a.top_k;
  if (a.min_p) s.sampling.min_p = *a.min_p;
  if (a.repetition_penalty) s.sampling.repetition_penalty = *a.repetition_penalty;
  if (a.seed) s.sampling.seed = *a.seed;
  if (a.sample) s.sampling.do_sample = true;
  if (a.greedy || (a.temperature && *a.temperature == 0.0f)) {  // temperature 0 = greedy (llama.cpp)
    s.sampling.do_sample = false;
    s.sampling.temperature = 1.0f;
  }
  if (a.no_eos) s.eos_token_ids.clear();
  if (!a.stop.empty()) s.stop_strings = a.stop;
  if (max_pos > 0 && !a.max_new_tokens)  // a generation_config default never overruns the context
    s.max_new_tokens = std::min<int64_t>(s.max_new_tokens, max_pos - static_cast<int64_t>(ids.size()));
  s.decode = decode;
  if (!s.stop_strings.empty())
    IA_CHECK(decode != nullptr, ErrorKind::InvalidArgument, "generate: stop strings need a tokenizer in {}", a.model);

  const auto gcfg = generation::GenerationConfig::load_dir(a.model);
  const int64_t num_beams = a.greedy ? 1 : a.num_beams.value_or(gcfg.num_beams.value_or(1));
  if (num_beams > 1 && !s.sampling.do_sample)
    return run_beams(a, *lm, ids, s, gcfg, num_beams, decode, json);
  IA_CHECK(num_beams <= 1, ErrorKind::Unsupported, "generate: beam sampling (--num-beams with sampling) is not implemented");
  IA_CHECK(a.num_return_sequences.value_or(1) == 1, ErrorKind::InvalidArgument,
           "generate: --num-return-sequences needs --num-beams >= it");
  if (a.no_repeat_ngram_size) s.processors.no_repeat_ngram_size = *a.no_repeat_ngram_size;

  std::vector<int64_t> produced;
  std::string shown;
  if (a.stream && !json) {
    s.on_tokens = [&](int64_t, const std::vector<int64_t>& t) {
      produced.push_back(t[0]);
      if (decode) {
        const std::string text = decode(produced);
        if (text.size() > shown.size() && text.compare(0, shown.size(), shown) == 0) {
          std::cout << text.substr(shown.size()) << std::flush;
          shown = text;
        }
      } else {
        std::cout << (produced.size() > 1 ? "," : "") << t[0] << std::flush;
      }
    };
  }
  auto r = generation::generate(*lm, Tensor::from_vector(ids, {1, static_cast<int64_t>(ids.size())}), Tensor(), s);
  std::vector<int64_t> all = r.ids.to_vector<int64_t>();
  std::vector<int64_t> fresh(all.begin() + static_cast<int64_t>(ids.size()), all.end());
  double decode_s = 0.0;
  for (double d : r.decode_step_seconds) decode_s += d;
  if (json) {
    nlohmann::json j;
    j["model"] = a.model;
    j["prompt_ids"] = ids;
    j["generated_ids"] = fresh;
    if (decode) j["text"] = decode(fresh);
    j["finish_reason"] = r.finish_reason[0];
    j["new_tokens"] = r.new_tokens;
    j["do_sample"] = s.sampling.do_sample;
    j["seed"] = s.sampling.seed;
    j["prefill_ms"] = r.prefill_seconds * 1e3;
    j["decode_tok_per_s"] = decode_s > 0 ? r.decode_step_seconds.size() / decode_s : 0.0;
    std::cout << j.dump() << std::endl;
  } else if (a.stream) {
    std::cout << std::endl;
  } else if (decode) {
    std::cout << decode(fresh) << std::endl;
  } else {
    std::cout << fmt::format("{}", fmt::join(fresh, ",")) << std::endl;
  }
  if (!json)
    std::cerr << fmt::format("[{} new tokens, finish: {}, prefill {:.1f} ms, decode {:.1f} tok/s]\n", r.new_tokens,
                             r.finish_reason[0], r.prefill_seconds * 1e3,
                             decode_s > 0 ? r.decode_step_seconds.size() / decode_s : 0.0);
  return 0;
}

void setup(CLI::App& app) {
  auto a = std::make_shared<Args>();
  auto* c = app.add_subcommand("generate", "Generate text with a causal language model");
  c->add_option("model", a->model, "Model: directory, HF id (org/name[@revision]) or ipfs://<cid>")->required();
  c->add_option("--prompt", a->prompt, "Prompt text (needs the model's tokenizer)");
  c->add_option("--input-ids", a->input_ids, "Prompt as comma-separated token ids, e.g. 1,2,3");
  c->add_option("--max-new-tokens", a->max_new_tokens, "New tokens (default: generation_config.json, else 20)");
  c->add_option("--min-new-tokens", a->min_new_tokens, "Suppress EOS before this many new tokens");
  c->add_option("--temperature", a->temperature, "Sampling temperature (implies sampling; 0 = greedy)");
  c->add_option("--top-k", a->top_k, "Keep the k most likely tokens (implies sampling)");
  c->add_option("--top-p", a->top_p, "Nucleus sampling mass in (0, 1] (implies sampling)");
  c->add_option("--min-p", a->min_p, "Drop tokens below min-p x the top probability (implies sampling)");
  c->add_option("--repetition-penalty", a->repetition_penalty, "HF repetition penalty (> 0; 1 = off)");
  c->add_option("--seed", a->seed, "RNG seed: the same seed reproduces the same tokens (implies sampling)");
  c->add_option("--stop", a->stop, "Stop string (repeatable; needs the tokenizer)");
  c->add_option("--num-beams", a->num_beams, "Beam search width (> 1: beam search as transformers; default: "
                                             "generation_config.json, else 1)");
  c->add_option("--num-return-sequences", a->num_return_sequences, "Beam search: sequences returned (<= beams)");
  c->add_option("--length-penalty", a->length_penalty, "Beam search: score = logprob sum / length^penalty");
  c->add_option("--early-stopping", a->early_stopping, "Beam search: true | false | never")
      ->check(CLI::IsMember({"true", "false", "never"}));
  c->add_option("--no-repeat-ngram-size", a->no_repeat_ngram_size, "Ban repeating any n-gram of this size");
  c->add_flag("--greedy", a->greedy, "Greedy decoding, overriding generation_config.json");
  c->add_flag("--sample", a->sample, "Sample, with the generation_config.json settings");
  c->add_flag("--no-eos", a->no_eos, "Do not stop at the EOS token");
  c->add_flag("--truncate", a->truncate, "Keep the last max-positions tokens of a too-long prompt instead of failing");
  c->add_flag("--stream", a->stream, "Print tokens as they are produced");
  c->add_option("--device", a->device, "cpu | cuda[:N] | auto")->capture_default_str();
  c->add_flag("--json", ia::cli::globals().json, "One JSON object with ids, text and timings");
  c->callback([a] { ia::cli::set_exit_code(run(*a)); });
}

}  // namespace

IA_REGISTER_COMMAND(generate, 30, setup)
