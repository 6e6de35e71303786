// Checkpoint loading: valid files (single, sharded, half precision) and every malformed-input path.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "io/config.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "models/model.h"

using namespace ia;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("ia_st_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

// Writes a raw safetensors file: 8-byte header length, header text, data bytes.
std::string write_raw(const fs::path& p, const std::string& header, size_t data_bytes, int64_t claimed_len = -1) {
  std::ofstream out(p, std::ios::binary);
  uint64_t n = claimed_len >= 0 ? static_cast<uint64_t>(claimed_len) : header.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out << header;
  std::string zeros(data_bytes, '\0');
  out << zeros;
  return p.string();
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Safetensors, RoundTripsAndMapsWithoutCopy) {
  auto dir = temp_dir("rt");
  Tensor a = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = Tensor::from_vector<int64_t>({7, 8}, {2});
  save_safetensors((dir / "m.safetensors").string(), {{"a", a}, {"b", b}, {"h", a.to(DType::BF16)}});
  auto f = SafetensorsFile::open((dir / "m.safetensors").string());
  EXPECT_EQ(f->tensors().size(), 3u);
  Tensor ra = f->tensor("a");
  EXPECT_FALSE(ra.storage()->writable());  // a view of the mmap
  EXPECT_EQ(ra.to_vector<float>(), a.to_vector<float>());
  EXPECT_EQ(f->tensor("b").to_vector<int64_t>(), (std::vector<int64_t>{7, 8}));
  EXPECT_EQ(f->tensor("h").dtype(), DType::BF16);
  EXPECT_EQ(f->tensor("h").to_vector<float>(), a.to_vector<float>());
}

TEST(Safetensors, RejectsMalformedFiles) {
  auto dir = temp_dir("bad");
  struct Case {
    std::string name, header;
    size_t data;
    int64_t claimed;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"header_too_long", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4, 1 << 20, "larger than the file"},
      {"header_limit", "{}", 0, int64_t(200) << 20, "exceeds"},
      {"not_json", "{this is not json}", 0, -1, "not valid JSON"},
      {"not_object", "[1,2,3]", 0, -1, "not a JSON object"},
      {"unknown_dtype", R"({"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}})", 4, -1, "unknown dtype 'F33'"},
      {"size_mismatch", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4, -1, "needs 8 bytes"},
      {"out_of_range", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 4, -1, "out of range"},
      {"overlap", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8, -1, "overlaps"},
      {"trailing", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 12, -1, "trailing bytes"},
      {"gap", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8, -1, "gap of 4 bytes"},
      {"negative_dim", R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4, -1, "invalid dimension"},
      {"missing_fields", R"({"a":{"dtype":"F32"}})", 0, -1, "needs dtype, shape and data_offsets"},
      {"huge_shape", R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", 4, -1, "overflows"},
      // numel below the element cap whose byte size wraps to 0 (F32 [2^62] = 2^64 bytes) or to a small number.
      {"byte_size_wraps_to_zero", R"({"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0, -1,
       "overflows the byte size"},
      {"byte_size_wraps_f64", R"({"a":{"dtype":"F64","shape":[2305843009213693952,2],"data_offsets":[0,0]}})", 0, -1,
       "overflows the byte size"},
      {"byte_size_wraps_small", R"({"a":{"dtype":"I64","shape":[2305843009213693953],"data_offsets":[0,8]}})", 8, -1,
       "overflows the byte size"},
  };
  for (const auto& c : cases) {
    auto path = write_raw(dir / (c.name + ".safetensors"), c.header, c.data, c.claimed);
    std::string msg = error_of([&] { SafetensorsFile::open(path); });
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.name << ": " << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << c.name << " error must name the file: " << msg;
  }
  {
    std::ofstream(dir / "truncated.safetensors") << "abc";
    std::string msg = error_of([&] { SafetensorsFile::open((dir / "truncated.safetensors").string()); });
    EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  }
}

TEST(Checkpoint, ShardedIndexAndMissingShard) {
  auto dir = temp_dir("shard");
  save_safetensors((dir / "model-00001-of-00002.safetensors").string(), {{"x.weight", Tensor::full({2, 2}, 1.0f)}});
  save_safetensors((dir / "model-00002-of-00002.safetensors").string(), {{"y.weight", Tensor::full({3}, 2.0f)}});
  std::ofstream(dir / "model.safetensors.index.json")
      << R"({"metadata":{},"weight_map":{"x.weight":"model-00001-of-00002.safetensors","y.weight":"model-00002-of-00002.safetensors"}})";
  auto c = Checkpoint::open(dir.string());
  EXPECT_EQ(c->files().size(), 2u);
  EXPECT_EQ(c->get("y.weight").to_vector<float>(), (std::vector<float>{2, 2, 2}));
  std::ofstream(dir / "model.safetensors.index.json", std::ios::trunc)
      << R"({"weight_map":{"x.weight":"model-00001-of-00002.safetensors","z.weight":"model-00001-of-00002.safetensors"}})";
  std::string msg = error_of([&] { Checkpoint::open(dir.string()); });
  EXPECT_NE(msg.find("'z.weight'"), std::string::npos) << msg;
  std::ofstream(dir / "model.safetensors.index.json", std::ios::trunc) << R"({"weight_map":{"x.weight":"../../etc/passwd"}})";
  msg = error_of([&] { Checkpoint::open(dir.string()); });
  EXPECT_NE(msg.find("unsafe path '../../etc/passwd' ('..' component): refused"), std::string::npos) << msg;
}

class ModelLoadErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = temp_dir("model");
    fs::copy(fs::path(IA_TEST_DATA_DIR) / "conformance" / "bert", dir_, fs::copy_options::recursive);
  }
  void write_config(const std::function<void(nlohmann::json&)>& edit) {
    std::ifstream in(dir_ / "config.json");
    nlohmann::json j = nlohmann::json::parse(in);
    edit(j);
    std::ofstream(dir_ / "config.json", std::ios::trunc) << j.dump();
  }
  fs::path dir_;
};

TEST_F(ModelLoadErrors, LoadsCleanly) { EXPECT_NO_THROW(load_model(dir_.string())); }

TEST_F(ModelLoadErrors, MissingConfigField) {
  write_config([](nlohmann::json& j) { j.erase("hidden_size"); });
  std::string msg = error_of([&] { load_model(dir_.string()); });
  EXPECT_NE(msg.find("config.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'hidden_size'"), std::string::npos) << msg;
}

TEST_F(ModelLoadErrors, AbsurdSizeIsRejectedBeforeAllocating) {
  write_config([](nlohmann::json& j) { j["hidden_size"] = 1000000000000LL; });
  std::string msg = error_of([&] { load_model(dir_.string()); });
  // Refused either by the memory estimate (load_model, before any weight is converted) or by the field bound.
  EXPECT_TRUE(msg.find("'hidden_size' = 1000000000000 is out of range") != std::string::npos ||
              msg.find("the model needs 12288000009280256 bytes") != std::string::npos)
      << msg;
}

TEST_F(ModelLoadErrors, WrongShapeForConfigNamesTensor) {
  write_config([](nlohmann::json& j) { j["intermediate_size"] = 96; });
  std::string msg = error_of([&] { load_model(dir_.string()); });
  EXPECT_NE(msg.find("encoder.layer.0.intermediate.dense.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[128, 64]"), std::string::npos) << msg;
}

TEST_F(ModelLoadErrors, MissingTensorIsNamed) {
  auto f = SafetensorsFile::open((dir_ / "model.safetensors").string());
  NamedTensors keep;
  for (const auto& t : f->tensors())
    if (t.name != "pooler.dense.weight") keep.emplace_back(t.name, f->tensor(t.name).clone());
  f.reset();
  save_safetensors((dir_ / "model.safetensors").string(), keep);
  std::string msg = error_of([&] { load_model(dir_.string()); });
  EXPECT_NE(msg.find("missing tensor pooler.dense.weight"), std::string::npos) << msg;
}

TEST_F(ModelLoadErrors, NotJsonConfig) {
  std::ofstream(dir_ / "config.json", std::ios::trunc) << "{ nope";
  std::string msg = error_of([&] { load_model(dir_.string()); });
  EXPECT_NE(msg.find("config.json: not valid JSON"), std::string::npos) << msg;
}

TEST(ModelLoad, UnsupportedModelTypeIsClear) {
  auto dir = temp_dir("unsup");
  std::ofstream(dir / "config.json") << R"({"model_type":"no_such_model","architectures":["NoSuchModel"]})";
  save_safetensors((dir / "model.safetensors").string(), {{"w", Tensor::full({1}, 0.0f)}});
  try {
    load_model(dir.string());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
    EXPECT_STREQ(e.what(), "unsupported: no_such_model/NoSuchModel");
  }
}
