// The RAG document index: passages ({"title", "text"}) with their DPR context-encoder embeddings, searched by
// maximum inner product through FAISS (IndexFlatIP exact, IndexHNSWFlat or IndexIVFFlat approximate), stored as
// a directory: passages.jsonl, embeddings.safetensors ("embeddings" f32 [N, D]), index.faiss, index.json.
#pragma once
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "models/model.h"
#include "text/tokenizer.h"

namespace ia::rag {

struct Passage {
  std::string title, text;
};

struct Hit {
  int64_t id = 0;
  float score = 0.0f;  // inner product
};

enum class IndexKind { Flat, HNSW, IVF };
IndexKind parse_index_kind(const std::string& s);  // "flat" | "hnsw" | "ivf"; InvalidArgument otherwise
std::string to_string(IndexKind k);

class DocumentIndex {
 public:
  // Builds the FAISS index over `embeddings` (f32 [N, D] row-major). hnsw_m: HNSW neighbours per node; nlist:
  // IVF cells (at most N), nprobe: IVF cells searched.
  static DocumentIndex build(std::vector<Passage> passages, std::vector<float> embeddings, int64_t dim, IndexKind kind,
                             int64_t hnsw_m = 32, int64_t nlist = 0, int64_t nprobe = 0);
  void save(const std::string& dir, const nlohmann::json& meta) const;
  static DocumentIndex load(const std::string& dir);

  // The k best passages for a query vector (D floats) by the FAISS index, best first.
  std::vector<Hit> search(const std::vector<float>& query, int64_t k) const;
  // The same by exhaustive inner products (equal scores: lower id first).
  std::vector<Hit> brute_force(const std::vector<float>& query, int64_t k) const;

  int64_t size() const { return static_cast<int64_t>(passages_.size()); }
  int64_t dim() const { return dim_; }
  IndexKind kind() const { return kind_; }
  const Passage& passage(int64_t id) const { return passages_.at(static_cast<size_t>(id)); }
  const float* embedding(int64_t id) const { return embeddings_.data() + id * dim_; }
  const nlohmann::json& meta() const { return meta_; }

  DocumentIndex();
  ~DocumentIndex();
  DocumentIndex(DocumentIndex&&) noexcept;
  DocumentIndex& operator=(DocumentIndex&&) noexcept;

 private:
  struct Faiss;
  std::vector<Passage> passages_;
  std::vector<float> embeddings_;
  int64_t dim_ = 0;
  IndexKind kind_ = IndexKind::Flat;
  nlohmann::json meta_;
  std::unique_ptr<Faiss> faiss_;
};

// Reads passages from JSON lines with "title" (optional) and "text"; Format errors name the line.
std::vector<Passage> read_corpus(const std::string& path);
// DPR embeddings (pooler_output) of texts or (title, text) pairs, one forward pass per input, as
// DPRContextEncoderTokenizer(title, text) / DPRQuestionEncoderTokenizer(text) tokenize them (truncated to the
// encoder's max_position_embeddings). Returns f32 [N, D] row-major.
std::vector<float> encode_passages(Model& ctx_encoder, const text::Tokenizer& tok, const std::vector<Passage>& ps);
std::vector<float> encode_question(Model& question_encoder, const text::Tokenizer& tok, const std::string& q);

}  // namespace ia::rag
