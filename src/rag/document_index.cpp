#include "rag/document_index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/index_io.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "core/error.h"
#include "io/safetensors.h"

namespace ia::rag {
namespace fs = std::filesystem;

struct DocumentIndex::Faiss {
  std::unique_ptr<faiss::IndexFlatIP> quantizer;  // IVF only
  std::unique_ptr<faiss::Index> index;
};

DocumentIndex::DocumentIndex() = default;
DocumentIndex::~DocumentIndex() = default;
DocumentIndex::DocumentIndex(DocumentIndex&&) noexcept = default;
DocumentIndex& DocumentIndex::operator=(DocumentIndex&&) noexcept = default;

IndexKind parse_index_kind(const std::string& s) {
  if (s == "flat") return IndexKind::Flat;
  if (s == "hnsw") return IndexKind::HNSW;
  if (s == "ivf") return IndexKind::IVF;
  fail(ErrorKind::InvalidArgument, "index type must be flat, hnsw or ivf, got '{}'", s);
}

std::string to_string(IndexKind k) { return k == IndexKind::Flat ? "flat" : k == IndexKind::HNSW ? "hnsw" : "ivf"; }

DocumentIndex DocumentIndex::build(std::vector<Passage> passages, std::vector<float> embeddings, int64_t dim,
                                   IndexKind kind, int64_t hnsw_m, int64_t nlist, int64_t nprobe) {
  const int64_t n = static_cast<int64_t>(passages.size());
  IA_CHECK(n > 0, ErrorKind::InvalidArgument, "document index: no passages");
  IA_CHECK(dim > 0 && static_cast<int64_t>(embeddings.size()) == n * dim, ErrorKind::InvalidArgument,
           "document index: {} embedding values for {} passages of dimension {}", embeddings.size(), n, dim);
  DocumentIndex d;
  d.passages_ = std::move(passages);
  d.embeddings_ = std::move(embeddings);
  d.dim_ = dim;
  d.kind_ = kind;
  d.faiss_ = std::make_unique<Faiss>();
  try {
    if (kind == IndexKind::Flat) {
      d.faiss_->index = std::make_unique<faiss::IndexFlatIP>(dim);
    } else if (kind == IndexKind::HNSW) {
      IA_CHECK(hnsw_m >= 2, ErrorKind::InvalidArgument, "hnsw: M must be >= 2, got {}", hnsw_m);
      d.faiss_->index = std::make_unique<faiss::IndexHNSWFlat>(dim, static_cast<int>(hnsw_m), faiss::METRIC_INNER_PRODUCT);
    } else {
      const int64_t cells = nlist > 0 ? std::min(nlist, n) : std::max<int64_t>(1, static_cast<int64_t>(std::sqrt(double(n))));
      d.faiss_->quantizer = std::make_unique<faiss::IndexFlatIP>(dim);
      auto ivf = std::make_unique<faiss::IndexIVFFlat>(d.faiss_->quantizer.get(), dim, cells, faiss::METRIC_INNER_PRODUCT);
      ivf->train(n, d.embeddings_.data());
      ivf->nprobe = nprobe > 0 ? std::min(nprobe, cells) : std::max<int64_t>(1, cells / 4);
      d.faiss_->index = std::move(ivf);
    }
    d.faiss_->index->add(n, d.embeddings_.data());
  } catch (const faiss::FaissException& e) {
    fail(ErrorKind::Backend, "faiss: {}", e.what());
  }
  d.meta_ = {{"index_type", to_string(kind)}, {"passages", n}, {"dim", dim}};
  return d;
}

void DocumentIndex::save(const std::string& dir, const nlohmann::json& meta) const {
  fs::create_directories(dir);
  {
    std::ofstream out(fs::path(dir) / "passages.jsonl");
    IA_CHECK(out.good(), ErrorKind::Io, "{}: cannot write passages.jsonl", dir);
    for (const auto& p : passages_) out << nlohmann::json{{"title", p.title}, {"text", p.text}}.dump() << "\n";
  }
  save_safetensors((fs::path(dir) / "embeddings.safetensors").string(),
                   {{"embeddings", Tensor::from_vector(embeddings_, {size(), dim_})}});
  try {
    faiss::write_index(faiss_->index.get(), (fs::path(dir) / "index.faiss").string().c_str());
  } catch (const faiss::FaissException& e) {
    fail(ErrorKind::Io, "{}: faiss write_index: {}", dir, e.what());
  }
  nlohmann::json m = meta_;
  for (auto it = meta.begin(); it != meta.end(); ++it) m[it.key()] = it.value();
  std::ofstream(fs::path(dir) / "index.json") << m.dump(2) << "\n";
}

DocumentIndex DocumentIndex::load(const std::string& dir) {
  const fs::path p(dir);
  IA_CHECK(fs::exists(p / "index.json") && fs::exists(p / "passages.jsonl") && fs::exists(p / "index.faiss") &&
               fs::exists(p / "embeddings.safetensors"),
           ErrorKind::NotFound, "{}: not a document index (index.json, passages.jsonl, index.faiss, "
           "embeddings.safetensors from `ipfs-accelerate rag index`)", dir);
  DocumentIndex d;
  std::ifstream mj(p / "index.json");
  d.meta_ = nlohmann::json::parse(mj, nullptr, false);
  IA_CHECK(d.meta_.is_object(), ErrorKind::Format, "{}/index.json: not a JSON object", dir);
  d.kind_ = parse_index_kind(d.meta_.value("index_type", "flat"));
  d.passages_ = read_corpus((p / "passages.jsonl").string());
  Tensor e;
  for (auto& [n, t] : load_safetensors((p / "embeddings.safetensors").string()))
    if (n == "embeddings") e = t;
  IA_CHECK(e.defined() && e.ndim() == 2 && e.dim(0) == d.size(), ErrorKind::Format,
           "{}/embeddings.safetensors: expected 'embeddings' [{}, D]", dir, d.size());
  d.dim_ = e.dim(1);
  d.embeddings_ = e.to(DType::F32).contiguous().to_vector<float>();
  d.faiss_ = std::make_unique<Faiss>();
  try {
    d.faiss_->index.reset(faiss::read_index((p / "index.faiss").string().c_str()));
  } catch (const faiss::FaissException& e2) {
    fail(ErrorKind::Format, "{}/index.faiss: {}", dir, e2.what());
  }
  IA_CHECK(d.faiss_->index->d == d.dim_ && d.faiss_->index->ntotal == d.size(), ErrorKind::Format,
           "{}/index.faiss: {} vectors of dimension {}, expected {} of {}", dir, d.faiss_->index->ntotal,
           d.faiss_->index->d, d.size(), d.dim_);
  if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(d.faiss_->index.get()); ivf && d.meta_.contains("nprobe"))
    ivf->nprobe = d.meta_["nprobe"].get<int64_t>();
  return d;
}

std::vector<Hit> DocumentIndex::search(const std::vector<float>& q, int64_t k) const {
  IA_CHECK(static_cast<int64_t>(q.size()) == dim_, ErrorKind::InvalidArgument,
           "document index: query of dimension {}, index of {}", q.size(), dim_);
  k = std::min(k, size());
  std::vector<float> dist(k);
  std::vector<int64_t> ids(k);  // faiss idx_t is int64_t
  faiss_->index->search(1, q.data(), k, dist.data(), ids.data());
  std::vector<Hit> out;
  for (int64_t i = 0; i < k; ++i)
    if (ids[i] >= 0) out.push_back({ids[i], dist[i]});
  return out;
}

std::vector<Hit> DocumentIndex::brute_force(const std::vector<float>& q, int64_t k) const {
  IA_CHECK(static_cast<int64_t>(q.size()) == dim_, ErrorKind::InvalidArgument,
           "document index: query of dimension {}, index of {}", q.size(), dim_);
  std::vector<Hit> all;
  for (int64_t i = 0; i < size(); ++i) {
    float s = 0.0f;
    for (int64_t j = 0; j < dim_; ++j) s += q[j] * embeddings_[i * dim_ + j];
    all.push_back({i, s});
  }
  std::stable_sort(all.begin(), all.end(), [](const Hit& a, const Hit& b) { return a.score > b.score; });
  all.resize(std::min<int64_t>(k, size()));
  return all;
}

std::vector<Passage> read_corpus(const std::string& path) {
  std::ifstream in(path);
  IA_CHECK(in.good(), ErrorKind::Io, "{}: cannot open", path);
  std::vector<Passage> out;
  std::string line;
  int64_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    IA_CHECK(j.is_object() && j.contains("text") && j["text"].is_string(), ErrorKind::Format,
             "{}:{}: expected a JSON object with a \"text\" string (and optionally \"title\")", path, n);
    IA_CHECK(!j.contains("title") || j["title"].is_string(), ErrorKind::Format, "{}:{}: \"title\" must be a string",
             path, n);
    out.push_back({j.value("title", ""), j["text"].get<std::string>()});
  }
  return out;
}

namespace {

std::vector<float> pooled(Model& m, const text::Encoding& e) {
  const int64_t S = static_cast<int64_t>(e.ids.size());
  std::vector<int64_t> ids(e.ids.begin(), e.ids.end()), types(e.type_ids.begin(), e.type_ids.end());
  if (types.size() != ids.size()) types.assign(ids.size(), 0);
  TensorMap in{{"input_ids", Tensor::from_vector(ids, {1, S})},
               {"attention_mask", Tensor::from_vector(std::vector<int64_t>(S, 1), {1, S})},
               {"token_type_ids", Tensor::from_vector(types, {1, S})}};
  for (auto& [n, t] : m.forward(in, {}))
    if (n == "pooler_output") return t.to(Device::cpu()).contiguous().to_vector<float>();
  fail(ErrorKind::Unsupported, "{} ({}) has no pooler_output: not a DPR encoder", m.model_type(), m.hf_class());
}

text::Encoding truncated(text::Encoding e, const Model& m) {
  const int64_t maxp = m.config().dim_or("max_position_embeddings", 512, 1);
  if (static_cast<int64_t>(e.ids.size()) > maxp) {  // keep the final [SEP]
    const uint32_t last = e.ids.back(), last_type = e.type_ids.empty() ? 0 : e.type_ids.back();
    e.ids.resize(maxp);
    e.ids.back() = last;
    if (!e.type_ids.empty()) {
      e.type_ids.resize(maxp);
      e.type_ids.back() = last_type;
    }
  }
  return e;
}

}  // namespace

std::vector<float> encode_passages(Model& ctx_encoder, const text::Tokenizer& tok, const std::vector<Passage>& ps) {
  std::vector<float> out;
  for (const auto& p : ps) {
    auto v = pooled(ctx_encoder, truncated(tok.encode_pair(p.title, p.text, true), ctx_encoder));
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

std::vector<float> encode_question(Model& question_encoder, const text::Tokenizer& tok, const std::string& q) {
  return pooled(question_encoder, truncated(tok.encode(q, true), question_encoder));
}

}  // namespace ia::rag
