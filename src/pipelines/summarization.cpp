// `run summarization`: transformers' SummarizationPipeline, text -> [{"summary_text": ...}] per returned
// sequence, with config.json task_specific_params["summarization"] (T5's "summarize: " prefix, beams, lengths).
#include "pipelines/generation_task.h"

namespace ia::pipelines {
namespace {

nlohmann::json run(const RunContext& ctx, const std::vector<nlohmann::json>& inputs) {
  return run_seq2seq_task(ctx, inputs, "summarization", "summary");
}

}  // namespace

IA_REGISTER_TASK(summarization, TaskSpec{"summarization", {}, "Encoder-decoder summary (summary_text)",
                                         accepts_seq2seq, run})

}  // namespace ia::pipelines
