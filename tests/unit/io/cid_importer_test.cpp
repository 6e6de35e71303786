// CIDs as `ipfs add --cid-version 1` computes them. The expected CIDs below were produced by the JavaScript
// importer (ipfs-unixfs-importer 17.1.1, tests/servers/npm-cid); CidNpm.AgreesWithJavaScriptImporter recomputes
// them with it when its node_modules are installed (scripts/install-deps.sh).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/cid.h"
#include "io/ipfs.h"
#include "io/sha256.h"
#include "hub_test_util.h"

namespace ia::ipfs {
namespace {

namespace fs = std::filesystem;
using ia::testing::pattern_bytes;
using ia::testing::TempDir;
using ia::testing::write_file;

struct Vector {
  const char* name;
  size_t size;
  const char* cid;
};

// seed = size % 251 + 1 for each file.
const Vector kVectors[] = {
    {"empty", 0, "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"},
    {"one", 1, "bafkreiazou5jw5ubwnqqjqpxtx6iu2q6ztairogh2kidurdnqfuu2l5tve"},
    {"chunk-minus-1", 262143, "bafkreihtcqnomesvrihitqmvcbgtmh6hem2jqt5x57y2v7nnmodjysa3ui"},
    {"chunk", 262144, "bafkreidi2jozhhqeopkaxpi42ftnh4xm34dngqckgxsl72ntxcokru2szi"},
    {"chunk-plus-1", 262145, "bafybeifuav762lw3h5tzg2deatesdeasngh3rpull5wazqoezledcnawha"},
    {"several-mb", 5 * 1024 * 1024 + 123, "bafybeidg5nrp6hzbus43sfqdr4vs662zhyhe4dm7u5zowyhrgvbolliuwq"},
    {"two-levels", 175 * 262144 + 7, "bafybeibi44fxkfqeot4xm62erunc7s5qvfcgyhcayurva6vk7bawa57td4"},
};
const char* kDirCid = "bafybeifoelknhjd5kjw3o35k2b3cxh5iuylm2fadwnzdaw32hqy5fve3ri";

std::string vector_bytes(const Vector& v) { return pattern_bytes(v.size, uint32_t(v.size % 251 + 1)); }

// A directory with nesting, an empty file, an empty directory and a hidden file (skipped, as kubo does).
void make_tree(const std::string& root) {
  write_file(root + "/a.bin", pattern_bytes(1, 7));
  write_file(root + "/c", "");
  write_file(root + "/sub/b.bin", pattern_bytes(262145, 8));
  write_file(root + "/sub/deeper/config.json", R"({"model_type": "bert"})");
  write_file(root + "/.hidden", "secret");
  fs::create_directories(root + "/empty");
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(to_hex(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(to_hex(sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(to_hex(sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  Sha256 h;  // a million 'a' fed in odd pieces
  std::string a(999, 'a');
  for (size_t left = 1000000; left > 0; left -= std::min<size_t>(left, 999)) h.update(a.data(), std::min<size_t>(left, 999));
  EXPECT_EQ(to_hex(h.finish()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, PortableAndAcceleratedAgree) {
  TempDir d;
  write_file(d / "f", pattern_bytes(1000003, 5));
  std::string cli = std::string(IA_CLI_PATH) + " cid " + (d / "f");
  auto run = [](const std::string& cmd) {
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    char buf[256];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    ::pclose(p);
    return out;
  };
  std::string fast = run(cli), portable = run("IA_SHA256_PORTABLE=1 " + cli);
  EXPECT_EQ(fast, add_bytes(pattern_bytes(1000003, 5)).cid.to_string() + "\n");
  EXPECT_EQ(fast, portable);
}

TEST(Cid, TextRoundTrip) {
  Cid c = Cid::parse("bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354");
  EXPECT_EQ(c.codec, Codec::DagPb);
  EXPECT_EQ(c.to_string(), "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354");
  Cid v0 = Cid::parse("QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn");  // the empty directory, CIDv0
  EXPECT_EQ(v0.version, 0u);
  EXPECT_EQ(v0.to_string(), "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn");
  EXPECT_EQ(v0.digest, c.digest);
  EXPECT_THROW(Cid::parse("bafy!"), Error);
  EXPECT_THROW(Cid::parse("hello"), Error);
  EXPECT_THROW(Cid::parse("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyk"), Error);  // truncated
}

TEST(Cid, EmptyDirectory) {
  TempDir d;
  EXPECT_EQ(add_directory(d.path()).cid.to_string(), "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354");
}

TEST(Cid, MatchesTheJavaScriptImporterVectors) {
  for (const auto& v : kVectors) EXPECT_EQ(add_bytes(vector_bytes(v)).cid.to_string(), v.cid) << v.name;
  TempDir d;
  make_tree(d / "tree");
  EXPECT_EQ(add_path(d / "tree").cid.to_string(), kDirCid);
  write_file(d / "one", vector_bytes(kVectors[1]));
  EXPECT_EQ(add_path(d / "one").cid.to_string(), kVectors[1].cid) << "file and bytes agree";
}

TEST(Cid, DagStructure) {
  std::vector<std::pair<Cid, std::string>> blocks;
  auto root = add_bytes(pattern_bytes(175 * 262144 + 7, 3), [&](const Cid& c, std::string_view b) {
    EXPECT_TRUE(c.verifies(b));
    blocks.emplace_back(c, std::string(b));
  });
  EXPECT_EQ(blocks.back().first, root.cid);
  PbNode top = decode_pb_node(blocks.back().second);
  ASSERT_EQ(top.links.size(), 2u) << "176 leaves: a full node of 174 and one of 2";
  UnixFsData d = decode_unixfs(top.data);
  EXPECT_EQ(d.type, UnixFsType::File);
  EXPECT_EQ(d.filesize, 175u * 262144 + 7);
  EXPECT_EQ(d.blocksizes, (std::vector<uint64_t>{174u * 262144, 262144 + 7}));
  EXPECT_EQ(encode_pb_node(top), blocks.back().second);
}

TEST(Car, RoundTripAndTamper) {
  TempDir d;
  make_tree(d / "tree");
  std::string car;
  auto root = add_path(d / "tree", [&](const Cid& c, std::string_view b) { car += car_section(c, b); });
  std::string file = car_header({root.cid}) + car;
  CarFile parsed = read_car(file, "test.car");
  ASSERT_EQ(parsed.roots.size(), 1u);
  EXPECT_EQ(parsed.roots[0], root.cid);
  EXPECT_GE(parsed.blocks.size(), 6u);
  std::string bad = file;
  bad[bad.size() - 10] ^= 1;
  try {
    read_car(bad, "test.car");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("failed verification"), std::string::npos) << e.what();
  }
  // The CLI's --car export is readable the same way.
  std::string cmd = std::string(IA_CLI_PATH) + " cid " + (d / "tree") + " --car " + (d / "out.car") + " > /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  CarFile cli = read_car(ia::testing::read_file(d / "out.car"), "out.car");
  EXPECT_EQ(cli.roots[0], root.cid);
  EXPECT_EQ(cli.blocks.size(), parsed.blocks.size());
}

TEST(Manifest, ContentAddressedAndParsable) {
  TempDir d;
  make_tree(d / "tree");
  Manifest m = make_manifest(d / "tree");
  ASSERT_EQ(m.files.size(), 4u);
  EXPECT_EQ(m.files[0].path, "a.bin");
  EXPECT_EQ(m.files[2].path, "sub/b.bin");
  EXPECT_EQ(m.files[2].size, 262145u);
  EXPECT_EQ(m.files[2].cid, add_bytes(pattern_bytes(262145, 8)).cid);
  std::string text = m.to_json();
  EXPECT_EQ(m.cid(), add_bytes(text).cid);
  Manifest back = Manifest::parse(text, "m");
  EXPECT_EQ(back.to_json(), text);
  EXPECT_THROW(Manifest::parse(R"({"format":"ipfs-accelerate/model-manifest","version":1,"files":{"../x":{"cid":"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku","size":0}}})", "m"),
               Error);
}

TEST(CidNpm, AgreesWithJavaScriptImporter) {
  std::string npm_dir = std::string(IA_SOURCE_DIR) + "/tests/servers/npm-cid";
  if (!fs::exists(npm_dir + "/node_modules/ipfs-unixfs-importer") || std::system("node --version > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "node_modules of tests/servers/npm-cid not installed (scripts/install-deps.sh installs them)";
  TempDir d;
  std::string args;
  std::map<std::string, std::string> ours;
  for (const auto& v : kVectors) {
    std::string p = d / v.name;
    write_file(p, vector_bytes(v));
    args += " " + p;
    ours[p] = add_path(p).cid.to_string();
  }
  make_tree(d / "tree");
  args += " " + (d / "tree");
  ours[d / "tree"] = add_path(d / "tree").cid.to_string();
  std::string out;
  FILE* p = ::popen(("node " + npm_dir + "/cid.mjs" + args).c_str(), "r");
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  ASSERT_EQ(::pclose(p), 0) << out;
  auto theirs = nlohmann::json::parse(out);
  for (const auto& [path, cid] : ours) {
    EXPECT_EQ(theirs.value(path, ""), cid) << path;
  }
}

}  // namespace
}  // namespace ia::ipfs
