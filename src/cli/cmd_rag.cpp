// `ipfs-accelerate rag index <ctx-encoder> <corpus.jsonl> -o <dir>`: encodes every passage ({"title", "text"}
// JSON lines) with a DPR context encoder and writes a FAISS document index (exact IndexFlatIP by default, HNSW
// or IVF on request) for `run rag --index`. `rag search <question-encoder> --index <dir> "question"` retrieves.
#include <fmt/format.h>

#include <iostream>

#include "cli/command.h"
#include "cli/device_flag.h"
#include "core/error.h"
#include "io/model_source.h"
#include "rag/document_index.h"

namespace {

struct IndexArgs {
  std::string encoder, corpus, output, type = "flat", device = "cpu";
  int64_t hnsw_m = 32, nlist = 0, nprobe = 0;
};

struct SearchArgs {
  std::string encoder, index, question, device = "cpu";
  int64_t k = 5;
  bool exact = false;
};

int run_index(const IndexArgs& a) {
  using namespace ia;
  const std::string dir = resolve_model(a.encoder);
  LoadOptions lo;
  lo.device = cli::resolve_device_flag(a.device).device;
  lo.hf_class = "DPRContextEncoder";
  auto enc = load_model(dir, lo);
  const auto tok = text::Tokenizer::from_dir(dir);
  auto passages = rag::read_corpus(a.corpus);
  IA_CHECK(!passages.empty(), ErrorKind::InvalidArgument, "{}: no passages", a.corpus);
  auto emb = rag::encode_passages(*enc, tok, passages);
  const int64_t n = static_cast<int64_t>(passages.size()), d = static_cast<int64_t>(emb.size()) / n;
  auto index = rag::DocumentIndex::build(std::move(passages), std::move(emb), d, rag::parse_index_kind(a.type),
                                         a.hnsw_m, a.nlist, a.nprobe);
  nlohmann::json meta{{"ctx_encoder", a.encoder}, {"corpus", a.corpus}};
  if (a.type == "ivf") meta["nprobe"] = a.nprobe;
  index.save(a.output, meta);
  if (cli::globals().json)
    std::cout << nlohmann::json{{"index", a.output}, {"passages", n}, {"dim", d}, {"index_type", a.type}}.dump()
              << std::endl;
  else
    std::cout << fmt::format("{}: {} passages, dimension {}, {} index\n", a.output, n, d, a.type);
  return 0;
}

int run_search(const SearchArgs& a) {
  using namespace ia;
  const std::string dir = resolve_model(a.encoder);
  LoadOptions lo;
  lo.device = cli::resolve_device_flag(a.device).device;
  lo.hf_class = "DPRQuestionEncoder";
  auto enc = load_model(dir, lo);
  const auto tok = text::Tokenizer::from_dir(dir);
  const auto index = rag::DocumentIndex::load(a.index);
  const auto q = rag::encode_question(*enc, tok, a.question);
  const auto hits = a.exact ? index.brute_force(q, a.k) : index.search(q, a.k);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& h : hits) {
    const auto& p = index.passage(h.id);
    out.push_back({{"id", h.id}, {"score", h.score}, {"title", p.title}, {"text", p.text}});
    if (!cli::globals().json) std::cout << fmt::format("{:>6}  {:.4f}  {} / {}\n", h.id, h.score, p.title, p.text);
  }
  if (cli::globals().json) std::cout << out.dump() << std::endl;
  return 0;
}

void setup(CLI::App& app) {
  auto* c = app.add_subcommand("rag", "RAG document index: build (index) and query (search)");
  c->require_subcommand(1);
  auto ix = std::make_shared<IndexArgs>();
  auto* i = c->add_subcommand("index", "Encode a JSON-lines corpus with a DPR context encoder into a FAISS index");
  i->add_option("ctx_encoder", ix->encoder, "DPRContextEncoder: directory, HF id or ipfs://<cid>")->required();
  i->add_option("corpus", ix->corpus, "JSON lines: {\"title\": ..., \"text\": ...}")->required();
  i->add_option("-o,--output", ix->output, "Index directory to write")->required();
  i->add_option("--type", ix->type, "flat (exact inner product) | hnsw | ivf")
      ->check(CLI::IsMember({"flat", "hnsw", "ivf"}))
      ->capture_default_str();
  i->add_option("--hnsw-m", ix->hnsw_m, "HNSW: neighbours per node")->capture_default_str();
  i->add_option("--nlist", ix->nlist, "IVF: cells (default sqrt(passages))");
  i->add_option("--nprobe", ix->nprobe, "IVF: cells searched (default nlist / 4)");
  i->add_option("--device", ix->device, "cpu | cuda[:N] | auto")->capture_default_str();
  i->add_flag("--json", ia::cli::globals().json, "Machine-readable summary");
  i->callback([ix] { ia::cli::set_exit_code(run_index(*ix)); });
  auto sa = std::make_shared<SearchArgs>();
  auto* s = c->add_subcommand("search", "Retrieve the passages closest to a question");
  s->add_option("question_encoder", sa->encoder, "DPRQuestionEncoder: directory, HF id or ipfs://<cid>")->required();
  s->add_option("question", sa->question, "Question text")->required();
  s->add_option("--index", sa->index, "Index directory from `rag index`")->required();
  s->add_option("-k,--top-k", sa->k, "Passages to return")->capture_default_str();
  s->add_flag("--exact", sa->exact, "Exhaustive inner products instead of the FAISS index");
  s->add_option("--device", sa->device, "cpu | cuda[:N] | auto")->capture_default_str();
  s->add_flag("--json", ia::cli::globals().json, "JSON output");
  s->callback([sa] { ia::cli::set_exit_code(run_search(*sa)); });
}

}  // namespace

IA_REGISTER_COMMAND(rag, 27, setup)
