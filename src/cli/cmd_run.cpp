// `ipfs-accelerate run <task> <model> [inputs...]`: transformers' pipeline tasks from the command line. Inputs
// come from arguments, a file or stdin (one input per line; a line that is a JSON string or object is taken as
// that value, so batches are JSON lines); --json prints transformers-shaped output, one JSON value per input.
#include <fmt/format.h>
#include <unistd.h>

#include <fstream>
#include <iostream>

#include "cli/command.h"
#include "cli/device_flag.h"
#include "core/error.h"
#include "io/model_source.h"
#include "pipelines/pipeline.h"

namespace {

struct Args {
  std::string task, model, input_file, device = "cpu";
  std::vector<std::string> inputs, params, images, candidate_labels;
  std::optional<int64_t> top_k, max_new_tokens, num_beams, num_return_sequences, steps, height, width, batch_size;
  std::optional<double> temperature, guidance;
  std::optional<uint64_t> seed;
  std::string prompt, negative_prompt, output, index, aggregation_strategy;
  bool do_sample = false, stream = false;
};

// A line or argument: a JSON string/object/array when it parses as one, else the text itself.
nlohmann::json parse_input(const std::string& s) {
  if (!s.empty() && (s[0] == '{' || s[0] == '"' || s[0] == '[')) {
    auto j = nlohmann::json::parse(s, nullptr, false);
    if (!j.is_discarded()) return j;
  }
  return s;
}

std::vector<nlohmann::json> read_lines(std::istream& in, const std::string& what) {
  std::vector<nlohmann::json> out;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    out.push_back(parse_input(line));
  }
  IA_CHECK(!in.bad(), ia::ErrorKind::Io, "{}: read error", what);
  return out;
}

// Human-readable rendering of one task result.
void print_human(const nlohmann::json& r, std::ostream& os) {
  auto scalar = [](const nlohmann::json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number_float()) return fmt::format("{:.4f}", v.get<double>());
    return v.dump();
  };
  auto line = [&](const nlohmann::json& o) {
    std::string s;
    for (auto it = o.begin(); it != o.end(); ++it) {
      if (!s.empty()) s += "  ";
      s += it.key() + "=" + scalar(it.value());
    }
    return s;
  };
  if (r.is_array()) {
    for (const auto& e : r) os << (e.is_object() ? line(e) : scalar(e)) << "\n";
  } else if (r.is_object()) {
    for (auto it = r.begin(); it != r.end(); ++it) os << it.key() << ": " << scalar(it.value()) << "\n";
  } else {
    os << scalar(r) << "\n";
  }
}

int run(const Args& a) {
  using namespace ia;
  pipelines::RunContext ctx;
  ctx.model_dir = resolve_model(a.model);
  ctx.device = cli::resolve_device_flag(a.device).device;
  const bool json = cli::globals().json;
  auto& p = ctx.params;
  if (a.top_k) p["top_k"] = *a.top_k;
  if (a.max_new_tokens) p["max_new_tokens"] = *a.max_new_tokens;
  if (a.num_beams) p["num_beams"] = *a.num_beams;
  if (a.num_return_sequences) p["num_return_sequences"] = *a.num_return_sequences;
  if (a.do_sample) p["do_sample"] = true;
  if (a.temperature) p["temperature"] = *a.temperature;
  if (a.seed) p["seed"] = *a.seed;
  if (a.steps) p["num_inference_steps"] = *a.steps;
  if (a.guidance) p["guidance_scale"] = *a.guidance;
  if (a.height) p["height"] = *a.height;
  if (a.width) p["width"] = *a.width;
  if (!a.negative_prompt.empty()) p["negative_prompt"] = a.negative_prompt;
  if (!a.output.empty()) p["output"] = a.output;
  if (!a.index.empty()) p["index"] = a.index;
  if (!a.aggregation_strategy.empty()) p["aggregation_strategy"] = a.aggregation_strategy;
  if (!a.candidate_labels.empty()) p["candidate_labels"] = a.candidate_labels;
  for (const auto& kv : a.params) {
    const auto eq = kv.find('=');
    IA_CHECK(eq != std::string::npos && eq > 0, ErrorKind::InvalidArgument, "--param {}: expected key=value", kv);
    const std::string v = kv.substr(eq + 1);
    auto j = nlohmann::json::parse(v, nullptr, false);
    p[kv.substr(0, eq)] = j.is_discarded() ? nlohmann::json(v) : j;
  }
  if (a.batch_size) ctx.batch_size = *a.batch_size;

  std::vector<nlohmann::json> inputs;
  for (const auto& s : a.inputs) inputs.push_back(parse_input(s));
  if (!a.input_file.empty()) {
    if (a.input_file == "-") {
      auto v = read_lines(std::cin, "stdin");
      inputs.insert(inputs.end(), v.begin(), v.end());
    } else {
      std::ifstream in(a.input_file);
      IA_CHECK(in.good(), ErrorKind::Io, "--input-file {}: cannot open", a.input_file);
      auto v = read_lines(in, a.input_file);
      inputs.insert(inputs.end(), v.begin(), v.end());
    }
  }
  if (inputs.empty() && (!a.prompt.empty() || !a.images.empty())) {
    nlohmann::json in = nlohmann::json::object();
    if (!a.prompt.empty()) in["text"] = a.prompt;
    if (a.images.size() == 1) in["image"] = a.images[0];
    if (a.images.size() > 1) in["images"] = a.images;
    inputs.push_back(in);
  } else if (!inputs.empty() && (!a.prompt.empty() || !a.images.empty())) {
    fail(ErrorKind::InvalidArgument, "run: give inputs either as arguments/--input-file or as --prompt/--image");
  }
  if (inputs.empty() && a.input_file.empty() && !isatty(STDIN_FILENO)) inputs = read_lines(std::cin, "stdin");

  bool streamed = false;
  if (a.stream && !json)
    ctx.stream = [&](const std::string& piece) {
      streamed = true;
      std::cout << piece << std::flush;
    };
  nlohmann::json out = pipelines::run_task(a.task, ctx, inputs);
  if (json) {
    std::cout << (out.size() == 1 ? out[0] : out).dump() << std::endl;
  } else if (streamed) {
    std::cout << std::endl;
  } else {
    for (size_t i = 0; i < out.size(); ++i) {
      if (out.size() > 1) std::cout << "[" << i << "] " << (inputs[i].is_string() ? inputs[i].get<std::string>()
                                                                                  : inputs[i].dump()) << "\n";
      print_human(out[i], std::cout);
    }
  }
  return 0;
}

void setup(CLI::App& app) {
  auto a = std::make_shared<Args>();
  std::string tasks;
  auto* c = app.add_subcommand("run", "Run a transformers pipeline task on text, images or audio");
  c->footer([] {
    std::string s = "Tasks:\n";
    for (const auto& t : ia::pipelines::registered_tasks())
      s += fmt::format("  {:<32} {}\n", t.task + (t.aliases.empty() ? "" : " (" + fmt::format("{}",
                                                         fmt::join(t.aliases, ", ")) + ")"), t.summary);
    return s;
  });
  c->add_option("task", a->task, "Pipeline task (transformers' name, e.g. fill-mask)")->required();
  c->add_option("model", a->model, "Model: directory, HF id (org/name[@revision]) or ipfs://<cid>")->required();
  c->add_option("inputs", a->inputs, "Inputs: text, a file path (images, audio) or a JSON object per argument");
  c->add_option("--input-file", a->input_file, "Read inputs from a file, one per line (JSON lines); - for stdin");
  c->add_option("--top-k", a->top_k, "Number of results per input (task default when not given)");
  c->add_option("--max-new-tokens", a->max_new_tokens, "Generation: new tokens");
  c->add_option("--num-beams", a->num_beams, "Generation: beam search width (1 = greedy)");
  c->add_option("--num-return-sequences", a->num_return_sequences, "Generation: sequences per input");
  c->add_flag("--do-sample", a->do_sample, "Generation: sample instead of greedy/beam search");
  c->add_option("--temperature", a->temperature, "Generation: sampling temperature");
  c->add_option("--seed", a->seed, "RNG seed (sampling, diffusion latents)");
  c->add_flag("--stream", a->stream, "Generation: print text as it is produced");
  c->add_option("--aggregation-strategy", a->aggregation_strategy,
                "token-classification: none | simple | first | average | max");
  c->add_option("--candidate-labels", a->candidate_labels, "Zero-shot: candidate labels (repeatable)")
      ->delimiter(',');
  c->add_option("--prompt", a->prompt, "Prompt text (text-to-image, image-text-to-text)");
  c->add_option("--image", a->images, "Image file (image-text-to-text; repeatable)");
  c->add_option("--negative-prompt", a->negative_prompt, "text-to-image: negative prompt");
  c->add_option("--steps", a->steps, "text-to-image: denoising steps (num_inference_steps)");
  c->add_option("--guidance", a->guidance, "text-to-image: classifier-free guidance scale");
  c->add_option("--height", a->height, "text-to-image: image height (multiple of 8)");
  c->add_option("--width", a->width, "text-to-image: image width (multiple of 8)");
  c->add_option("-o,--output", a->output, "Output file (text-to-image PNG)");
  c->add_option("--index", a->index, "rag: document index directory (from `rag index`)");
  c->add_option("--batch-size", a->batch_size, "Inputs per forward pass")->check(CLI::PositiveNumber);
  c->add_option("--param", a->params, "Task parameter key=value (value parsed as JSON when it is JSON; repeatable)");
  c->add_option("--device", a->device, "cpu | cuda[:N] | auto")->capture_default_str();
  c->add_flag("--json", ia::cli::globals().json, "transformers-shaped JSON output (one value per input)");
  c->callback([a] { ia::cli::set_exit_code(run(*a)); });
}

}  // namespace

IA_REGISTER_COMMAND(run, 25, setup)
