// `run translation` / `run translation_<src>_to_<tgt>`: transformers' TranslationPipeline, text ->
// [{"translation_text": ...}] per returned sequence. Languages from the task name or --param src_lang/tgt_lang:
// T5 takes its task_specific_params prefix ("translate English to German: "), mBART / mBART-50 / M2M100 / NLLB
// their language-code tokens and forced_bos_token_id; Marian models are one language pair each.
#include "pipelines/generation_task.h"

namespace ia::pipelines {
namespace {

nlohmann::json run(const RunContext& ctx, const std::vector<nlohmann::json>& inputs) {
  return run_seq2seq_task(ctx, inputs, ctx.param_string("task", "translation"), "translation");
}

}  // namespace

IA_REGISTER_TASK(translation, TaskSpec{"translation", {}, "Encoder-decoder translation (translation_xx_to_yy, "
                                                          "src_lang/tgt_lang)", accepts_seq2seq, run})

}  // namespace ia::pipelines
