// `ipfs-accelerate bench-tokenizer`: encode throughput (MB/s, tokens/s) on >= 10 MB of mixed real text, single
// thread and all threads, for BERT, GPT-2, Llama-2 and Llama-3, next to HF's Rust tokenizers (npm
// @anush008/tokenizers, bench/tokenizers/rust_bench.mjs) run on the same documents in the same invocation.
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cli/command.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "text/tokenizer.h"
#include "text/unicode.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct BenchArgs {
  std::vector<std::string> tokenizers;
  double size_mb = 10.0;
  bool no_rust = false;
  std::string corpus_out;
};

std::vector<fs::path> sorted_files(const fs::path& root, const std::function<bool(const fs::path&)>& keep) {
  std::vector<fs::path> out;
  if (!fs::exists(root)) return out;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied);
       it != fs::recursive_directory_iterator(); ++it) {
    std::error_code ec;
    if (it->is_regular_file(ec) && !it->is_symlink(ec) && keep(it->path())) out.push_back(it->path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Paragraph-sized documents (split at blank lines, at most 8 KB) of valid UTF-8.
void add_paragraphs(const std::string& text, std::vector<std::string>& docs, size_t& total) {
  std::string clean = ia::text::utf8_lossy(text);
  size_t pos = 0;
  while (pos < clean.size()) {
    size_t e = clean.find("\n\n", pos);
    e = e == std::string::npos ? clean.size() : e + 2;
    if (e - pos > 8192) {
      e = pos + 8192;
      while (e < clean.size() && (static_cast<unsigned char>(clean[e]) & 0xC0) == 0x80) ++e;
    }
    docs.push_back(clean.substr(pos, e - pos));
    total += e - pos;
    pos = e;
  }
}

// Mixed real text: Debian changelogs and copyright files (English prose, names, some other languages), C/C++
// headers (code) and the multilingual tokenizer test inputs, interleaved until `target` bytes.
std::vector<std::string> build_corpus(size_t target) {
  auto changelogs = sorted_files("/usr/share/doc", [](const fs::path& p) {
    return p.filename().string().rfind("changelog", 0) == 0 && p.extension() == ".gz";
  });
  auto copyrights = sorted_files("/usr/share/doc", [](const fs::path& p) { return p.filename() == "copyright"; });
  auto headers = sorted_files("/usr/include", [](const fs::path& p) { return p.extension() == ".h"; });
  std::vector<std::string> multilingual;
  fs::path ml = fs::path(IA_SOURCE_DIR) / "tests/data/tokenizers/vectors/swift-transformers/MultilingualConformance/inputs.json";
  if (fs::exists(ml))
    for (auto& e : json::parse(ia::text::read_text_file(ml))) multilingual.push_back(e["text"].get<std::string>());
  std::vector<std::string> docs;
  size_t total = 0;
  size_t ic = 0, ir = 0, ih = 0, im = 0;
  while (total < target) {
    size_t before = total;
    if (ic < changelogs.size()) add_paragraphs(ia::text::read_text_file(changelogs[ic++]), docs, total);
    if (ir < copyrights.size()) add_paragraphs(ia::text::read_text_file(copyrights[ir++]), docs, total);
    if (ih < headers.size() && ih % 2 == 0) add_paragraphs(ia::text::read_text_file(headers[ih]), docs, total);
    ++ih;
    if (!multilingual.empty()) {
      docs.push_back(multilingual[im++ % multilingual.size()]);
      total += docs.back().size();
    }
    IA_CHECK(total > before || ih < headers.size(), ia::ErrorKind::NotFound,
             "bench-tokenizer: not enough text under /usr/share/doc and /usr/include for a {}-byte corpus", target);
  }
  return docs;
}

std::optional<fs::path> find_tokenizer(const std::string& name) {
  fs::path p(name);
  if (fs::exists(p)) return p;
  for (fs::path root : {fs::path(IA_SOURCE_DIR) / "tests/data/tokenizers",
                        fs::path(IA_SOURCE_DIR).parent_path() / "shared/assets/tokenizers"})
    if (fs::exists(root / name)) return root / name;
  return std::nullopt;
}

struct Run {
  double seconds = 0;
  size_t tokens = 0;
  uint32_t checksum = 0;
};

uint32_t checksum_of(const std::vector<ia::text::Encoding>& encs) {
  uint32_t c = 0;
  for (auto& e : encs)
    for (uint32_t id : e.ids) c = c * 31u + id;
  return c;
}

Run run_native(const ia::text::Tokenizer& tok, const std::vector<std::string>& docs, int threads) {
  ia::set_num_threads(threads);
  std::vector<std::string> warm(docs.begin(), docs.begin() + static_cast<long>(std::min<size_t>(64, docs.size())));
  tok.encode_batch(warm, false);
  auto t0 = std::chrono::steady_clock::now();
  std::vector<ia::text::Encoding> encs;
  if (threads == 1) {
    encs.reserve(docs.size());
    for (auto& d : docs) encs.push_back(tok.encode(d, false));
  } else {
    encs = tok.encode_batch(docs, false);
  }
  Run r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (auto& e : encs) r.tokens += e.ids.size();
  r.checksum = checksum_of(encs);
  return r;
}

std::optional<Run> run_rust(const fs::path& tokenizer_file, const fs::path& docs_file, int threads, std::string& why) {
  fs::path dir = fs::path(IA_SOURCE_DIR) / "bench/tokenizers";
  if (!fs::exists(dir / "node_modules/@anush008/tokenizers")) {
    why = "run `npm ci` in bench/tokenizers to measure the Rust library";
    return std::nullopt;
  }
  std::string cmd = fmt::format("cd '{}' && RAYON_NUM_THREADS={} node rust_bench.mjs '{}' '{}' 2>&1", dir.string(), threads,
                                fs::absolute(tokenizer_file).string(), fs::absolute(docs_file).string());
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    why = "cannot start node";
    return std::nullopt;
  }
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int rc = pclose(p);
  size_t brace = out.rfind('{');
  if (rc != 0 || brace == std::string::npos) {
    why = "node failed: " + out.substr(0, 300);
    return std::nullopt;
  }
  json j = json::parse(out.substr(brace));
  Run r;
  r.seconds = j["seconds"].get<double>();
  r.tokens = j["tokens"].get<size_t>();
  r.checksum = j["checksum"].get<uint32_t>();
  return r;
}

void run_bench(const BenchArgs& a) {
  bool as_json = ia::cli::globals().json;
  auto docs = build_corpus(static_cast<size_t>(a.size_mb * 1024 * 1024));
  size_t bytes = 0;
  for (auto& d : docs) bytes += d.size();
  fs::path docs_file = a.corpus_out.empty() ? fs::temp_directory_path() / fmt::format("ia-bench-corpus-{}.json", getpid())
                                            : fs::path(a.corpus_out);
  {
    std::ofstream out(docs_file, std::ios::binary);
    out << json(docs).dump();
  }
  int all = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (!as_json)
    fmt::print("corpus: {} documents, {:.1f} MB (changelogs, copyright files, C headers, multilingual); {} threads max\n",
               docs.size(), bytes / 1e6, all);
  json results = json::array();
  for (auto& name : a.tokenizers) {
    auto dir = find_tokenizer(name);
    if (!dir) {
      fmt::print(stderr, "bench-tokenizer: {} not found, skipped\n", name);
      continue;
    }
    ia::text::Tokenizer tok = ia::text::Tokenizer::from_dir(*dir);
    tok.set_padding(std::nullopt);
    tok.set_truncation(std::nullopt);
    fs::path file = fs::is_directory(*dir) ? (fs::exists(*dir / "tokenizer.json") ? *dir / "tokenizer.json" : *dir / "tokenizer.json.gz") : *dir;
    for (int threads : {1, all}) {
      Run n = run_native(tok, docs, threads);
      std::string why;
      std::optional<Run> r;
      if (!a.no_rust) r = run_rust(file, docs_file, threads, why);
      json row = {{"tokenizer", fs::path(name).filename().string()}, {"threads", threads}, {"bytes", bytes},
                  {"native_mb_s", bytes / 1e6 / n.seconds}, {"native_tokens_s", n.tokens / n.seconds},
                  {"native_tokens", n.tokens}};
      if (r) {
        row["rust_mb_s"] = bytes / 1e6 / r->seconds;
        row["rust_tokens_s"] = r->tokens / r->seconds;
        row["ratio"] = r->seconds / n.seconds;
        row["ids_agree"] = r->tokens == n.tokens && r->checksum == n.checksum;
      }
      results.push_back(row);
      if (!as_json) {
        fmt::print("{:<40} threads={:<3} native {:7.2f} MB/s {:10.0f} tok/s", row["tokenizer"].get<std::string>(), threads,
                   row["native_mb_s"].get<double>(), row["native_tokens_s"].get<double>());
        if (r)
          fmt::print(" | rust {:7.2f} MB/s {:10.0f} tok/s | ratio {:.2f}x | ids {}\n", row["rust_mb_s"].get<double>(),
                     row["rust_tokens_s"].get<double>(), row["ratio"].get<double>(),
                     row["ids_agree"].get<bool>() ? "identical" : "DIFFER");
        else
          fmt::print(" | rust: {}\n", a.no_rust ? "skipped" : why);
      }
    }
  }
  if (a.corpus_out.empty()) fs::remove(docs_file);
  if (as_json) fmt::print("{}\n", results.dump());
}

void setup(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  a->tokenizers = {"google-bert__bert-base-uncased", "openai-community__gpt2", "meta-llama__Llama-2-7b-hf",
                   "meta-llama__Meta-Llama-3-8B-Instruct"};
  auto* cmd = app.add_subcommand("bench-tokenizer", "Tokenizer encode throughput vs HF's Rust tokenizers");
  cmd->add_option("--tokenizer", a->tokenizers, "Tokenizer directories or names under tests/data/tokenizers or ../shared")
      ->capture_default_str();
  cmd->add_option("--size-mb", a->size_mb, "Corpus size in MB")->capture_default_str();
  cmd->add_flag("--no-rust", a->no_rust, "Skip the Rust library measurement");
  cmd->add_option("--corpus-out", a->corpus_out, "Keep the corpus (JSON array of documents) at this path");
  cmd->add_flag("--json", ia::cli::globals().json, "Machine-readable output");
  cmd->callback([a] { run_bench(*a); });
}

}  // namespace

IA_REGISTER_COMMAND(bench_tokenizer, 42, setup)
