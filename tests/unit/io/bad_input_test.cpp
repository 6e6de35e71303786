// Hostile and oversized inputs: path traversal from file names (shard indexes, manifests, cache paths), JSON
// nested to exhaust the stack, and a sparse 10 GB checkpoint that must be mapped, never read; a model too big for
// memory is refused naming the bytes it needs and the bytes available. Each refusal prints its real message.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "core/error.h"
#include "io/cache.h"
#include "io/config.h"
#include "io/ipfs.h"
#include "io/safe_path.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "models/model.h"
#include "text/tokenizer.h"

using namespace ia;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("ia_bad_input_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

std::string error_of(const std::function<void()>& f, ErrorKind* kind = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (kind) *kind = e.kind();
    std::printf("[bad input] %s\n", e.what());
    return e.what();
  }
  return "";
}

std::string nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// A safetensors file whose header declares one U8 tensor of `bytes` bytes; the data section is a hole.
std::string sparse_checkpoint(const fs::path& p, uint64_t bytes) {
  std::string header = R"({"w":{"dtype":"U8","shape":[)" + std::to_string(bytes) + R"(],"data_offsets":[0,)" +
                       std::to_string(bytes) + "]}}";
  while ((header.size() + 8) % 8) header += ' ';
  std::ofstream out(p, std::ios::binary);
  const uint64_t n = header.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out << header;
  out.close();
  EXPECT_EQ(::truncate(p.c_str(), static_cast<off_t>(8 + n + bytes)), 0) << std::strerror(errno);
  return p.string();
}

long peak_rss_kb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

}  // namespace

TEST(SafePath, RefusesEveryEscape) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "empty"},
      {"/etc/passwd", "absolute"},
      {"../x", "'..' component"},
      {"a/../../x", "'..' component"},
      {"a/./b", "'.' component"},
      {"a//b", "empty component"},
      {"dir/", "empty component"},
      {std::string("a\0b", 3), "NUL byte"},
      {"a\nb", "control character"},
      {"..\\x", "backslash"}};
  for (const auto& [name, why] : bad) {
    EXPECT_EQ(unsafe_path_reason(name), why) << name;
    const std::string msg = error_of([&] { checked_join("/base", name, "test"); });
    EXPECT_NE(msg.find("test: unsafe path"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(" + why + "): refused"), std::string::npos) << msg;
  }
  for (const char* ok : {"config.json", "unet/diffusion_pytorch_model.safetensors", "a..b", ".hidden", "x/y..z/w"})
    EXPECT_TRUE(is_safe_relative_path(ok)) << ok;
  EXPECT_EQ(checked_join("/base", "unet/config.json", "test"), fs::path("/base/unet/config.json"));
}

TEST(SafePath, ShardIndexCannotEscapeTheModelDirectory) {
  auto dir = temp_dir("index");
  save_safetensors((dir / "model-00001.safetensors").string(), {{"x", Tensor::full({2}, 1.0f)}});
  for (const std::string& shard : {std::string("../../etc/passwd"), std::string("/etc/passwd"),
                                   std::string("model-00001.safetensors\\u0000.txt")}) {
    std::ofstream(dir / "model.safetensors.index.json", std::ios::trunc)
        << R"({"weight_map":{"x":")" + shard + R"("}})";
    const std::string msg = error_of([&] { Checkpoint::open(dir.string()); });
    EXPECT_NE(msg.find("weight_map['x']: unsafe path"), std::string::npos) << msg;
    EXPECT_NE(msg.find("refused"), std::string::npos) << msg;
  }
}

TEST(SafePath, ManifestEntriesCannotEscape) {
  for (const char* path : {"../x", "/abs", "a/../../x"}) {
    const std::string text = std::string(R"({"format":"ipfs-accelerate/model-manifest","version":1,"files":{")") +
                             path + R"(":{"cid":"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku","size":0}}})";
    const std::string msg = error_of([&] { ipfs::Manifest::parse(text, "m.json"); });
    EXPECT_NE(msg.find(std::string("m.json: unsafe file path '") + path + "'"), std::string::npos) << msg;
  }
}

TEST(SafePath, CachedFileNamesStayInTheSnapshot) {
  auto dir = temp_dir("cache");
  HubCache cache(dir.string());
  const std::string commit(40, 'a');
  const std::string msg = error_of([&] { cache.snapshot_path("org/m", commit, "../../../../etc/passwd"); });
  EXPECT_NE(msg.find("file name in org/m: unsafe path '../../../../etc/passwd' ('..' component): refused"),
            std::string::npos)
      << msg;
}

TEST(JsonDepth, DeepNestingIsRefusedBeforeParsing) {
  auto dir = temp_dir("json");
  const std::string deep = R"({"model_type": "bert", "x": )" + nested(100000) + "}";
  std::ofstream(dir / "config.json") << deep;
  std::string msg = error_of([&] { ModelConfig::load((dir / "config.json").string()); });
  EXPECT_NE(msg.find("config.json: JSON nested deeper than 200 levels"), std::string::npos) << msg;

  std::string header = R"({"__metadata__": {"a": )" + nested(50000) + "}}";
  std::ofstream out(dir / "deep.safetensors", std::ios::binary);
  const uint64_t n = header.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out << header;
  out.close();
  msg = error_of([&] { SafetensorsFile::open((dir / "deep.safetensors").string()); });
  EXPECT_NE(msg.find("deep.safetensors: header: JSON nested deeper than 200 levels"), std::string::npos) << msg;

  fs::create_directories(dir / "tok");
  std::ofstream(dir / "tok" / "tokenizer.json") << R"({"model": )" + nested(100000) + "}";
  msg = error_of([&] { text::Tokenizer::from_dir((dir / "tok").string()); });
  EXPECT_NE(msg.find("JSON nested deeper than 200 levels"), std::string::npos) << msg;

  // Brackets inside strings are not nesting; ordinary configs pass.
  std::ofstream(dir / "config.json", std::ios::trunc) << R"({"model_type": "bert", "s": ")" << nested(1000) << R"("})";
  EXPECT_EQ(ModelConfig::load((dir / "config.json").string()).model_type(), "bert");
}

TEST(Resources, SparseTenGigabyteCheckpointIsMappedNotRead) {
  auto dir = temp_dir("sparse");
  const uint64_t ten_gb = uint64_t(10) << 30;
  const std::string path = sparse_checkpoint(dir / "model.safetensors", ten_gb);
  const long rss0 = peak_rss_kb();
  const auto t0 = std::chrono::steady_clock::now();
  auto f = SafetensorsFile::open(path);
  Tensor w = f->tensor("w");
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(w.numel(), int64_t(ten_gb));
  EXPECT_EQ(f->file_size(), fs::file_size(path));
  EXPECT_FALSE(w.storage()->writable()) << "a view of the mapping, not a copy";
  EXPECT_LT(peak_rss_kb() - rss0, 64 * 1024) << "opening must not read the 10 GB";
  EXPECT_LT(secs, 2.0);
  std::printf("[bad input] 10 GiB sparse checkpoint opened in %.3f s, peak RSS +%ld KiB\n", secs, peak_rss_kb() - rss0);
}

TEST(Resources, ModelThatCannotFitIsRefusedNamingTheBytes) {
  auto dir = temp_dir("huge");
  fs::copy(fs::path(IA_TEST_DATA_DIR) / "conformance" / "bert" / "config.json", dir / "config.json");
  // Twice the machine's RAM (sparse: no disk used), so no memory this machine could have free fits it.
  const uint64_t bytes = uint64_t(sysconf(_SC_PHYS_PAGES)) * uint64_t(sysconf(_SC_PAGE_SIZE)) * 2;
  sparse_checkpoint(dir / "model.safetensors", bytes);
  ErrorKind kind{};
  const std::string msg = error_of([&] { load_model(dir.string()); }, &kind);
  EXPECT_EQ(kind, ErrorKind::OutOfMemory) << msg;
  EXPECT_NE(msg.find("the model needs "), std::string::npos) << msg;
  EXPECT_NE(msg.find(" bytes ("), std::string::npos) << msg;
  EXPECT_NE(msg.find("of memory are available on cpu"), std::string::npos) << msg;
  EXPECT_NE(msg.find("weights "), std::string::npos) << msg;
}
