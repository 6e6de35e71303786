// `run rag <rag-dir> --index <dir> "question"`: retrieval-augmented generation with transformers'
// RagTokenForGeneration / RagSequenceForGeneration semantics. <rag-dir> holds config.json (model_type "rag",
// architectures, n_docs, title_sep, doc_sep, max_combined_length) with question_encoder/ (a DPRQuestionEncoder
// and its tokenizer) and generator/ (a seq2seq LM such as BART and its tokenizer); the index comes from
// `ipfs-accelerate rag index`. Per question: DPR embedding, the n_docs best passages by inner product
// (doc_scores), contexts built as RagRetriever does (title + title_sep + text + doc_sep + question), then
// RAG-token: every step's next-token distribution marginalised over the documents (log-softmax per document +
// log-softmax of doc_scores, logsumexp), greedy or beam search; RAG-sequence: hypotheses from a search per
// document, deduplicated, scored by logsumexp over documents of (teacher-forced log-likelihood + document
// log-prior), the first token excluded. Output per input: [{"generated_text", "doc_scores", "retrieved_doc_ids",
// "retrieved_docs"}] (RAG-sequence adds "score").
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <map>

#include "core/error.h"
#include "generation/beam_generate.h"
#include "models/seq2seq/seq2seq.h"
#include "pipelines/generation_task.h"
#include "rag/document_index.h"
#include "text/tokenizer.h"

namespace ia::pipelines {
namespace {
namespace fs = std::filesystem;

bool accepts(const ModelConfig& c, const std::string& cls) {
  return c.model_type() == "rag" && (cls.empty() || cls == "RagTokenForGeneration" || cls == "RagSequenceForGeneration");
}

double logsumexp(const std::vector<double>& v) {
  double mx = -INFINITY;
  for (double x : v) mx = std::max(mx, x);
  if (!std::isfinite(mx)) return mx;
  double s = 0.0;
  for (double x : v) s += std::exp(x - mx);
  return mx + std::log(s);
}

std::vector<double> log_softmax(const std::vector<double>& v) {
  const double lse = logsumexp(v);
  std::vector<double> out;
  for (double x : v) out.push_back(x - lse);
  return out;
}

// RagRetriever.postprocess_docs: strip one pair of quotes around the title, join, collapse double spaces.
std::string context_string(std::string title, const std::string& text, const std::string& question,
                           const std::string& prefix, const std::string& title_sep, const std::string& doc_sep) {
  if (!title.empty() && title.front() == '"') title.erase(0, 1);
  if (!title.empty() && title.back() == '"') title.pop_back();
  std::string s = prefix + title + title_sep + text + doc_sep + question;
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {  // str.replace("  ", " "): non-overlapping left to right
    if (s[i] == ' ' && i + 1 < s.size() && s[i + 1] == ' ') {
      out += ' ';
      ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

nlohmann::json run(const RunContext& ctx, const std::vector<nlohmann::json>& inputs) {
  const fs::path dir(ctx.model_dir);
  const ModelConfig cfg = ModelConfig::load((dir / "config.json").string());
  IA_CHECK(fs::is_directory(dir / "question_encoder") && fs::is_directory(dir / "generator"), ErrorKind::NotFound,
           "{}: a rag directory needs question_encoder/ and generator/ model directories", ctx.model_dir);
  IA_CHECK(ctx.has_param("index"), ErrorKind::InvalidArgument, "rag: --index <dir> (from `rag index`) is required");
  const std::string cls = config_architecture(cfg);
  const bool sequence = cls == "RagSequenceForGeneration";
  const int64_t n_docs = ctx.param_int("n_docs", cfg.dim_or("n_docs", 5, 1));
  const auto& cj = cfg.json();
  const std::string title_sep = cj.value("title_sep", std::string(" / ")), doc_sep = cj.value("doc_sep", std::string(" // "));
  const int64_t max_combined = cfg.dim_or("max_combined_length", 300, 1);

  LoadOptions lo;
  lo.device = ctx.device;
  lo.hf_class = "DPRQuestionEncoder";
  auto qenc = load_model((dir / "question_encoder").string(), lo);
  const auto qtok = text::Tokenizer::from_dir(dir / "question_encoder");
  LoadOptions glo;
  glo.device = ctx.device;
  auto gen_model = load_model((dir / "generator").string(), glo);
  auto* gen = dynamic_cast<seq2seq::Seq2SeqLM*>(gen_model.get());
  IA_CHECK(gen && gen->can_generate(), ErrorKind::Unsupported, "rag: the generator {} ({}) is not a seq2seq LM",
           gen_model->model_type(), gen_model->hf_class());
  const auto gtok = text::Tokenizer::from_dir(dir / "generator");
  const auto index = rag::DocumentIndex::load(ctx.param_string("index", ""));
  IA_CHECK(index.dim() > 0, ErrorKind::Format, "rag: empty index");

  const GenerationPlan plan = plan_generation(ctx, gen->config(), "");
  const auto& g = plan.config;
  IA_CHECK(!g.do_sample.value_or(false), ErrorKind::Unsupported, "rag: sampling is not implemented");
  const int64_t K = g.num_beams.value_or(1), n_return = g.num_return_sequences.value_or(1);
  IA_CHECK(n_return <= K, ErrorKind::InvalidArgument, "rag: num_return_sequences {} needs num_beams >= it", n_return);
  const int64_t V = gen->vocab_size();
  const int64_t pad = g.pad_token_id.value_or(gen->config().dim_or("pad_token_id", 0, 0));
  const int64_t start = g.decoder_start_token_id.value_or(gen->config().dim_or("decoder_start_token_id", 0, 0));
  const int64_t N = new_token_budget(plan, 1, gen->max_decoder_positions());
  std::string prefix = cj.value("prefix", std::string());
  if (prefix.empty() && gen->config().json().contains("prefix") && gen->config().json()["prefix"].is_string())
    prefix = gen->config().json()["prefix"].get<std::string>();

  nlohmann::json out = nlohmann::json::array();
  for (const auto& in : inputs) {
    IA_CHECK(in.is_string() || (in.is_object() && in.contains("text") && in["text"].is_string()),
             ErrorKind::InvalidArgument, "rag: expected a question string, got {}", in.dump().substr(0, 200));
    const std::string question = in.is_string() ? in.get<std::string>() : in["text"].get<std::string>();
    const auto q = rag::encode_question(*qenc, qtok, question);
    IA_CHECK(static_cast<int64_t>(q.size()) == index.dim(), ErrorKind::InvalidArgument,
             "rag: question embedding of dimension {}, index of {}", q.size(), index.dim());
    const auto hits = index.search(q, n_docs);
    const int64_t D = static_cast<int64_t>(hits.size());
    std::vector<double> doc_scores;
    std::vector<std::vector<int64_t>> ctx_ids;
    for (const auto& h : hits) {
      float s = 0.0f;  // HF: bmm(question_hidden_states, retrieved_doc_embeds)
      for (int64_t j = 0; j < index.dim(); ++j) s += q[j] * index.embedding(h.id)[j];
      doc_scores.push_back(s);
      const auto& p = index.passage(h.id);
      auto e = gtok.encode(context_string(p.title, p.text, question, prefix, title_sep, doc_sep), true);
      std::vector<int64_t> ids(e.ids.begin(), e.ids.end());
      if (static_cast<int64_t>(ids.size()) > max_combined) {  // truncation keeps the closing special token
        const int64_t last = ids.back();
        ids.resize(max_combined);
        ids.back() = last;
      }
      ctx_ids.push_back(ids);
    }
    const std::vector<double> doc_lp = log_softmax(doc_scores);
    // The contexts as one right-padded batch.
    int64_t S = 0;
    for (const auto& c : ctx_ids) S = std::max<int64_t>(S, c.size());
    std::vector<int64_t> flat, mflat;
    for (const auto& c : ctx_ids)
      for (int64_t i = 0; i < S; ++i) {
        flat.push_back(i < (int64_t)c.size() ? c[i] : pad);
        mflat.push_back(i < (int64_t)c.size());
      }
    const Tensor ids_t = Tensor::from_vector(flat, {D, S}), mask_t = Tensor::from_vector(mflat, {D, S});

    generation::BeamSearchSettings bs;
    bs.num_beams = K;
    bs.num_return_sequences = n_return;
    bs.length_penalty = g.length_penalty.value_or(1.0);
    bs.early_stopping = g.early_stopping.value_or(generation::EarlyStopping::False);
    bs.max_length = 1 + N;
    bs.eos_token_ids = g.eos_token_ids;
    bs.pad_token_id = pad;
    bs.processors = g.processors(1);
    std::vector<std::vector<int64_t>> seqs;
    std::vector<double> seq_scores;
    if (!sequence) {
      // RAG-token: K beams x D documents of decoder rows; the beam search sees the marginal log-probs.
      const int64_t G = K * D;
      const Tensor enc = gen->encode(ids_t, mask_t, nullptr);
      std::vector<int64_t> rows, mrows;
      for (int64_t k = 0; k < K; ++k)
        for (int64_t d = 0; d < D; ++d) {
          rows.push_back(d);
          mrows.insert(mrows.end(), mflat.begin() + d * S, mflat.begin() + (d + 1) * S);
        }
      const Tensor enc_g = ops::index_select(enc, Tensor::from_vector(rows, {G}).to(enc.device()));
      auto state = gen->new_state(enc_g, Tensor::from_vector(mrows, {G, S}), N);
      generation::BeamModel bm;
      bm.next_logits = [&](const std::vector<std::vector<int64_t>>& beams) {
        std::vector<int64_t> last(G);
        for (int64_t k = 0; k < K; ++k)
          for (int64_t d = 0; d < D; ++d) last[k * D + d] = beams[k].back();
        seq2seq::DecodeInput di;
        di.input_ids = Tensor::from_vector(last, {G, 1});
        const Tensor h = gen->decode(*state, di);
        std::vector<float> l = gen->lm_logits(h).to(Device::cpu()).contiguous().to_vector<float>();
        std::vector<float> marginal(K * V);
        std::vector<float> row(V);
        std::vector<std::vector<float>> lsm(D);
        for (int64_t k = 0; k < K; ++k) {
          for (int64_t d = 0; d < D; ++d) {
            lsm[d].assign(l.begin() + (k * D + d) * V, l.begin() + (k * D + d + 1) * V);
            generation::log_softmax_inplace(lsm[d]);
          }
          std::vector<double> terms(D);
          for (int64_t v = 0; v < V; ++v) {
            for (int64_t d = 0; d < D; ++d) terms[d] = double(lsm[d][v]) + doc_lp[d];
            marginal[k * V + v] = static_cast<float>(logsumexp(terms));
          }
        }
        return marginal;
      };
      bm.reorder = [&](const std::vector<int64_t>& beam_idx) {
        std::vector<int64_t> gidx(G);
        for (int64_t k = 0; k < K; ++k)
          for (int64_t d = 0; d < D; ++d) gidx[k * D + d] = beam_idx[k] * D + d;
        state->reorder(gidx);
      };
      const auto r = K > 1 ? generation::beam_search(bm, {{start}}, V, bs) : generation::greedy_search(bm, {{start}}, V, bs);
      seqs = r.sequences;
    } else {
      // RAG-sequence: a search per document, hypotheses padded to one length and deduplicated in order.
      std::vector<std::vector<int64_t>> hyps;
      for (int64_t d = 0; d < D; ++d) {
        generation::BeamRequest req;
        req.base.max_new_tokens = N;
        req.base.eos_token_ids = g.eos_token_ids;
        req.base.pad_token_id = pad;
        req.base.decoder_start_token_id = start;
        req.num_beams = K;
        req.num_return_sequences = K;
        req.length_penalty = bs.length_penalty;
        req.early_stopping = bs.early_stopping;
        req.processors = bs.processors;
        const int64_t L = static_cast<int64_t>(ctx_ids[d].size());
        const auto o = generation::generate_beams(
            *gen, {{"input_ids", Tensor::from_vector(ctx_ids[d], {1, L})}, {"attention_mask", layers::full_i64({1, L}, 1)}},
            req);
        const Tensor& t = o[0].second;
        for (int64_t i = 0; i < t.dim(0); ++i) hyps.push_back(t.select(0, i).contiguous().to_vector<int64_t>());
      }
      size_t L = 0;
      for (const auto& h : hyps) L = std::max(L, h.size());
      std::vector<std::vector<int64_t>> unique;
      for (auto h : hyps) {
        h.resize(L, pad);
        if (std::find(unique.begin(), unique.end(), h) == unique.end()) unique.push_back(h);
      }
      // Scores: logsumexp over documents of the teacher-forced log-likelihood (targets y[1:], the first one
      // excluded, pad targets masked) plus the document log-prior (added at the second target, as get_nll does).
      std::vector<double> scores;
      for (const auto& y : unique) {
        std::vector<double> per_doc(D);
        const int64_t T = static_cast<int64_t>(y.size());
        for (int64_t d = 0; d < D; ++d) {
          const int64_t Ld = static_cast<int64_t>(ctx_ids[d].size());
          const auto f = gen->forward({{"input_ids", Tensor::from_vector(ctx_ids[d], {1, Ld})},
                                       {"decoder_input_ids", Tensor::from_vector(y, {1, T})}},
                                      {});
          std::vector<float> logits = f[0].second.to(Device::cpu()).contiguous().to_vector<float>();
          double ll = 0.0;
          for (int64_t t = 1; t < T; ++t) {
            const int64_t target = t + 1 < T ? y[t + 1] : pad;
            if (target == pad) continue;
            std::vector<float> row(logits.begin() + t * V, logits.begin() + (t + 1) * V);
            generation::log_softmax_inplace(row);
            ll += row[target] + (t == 1 ? doc_lp[d] : 0.0);
          }
          per_doc[d] = ll;
        }
        scores.push_back(logsumexp(per_doc));
      }
      std::vector<size_t> order(unique.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
      for (int64_t i = 0; i < std::min<int64_t>(n_return, order.size()); ++i) {
        seqs.push_back(unique[order[i]]);
        seq_scores.push_back(scores[order[i]]);
      }
    }
    nlohmann::json docs = nlohmann::json::array(), ids_j = nlohmann::json::array();
    for (size_t i = 0; i < hits.size(); ++i) {
      const auto& p = index.passage(hits[i].id);
      docs.push_back({{"id", hits[i].id}, {"title", p.title}, {"text", p.text}});
      ids_j.push_back(hits[i].id);
    }
    nlohmann::json results = nlohmann::json::array();
    for (size_t i = 0; i < seqs.size(); ++i) {
      nlohmann::json r{{"generated_text", gtok.decode(std::vector<uint32_t>(seqs[i].begin(), seqs[i].end()), true)},
                       {"doc_scores", doc_scores},
                       {"retrieved_doc_ids", ids_j},
                       {"retrieved_docs", docs}};
      if (sequence) r["score"] = seq_scores[i];
      results.push_back(r);
    }
    out.push_back(results);
  }
  return out;
}

}  // namespace

IA_REGISTER_TASK(rag, TaskSpec{"rag", {}, "Retrieval-augmented generation (DPR + FAISS index + seq2seq generator)",
                               accepts, run})

}  // namespace ia::pipelines
