// Loading models from ipfs://<cid> through a fake trustless gateway on 127.0.0.1: manifests, UnixFS
// directories, raw-block and CAR responses, cache hits without network, and tampered blocks rejected.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "io/cid.h"
#include "io/ipfs.h"
#include "io/model_source.h"
#include "hub_test_util.h"

namespace ia::ipfs {
namespace {

namespace fs = std::filesystem;
using ia::testing::FakeHub;
using ia::testing::pattern_bytes;
using ia::testing::read_file;
using ia::testing::TempDir;
using ia::testing::write_file;

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(model_ / "config.json", R"({"model_type": "bert"})");
    write_file(model_ / "model.safetensors", weights_);  // 3 chunks: a dag-pb root over raw leaves
    write_file(model_ / "tokenizer/vocab.txt", "[PAD]\n[UNK]\n");
    BlockSink sink = [&](const Cid& c, std::string_view b) { gw_.add_block(c.to_string(), b); };
    Manifest m = make_manifest(model_.path());
    for (const auto& f : m.files) add_file(model_ / f.path, sink);
    manifest_cid_ = add_bytes(m.to_json(), sink).cid;
    dir_cid_ = add_directory(model_.path(), sink).cid;
    weights_cid_ = add_file(model_ / "model.safetensors").cid;
    gw_.start();
  }

  GatewayOptions options() {
    GatewayOptions o;
    o.gateway = gw_.url();
    o.cache_dir = cache_.path();
    o.progress = false;
    o.retry_base_ms = 5;
    return o;
  }

  void expect_model(const std::string& dir) {
    EXPECT_EQ(read_file(dir + "/config.json"), R"({"model_type": "bert"})");
    EXPECT_EQ(read_file(dir + "/model.safetensors"), weights_);
    EXPECT_EQ(read_file(dir + "/tokenizer/vocab.txt"), "[PAD]\n[UNK]\n");
  }

  void tamper_a_leaf() {
    // The second 256 KiB leaf of model.safetensors, one byte flipped.
    Cid leaf = Cid::of(Codec::Raw, std::string_view(weights_).substr(kChunkSize, kChunkSize));
    std::string p = gw_.root() + "/blocks/" + leaf.to_string();
    std::string b = read_file(p);
    ASSERT_EQ(b.size(), kChunkSize);
    b[100] ^= 0x01;
    write_file(p, b);
    tampered_ = leaf.to_string();
  }

  TempDir model_, cache_;
  FakeHub gw_;
  std::string weights_ = pattern_bytes(2 * kChunkSize + 1234, 11);
  Cid manifest_cid_, dir_cid_, weights_cid_;
  std::string tampered_;
};

TEST_F(GatewayTest, ManifestFetchedAndVerified) {
  std::string dir = fetch("ipfs://" + manifest_cid_.to_string(), options());
  EXPECT_EQ(dir, cache_ / manifest_cid_.to_string());
  expect_model(dir);
  EXPECT_EQ(make_manifest(dir).cid(), manifest_cid_) << "what arrived is what the manifest names";
  size_t requests = gw_.requests().size();
  EXPECT_GT(requests, 5u);
  GatewayOptions off = options();
  off.offline = true;
  EXPECT_EQ(fetch(manifest_cid_.to_string(), off), dir) << "cached: no network needed";
  EXPECT_EQ(gw_.requests().size(), requests);
  for (const auto& r : gw_.requests()) EXPECT_NE(r["path"].get<std::string>().find("format=raw"), std::string::npos);
}

TEST_F(GatewayTest, UnixFsDirectoryAndSingleFile) {
  expect_model(fetch("/ipfs/" + dir_cid_.to_string(), options()));
  EXPECT_EQ(read_file(fetch(weights_cid_.to_string(), options())), weights_);
}

TEST_F(GatewayTest, CarResponses) {
  GatewayOptions o = options();
  o.car = true;
  expect_model(fetch(manifest_cid_.to_string(), o));
  size_t cars = 0;
  for (const auto& r : gw_.requests()) cars += r["path"].get<std::string>().find("format=car") != std::string::npos;
  EXPECT_EQ(cars, gw_.requests().size());
}

TEST_F(GatewayTest, ResolveModelUsesTheGateway) {
  ia::testing::ScopedEnv gw("IPFS_GATEWAY", gw_.url());
  ia::testing::ScopedEnv cache("IA_CACHE_DIR", cache_.path());
  ia::testing::ScopedEnv bars("HF_HUB_DISABLE_PROGRESS_BARS", "1");
  std::string dir = resolve_model("ipfs://" + manifest_cid_.to_string());
  EXPECT_EQ(dir, cache_ / ("ipfs/" + manifest_cid_.to_string()));
  expect_model(dir);
}

TEST_F(GatewayTest, TamperedBlockIsRejected) {
  tamper_a_leaf();
  for (bool car : {false, true}) {
    GatewayOptions o = options();
    o.car = car;
    try {
      fetch(manifest_cid_.to_string(), o);
      FAIL() << "tampered block accepted (car=" << car << ")";
    } catch (const Error& e) {
      std::string m = e.what();
      EXPECT_EQ(e.kind(), ErrorKind::Format);
      EXPECT_NE(m.find("failed verification"), std::string::npos) << m;
      EXPECT_NE(m.find(tampered_), std::string::npos) << m;
    }
    EXPECT_FALSE(fs::exists(cache_ / manifest_cid_.to_string()));
    for (const auto& e : fs::directory_iterator(cache_.path()))
      EXPECT_EQ(e.path().filename().string().rfind(".partial", 0), std::string::npos) << "leftover " << e.path();
  }
}

TEST_F(GatewayTest, DirectoryEntryNamesCannotEscape) {
  // A hand-made UnixFS directory whose entries name their way out of the fetch directory.
  const Cid file = add_bytes("escaped\n", [&](const Cid& c, std::string_view b) { gw_.add_block(c.to_string(), b); }).cid;
  for (const std::string& name : {std::string(".."), std::string("../escaped"), std::string("a/b"),
                                  std::string("x\0y", 3)}) {
    PbNode dir;
    UnixFsData d;
    d.type = UnixFsType::Directory;
    dir.data = encode_unixfs(d);
    dir.has_data = true;
    dir.links.push_back({file, name, 8});
    const std::string block = encode_pb_node(dir);
    const Cid root = Cid::of(Codec::DagPb, block);
    gw_.add_block(root.to_string(), block);
    for (bool car : {false, true}) {
      GatewayOptions o = options();
      o.car = car;
      try {
        fetch(root.to_string(), o);
        ADD_FAILURE() << "entry '" << name << "' accepted (car=" << car << ")";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("has an unsafe entry name"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("refused"), std::string::npos) << e.what();
      }
      EXPECT_FALSE(fs::exists(fs::path(cache_.path()) / "escaped"));
      EXPECT_FALSE(fs::exists(fs::path(cache_.path()).parent_path() / "escaped"));
    }
  }
}

TEST_F(GatewayTest, MissingBlockAndOffline) {
  GatewayOptions o = options();
  Cid absent = add_bytes("not on the gateway").cid;
  EXPECT_THROW(fetch(absent.to_string(), o), Error);
  o.offline = true;
  try {
    fetch(manifest_cid_.to_string(), o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("offline"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ia::ipfs
