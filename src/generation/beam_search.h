// Beam search exactly as transformers 4.48 `generate(num_beams > 1, do_sample=False)` (GenerationMixin._beam_search
// with BeamSearchScorer / BeamHypotheses), written once for every model that decodes token by token.
//
// Plugging a model in: implement BeamModel (two calls) and call beam_search().
//   next_logits(seqs): f32 logits [rows * V] for the next token of every row, rows = batch * num_beams, row
//     r = b * num_beams + k. `seqs[r]` is row r's whole decoder sequence so far; feed the tokens the decoder has
//     not consumed yet (the whole decoder prompt on the first call, then the one token appended per step).
//     Per-beam inputs (encoder outputs, image features, prompt masks) are the batch row's, repeated num_beams
//     times (HF _expand_inputs_for_generation), e.g. with ops::index_select over repeated row indices.
//   reorder(beam_idx): new row r continues old row beam_idx[r]; reorder every per-row cache (self-attention KV,
//     recurrent state) in place. beam_idx[r] always lies in r's own batch group, so caches that are equal for
//     all beams of a batch row (cross-attention keys/values of the expanded encoder output) need no reordering.
// CausalLM and Seq2SeqLM generate() do this for decoder-only and encoder-decoder models (see
// models/causal_lm.cpp, models/seq2seq/seq2seq.cpp); speech/vision decoders wrap their decoder the same way.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "generation/logits_process.h"

namespace ia::generation {

// HF early_stopping: True stops a batch row once num_beams hypotheses finished; False (default) also stops when
// the best running score divided by the current length ** length_penalty cannot beat the worst kept hypothesis
// (4.48's heuristic); Never stops only when no better hypothesis is possible (max_length for length_penalty > 0).
enum class EarlyStopping { False, True, Never };
EarlyStopping parse_early_stopping(const std::string& s);  // "true" | "false" | "never"; InvalidArgument otherwise
std::string to_string(EarlyStopping e);

struct BeamModel {
  std::function<std::vector<float>(const std::vector<std::vector<int64_t>>& seqs)> next_logits;
  std::function<void(const std::vector<int64_t>& beam_idx)> reorder;
};

struct BeamSearchSettings {
  int64_t num_beams = 2;              // > 1
  int64_t num_return_sequences = 1;   // <= num_beams
  double length_penalty = 1.0;        // hypothesis score = sum of log-probs / generated_len ** length_penalty
  EarlyStopping early_stopping = EarlyStopping::False;
  int64_t max_length = 0;             // maximum row length, decoder prompt included (HF max_length)
  std::vector<int64_t> eos_token_ids;  // empty: hypotheses only finish at max_length
  int64_t pad_token_id = -1;           // fills shorter returned sequences; needed when their lengths differ
  LogitsProcessors processors;
  std::vector<std::vector<int64_t>> encoder_ids;  // per batch row (encoder_no_repeat_ngram_size); may be empty
  bool return_logits = false;  // raw logits of every row at every step
};

struct BeamSearchOutput {
  // batch * num_return_sequences rows, best first per batch row, all of the same length (HF finalize: shorter
  // ones get eos_token_ids[0] then pad_token_id).
  std::vector<std::vector<int64_t>> sequences;
  std::vector<float> sequence_scores;           // HF sequences_scores (length-penalised)
  std::vector<std::vector<int64_t>> beam_indices;  // HF beam_indices: the row each generated token came from
  std::vector<float> logits;  // [rows, steps, V] raw logits when return_logits (HF output_logits)
  int64_t steps = 0;          // decoding steps run
};

// prompts: one decoder prompt per batch row (all of the same length: left-padded for decoder-only models; the
// decoder start token for encoder-decoders). Errors (InvalidArgument): num_beams < 2, num_return_sequences
// outside [1, num_beams], empty prompts, rows of different lengths, vocab smaller than 2, logits of the wrong size,
// sequences of different lengths with no pad_token_id.
BeamSearchOutput beam_search(const BeamModel& model, const std::vector<std::vector<int64_t>>& prompts,
                             int64_t vocab, const BeamSearchSettings& settings);

// Greedy search over the same interface (HF _greedy_search): the processors on each row's raw logits, the
// first maximum wins, rows that emit an EOS id finish and are padded with pad_token_id (0 when unset); stops when
// every row finished or at max_length. No reorder calls. Returns the sequences (prompt included) in
// BeamSearchOutput::sequences, logits when asked.
BeamSearchOutput greedy_search(const BeamModel& model, const std::vector<std::vector<int64_t>>& prompts,
                               int64_t vocab, const BeamSearchSettings& settings);

// log_softmax of one row, as float (transformers computes it in the logits' float32).
void log_softmax_inplace(std::vector<float>& row);

}  // namespace ia::generation
