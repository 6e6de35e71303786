// The Hub client against a fake Hub on 127.0.0.1: fresh download into the huggingface_hub cache layout, cache
// hits without network, offline mode, revision pinning, resume, retries, auth/404 errors, corrupted blobs,
// concurrent downloaders, and a cache laid out by Python's huggingface_hub.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "io/cache.h"
#include "io/hub.h"
#include "io/model_source.h"
#include "io/sha256.h"
#include "hub_test_util.h"

namespace ia {
namespace {

namespace fs = std::filesystem;
using testing::FakeHub;
using testing::pattern_bytes;
using testing::read_file;
using testing::ScopedEnv;
using testing::TempDir;

const std::string kC1 = "1111111111111111111111111111111111111111";
const std::string kC2 = "2222222222222222222222222222222222222222";
const std::string kConfig = R"({"model_type": "bert", "hidden_size": 8})";

class HubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hub_.add_repo("org/tiny", {{"main", kC2}, {"v1", kC1}});
    hub_.add_file("org/tiny", kC2, "config.json", kConfig);
    hub_.add_file("org/tiny", kC2, "tokenizer.json", R"({"version": "1.0"})");
    hub_.add_file("org/tiny", kC2, "model.safetensors", weights_);
    hub_.add_file("org/tiny", kC2, "onnx/model.onnx", "not wanted");
    hub_.add_file("org/tiny", kC1, "config.json", R"({"model_type": "bert", "hidden_size": 4})");
    hub_.add_file("org/tiny", kC1, "model.safetensors", pattern_bytes(1000, 9));
    hub_.start();
  }

  HubOptions options() {
    HubOptions o;
    o.endpoint = hub_.url();
    o.cache_dir = cache_.path();
    o.progress = false;
    o.retry_base_ms = 5;
    o.max_retries = 3;
    return o;
  }

  size_t count(const std::string& method, const std::string& path_part) {
    size_t n = 0;
    for (const auto& r : hub_.requests())
      if (r["method"] == method && r["path"].get<std::string>().find(path_part) != std::string::npos) ++n;
    return n;
  }

  std::string blob_of(const std::string& content) { return to_hex(sha256(content)); }

  FakeHub hub_;
  TempDir cache_;
  std::string weights_ = pattern_bytes(300000, 1);
};

TEST_F(HubTest, FreshDownloadUsesHuggingfaceHubLayout) {
  HubClient c(options());
  std::string dir = c.snapshot_download("org/tiny", "main");
  std::string repo_dir = cache_ / "models--org--tiny";
  EXPECT_EQ(dir, repo_dir + "/snapshots/" + kC2);
  EXPECT_EQ(read_file(dir + "/config.json"), kConfig);
  EXPECT_EQ(read_file(dir + "/model.safetensors"), weights_);
  EXPECT_TRUE(fs::exists(dir + "/tokenizer.json"));
  EXPECT_FALSE(fs::exists(dir + "/onnx/model.onnx")) << "only model files are fetched by default";
  // Relative symlinks into blobs/, named by sha256 (LFS) or git blob sha1 -- as huggingface_hub writes them.
  EXPECT_TRUE(fs::is_symlink(dir + "/model.safetensors"));
  EXPECT_EQ(fs::read_symlink(dir + "/model.safetensors").string(), "../../blobs/" + blob_of(weights_));
  std::string cfg_target = fs::read_symlink(dir + "/config.json").string();
  EXPECT_EQ(cfg_target.substr(0, 12), "../../blobs/");
  EXPECT_EQ(cfg_target.size(), 12u + 40u) << "git sha1 etag";
  EXPECT_EQ(read_file(repo_dir + "/refs/main"), kC2) << "bare commit, no newline";
  EXPECT_TRUE(fs::exists(cache_ / ("/.locks/models--org--tiny/" + blob_of(weights_) + ".lock")));
  for (const auto& e : fs::directory_iterator(repo_dir + "/blobs"))
    EXPECT_EQ(e.path().string().find(".incomplete"), std::string::npos);
}

TEST_F(HubTest, CacheHitNeedsNoFileRequests) {
  HubClient c(options());
  c.snapshot_download("org/tiny", "main");
  size_t heads = count("HEAD", "/resolve/"), gets = count("GET", "/cdn/");
  std::string dir = c.snapshot_download("org/tiny", "main");
  EXPECT_EQ(count("HEAD", "/resolve/"), heads) << "files of a known commit are not re-checked";
  EXPECT_EQ(count("GET", "/cdn/"), gets);
  EXPECT_EQ(read_file(dir + "/model.safetensors"), weights_);
}

TEST_F(HubTest, HubDownFallsBackToCache) {
  HubClient c(options());
  std::string dir = c.snapshot_download("org/tiny", "main");
  hub_.stop();
  EXPECT_EQ(c.snapshot_download("org/tiny", "main"), dir);
  EXPECT_EQ(read_file(c.download_file("org/tiny", "main", "config.json")), kConfig);
  EXPECT_THROW(c.snapshot_download("org/other", "main"), Error);
}

TEST_F(HubTest, OfflineModeNeverTouchesTheNetwork) {
  HubOptions o = options();
  {
    HubClient c(o);
    c.snapshot_download("org/tiny", "main");
  }
  size_t before = hub_.requests().size();
  o.offline = true;
  HubClient off(o);
  std::string dir = off.snapshot_download("org/tiny", "main");
  EXPECT_EQ(read_file(dir + "/config.json"), kConfig);
  EXPECT_EQ(read_file(off.download_file("org/tiny", "main", "model.safetensors")), weights_);
  try {
    off.snapshot_download("org/tiny", "v1");
    FAIL() << "v1 was never downloaded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::NotFound);
    EXPECT_NE(std::string(e.what()).find("offline"), std::string::npos) << e.what();
  }
  EXPECT_THROW(off.download_file("org/tiny", "main", "missing.json"), Error);
  {
    ScopedEnv env("HF_HUB_OFFLINE", "1");
    ScopedEnv cache("HF_HUB_CACHE", cache_.path());
    ScopedEnv ep("HF_ENDPOINT", hub_.url());
    EXPECT_EQ(resolve_model("org/tiny"), dir);
    EXPECT_THROW(resolve_model("org/absent"), Error);
  }
  EXPECT_EQ(hub_.requests().size(), before) << "offline mode made requests";
}

TEST_F(HubTest, RevisionPinning) {
  HubClient c(options());
  std::string v1 = c.snapshot_download("org/tiny", "v1");
  EXPECT_EQ(fs::path(v1).filename().string(), kC1);
  EXPECT_NE(read_file(v1 + "/config.json").find("\"hidden_size\": 4"), std::string::npos);
  EXPECT_EQ(read_file(cache_ / "models--org--tiny/refs/v1"), kC1);
  std::string main = c.snapshot_download("org/tiny", "main");
  EXPECT_NE(read_file(main + "/config.json").find("\"hidden_size\": 8"), std::string::npos);
  EXPECT_EQ(c.snapshot_download("org/tiny", kC1), v1) << "a commit id is a revision too";
  EXPECT_EQ(c.download_file("org/tiny", kC1, "model.safetensors"), v1 + "/model.safetensors");
  ScopedEnv online("HF_HUB_OFFLINE", "0");
  ScopedEnv cache("HF_HUB_CACHE", cache_.path());
  ScopedEnv ep("HF_ENDPOINT", hub_.url());
  EXPECT_EQ(resolve_model("org/tiny@v1"), v1);
  ModelSourceOptions mo;
  mo.revision = "v1";
  EXPECT_EQ(resolve_model("org/tiny", mo), v1);
}

TEST_F(HubTest, IncludeGlobs) {
  HubClient c(options());
  std::string dir = c.snapshot_download("org/tiny", "main", {"*.onnx"});
  EXPECT_TRUE(fs::exists(dir + "/onnx/model.onnx")) << "'*' matches '/' as in fnmatch";
  EXPECT_FALSE(fs::exists(dir + "/model.safetensors"));
  EXPECT_THROW(c.snapshot_download("org/tiny", "main", {"*.gguf"}), Error);
}

TEST_F(HubTest, ResumesAnInterruptedTransfer) {
  hub_.config()["faults"]["model.safetensors"] = {{"cut_after", 100000}, {"cut_times", 1}};
  hub_.save();
  HubClient c(options());
  std::string p = c.download_file("org/tiny", "main", "model.safetensors");
  EXPECT_EQ(read_file(p), weights_);
  bool resumed = false;
  for (const auto& r : hub_.requests())
    if (r["path"].get<std::string>().find("/cdn/") != std::string::npos && r["range"] == "bytes=100000-") resumed = true;
  EXPECT_TRUE(resumed) << "no Range request after the cut";
}

TEST_F(HubTest, ResumesALeftoverPartialFile) {
  std::string part = cache_ / ("models--org--tiny/blobs/" + blob_of(weights_) + ".incomplete");
  testing::write_file(part, weights_.substr(0, 4096));
  HubClient c(options());
  EXPECT_EQ(read_file(c.download_file("org/tiny", "main", "model.safetensors")), weights_);
  bool resumed = false;
  for (const auto& r : hub_.requests())
    if (r["range"] == "bytes=4096-") resumed = true;
  EXPECT_TRUE(resumed);
  EXPECT_FALSE(fs::exists(part));
}

TEST_F(HubTest, RetriesServerErrors) {
  hub_.config()["faults"]["model.safetensors"] = {{"fail", 2}};
  hub_.config()["faults"]["config.json"] = {{"head_fail", 2}};
  hub_.save();
  HubClient c(options());
  EXPECT_EQ(read_file(c.download_file("org/tiny", "main", "model.safetensors")), weights_);
  EXPECT_EQ(read_file(c.download_file("org/tiny", "main", "config.json")), kConfig);
  hub_.config()["faults"]["tokenizer.json"] = {{"head_fail", 100}};
  hub_.save();
  EXPECT_THROW(c.download_file("org/tiny", "main", "tokenizer.json"), Error);  // no cache to fall back to
}

TEST_F(HubTest, PersistentServerErrorFailsClearly) {
  hub_.config()["faults"]["model.safetensors"] = {{"fail", 100}};
  hub_.save();
  HubClient c(options());
  try {
    c.download_file("org/tiny", "main", "model.safetensors");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("HTTP 500"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("4 attempts"), std::string::npos) << e.what();
  }
}

TEST_F(HubTest, ClearErrorsForMissingThings) {
  HubClient c(options());
  auto message = [&](auto fn) {
    try {
      fn();
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::NotFound) << e.what();
      return std::string(e.what());
    }
    ADD_FAILURE() << "no error";
    return std::string();
  };
  EXPECT_NE(message([&] { c.snapshot_download("org/nope", "main"); }).find("repository org/nope not found"),
            std::string::npos);
  EXPECT_NE(message([&] { c.download_file("org/tiny", "main", "nope.json"); }).find("nope.json in org/tiny@main not found"),
            std::string::npos);
  EXPECT_NE(message([&] { c.snapshot_download("org/tiny", "v9"); }).find("revision 'v9' not found"), std::string::npos);
}

TEST_F(HubTest, GatedRepoNeedsAToken) {
  hub_.config()["repos"]["org/gated"] = {{"refs", {{"main", kC1}}}, {"gated", true}};
  hub_.config()["cdn_host"] = "localhost";  // another host name: the token must not follow the redirect
  hub_.save();
  hub_.add_file("org/gated", kC1, "config.json", kConfig);
  hub_.add_file("org/gated", kC1, "model.safetensors", weights_);
  HubOptions o = options();
  for (const std::string token : {"", "hf_wrong"}) {
    o.token = token;
    HubClient c(o);
    try {
      c.snapshot_download("org/gated", "main");
      FAIL();
    } catch (const Error& e) {
      std::string m = e.what();
      EXPECT_NE(m.find("gated"), std::string::npos) << m;
      EXPECT_NE(m.find("HF_TOKEN"), std::string::npos) << m;
      EXPECT_NE(m.find(token.empty() ? "HTTP 401" : "HTTP 403"), std::string::npos) << m;
      if (!token.empty()) {
        EXPECT_EQ(m.find(token), std::string::npos) << "the token is never in a message: " << m;
      }
    }
  }
  o.token = "hf_valid";
  HubClient c(o);
  EXPECT_EQ(read_file(c.snapshot_download("org/gated", "main") + "/model.safetensors"), weights_);
  for (const auto& r : hub_.requests()) {
    std::string path = r["path"];
    if (path.find("/cdn/") != std::string::npos) {
      EXPECT_TRUE(r["auth"].is_null()) << "token leaked to " << path;
    }
  }
}

TEST_F(HubTest, HostileFileNamesAreRefused) {
  HubClient c(options());
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"../../../etc/passwd", "'..' component"}, {"/etc/passwd", "absolute"}, {std::string("config.json\0.sh", 15), "NUL byte"},
      {"a/./b", "'.' component"}, {"a//b", "empty component"}, {"..\\evil", "backslash"}};
  for (const auto& [name, why] : bad) {
    try {
      c.download_file("org/tiny", "main", name);
      ADD_FAILURE() << name << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
      EXPECT_NE(std::string(e.what()).find("not a repo-relative file name (" + why + ")"), std::string::npos)
          << e.what();
    }
  }
  EXPECT_EQ(count("HEAD", "passwd"), 0u) << "refused before any request";
  EXPECT_FALSE(fs::exists(fs::path(cache_.path()).parent_path() / "etc"));
}

TEST_F(HubTest, HostileCommitAndEtagHeadersAreRefused) {
  hub_.config()["faults"]["config.json"] = {{"commit_header", "../../../../tmp/ia-escape"}};
  hub_.config()["faults"]["tokenizer.json"] = {{"etag_header", "../../ia-escape"}};
  hub_.save();
  HubClient c(options());
  try {
    c.download_file("org/tiny", "main", "config.json");
    FAIL() << "a commit header with '..' was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("X-Repo-Commit '../../../../tmp/ia-escape' is not a commit id: refused"),
              std::string::npos)
        << e.what();
  }
  try {
    c.download_file("org/tiny", "main", "tokenizer.json");
    FAIL() << "an ETag with '..' was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("ETag '../../ia-escape' is not usable as a blob name: refused"),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists("/tmp/ia-escape"));
}

TEST_F(HubTest, TokenFromEnvironment) {
  ScopedEnv t("HF_TOKEN", "hf_abc");
  EXPECT_EQ(HubOptions::from_env().token, "hf_abc");
  ScopedEnv e("HF_ENDPOINT", "http://127.0.0.1:1/");
  EXPECT_EQ(HubOptions::from_env().endpoint, "http://127.0.0.1:1");
}

TEST_F(HubTest, CorruptDownloadNeverEntersTheCache) {
  hub_.config()["faults"]["model.safetensors"] = {{"corrupt", true}};
  hub_.save();
  HubClient c(options());
  try {
    c.download_file("org/tiny", "main", "model.safetensors");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Format);
    EXPECT_NE(std::string(e.what()).find("corrupt"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(blob_of(weights_)), std::string::npos) << e.what();
  }
  std::string blobs = cache_ / "models--org--tiny/blobs";
  EXPECT_FALSE(fs::exists(blobs + "/" + blob_of(weights_)));
  EXPECT_FALSE(fs::exists(blobs + "/" + blob_of(weights_) + ".incomplete"));
  EXPECT_FALSE(fs::exists(cache_ / ("models--org--tiny/snapshots/" + kC2 + "/model.safetensors")));
}

TEST_F(HubTest, VerifyReplacesACorruptCachedBlob) {
  HubOptions o = options();
  HubClient c(o);
  std::string p = c.download_file("org/tiny", "main", "model.safetensors");
  testing::write_file(fs::canonical(p).string(), "garbage");
  o.verify_cached = true;
  HubClient v(o);
  EXPECT_EQ(read_file(v.download_file("org/tiny", "main", "model.safetensors")), weights_);
}

TEST_F(HubTest, RenamedRepoRedirectIsFollowed) {
  hub_.config()["repos"]["old/name"] = {{"refs", {{"main", kC2}}}, {"renamed_to", "org/tiny"}};
  hub_.save();
  HubClient c(options());
  EXPECT_EQ(read_file(c.download_file("old/name", "main", "config.json")), kConfig);
}

TEST_F(HubTest, ConcurrentDownloadersShareOneBlob) {
  hub_.config()["faults"]["model.safetensors"] = {{"slow", 0.02}};
  hub_.save();
  std::string env = "HF_ENDPOINT=" + hub_.url() + " HF_HUB_CACHE=" + cache_.path() + " IA_HUB_RETRY_BASE_MS=5 ";
  std::string cli = std::string(IA_CLI_PATH) + " download org/tiny --json";
  std::string cmd = "cd " + cache_.path() + "; (" + env + cli + " > out1 2> err1; echo $? > rc1) & (" + env + cli +
                    " > out2 2> err2; echo $? > rc2) & wait";
  ASSERT_EQ(std::system(("bash -c '" + cmd + "'").c_str()), 0);
  for (const char* i : {"1", "2"}) {
    EXPECT_EQ(read_file(cache_ / (std::string("rc") + i)), "0\n") << read_file(cache_ / (std::string("err") + i));
    auto j = nlohmann::json::parse(read_file(cache_ / (std::string("out") + i)));
    EXPECT_EQ(read_file(j["path"].get<std::string>() + "/model.safetensors"), weights_);
  }
  EXPECT_EQ(count("GET", "/cdn/"), 1u) << "the second downloader waited on the lock and reused the blob";
}

TEST_F(HubTest, CacheWrittenByPythonHuggingfaceHubIsUsed) {
  // The layout huggingface_hub 0.2x writes: blobs by etag, relative symlinks (nested files one level deeper),
  // refs/main holding the bare commit, .locks beside the repos.
  std::string repo = cache_ / "models--sentence-transformers--mini";
  std::string commit = "abcdefabcdefabcdefabcdefabcdefabcdefabcd";
  testing::write_file(repo + "/blobs/" + blob_of(weights_), weights_);
  testing::write_file(repo + "/blobs/0123456789abcdef0123456789abcdef01234567", kConfig);
  testing::write_file(repo + "/refs/main", commit);
  fs::create_directories(repo + "/snapshots/" + commit + "/1_Pooling");
  fs::create_directories(cache_ / ".locks/models--sentence-transformers--mini");
  fs::create_symlink("../../blobs/" + blob_of(weights_), repo + "/snapshots/" + commit + "/model.safetensors");
  fs::create_symlink("../../blobs/0123456789abcdef0123456789abcdef01234567", repo + "/snapshots/" + commit + "/config.json");
  fs::create_symlink("../../../blobs/0123456789abcdef0123456789abcdef01234567",
                     repo + "/snapshots/" + commit + "/1_Pooling/config.json");
  ScopedEnv off("HF_HUB_OFFLINE", "1");
  ScopedEnv cache("HF_HOME", cache_.path() + "/..");
  ScopedEnv hub_cache("HF_HUB_CACHE", cache_.path());
  std::string dir = resolve_model("sentence-transformers/mini");
  EXPECT_EQ(dir, repo + "/snapshots/" + commit);
  EXPECT_EQ(read_file(dir + "/model.safetensors"), weights_);
  EXPECT_EQ(read_file(dir + "/1_Pooling/config.json"), kConfig);
  HubOptions o = options();
  o.offline = true;
  EXPECT_EQ(read_file(HubClient(o).download_file("sentence-transformers/mini", commit, "config.json")), kConfig);
  // And a nested file we download is linked the way Python links it.
  HubClient c(options());
  hub_.add_file("org/tiny", kC2, "1_Pooling/config.json", kConfig);
  std::string nested = c.download_file("org/tiny", "main", "1_Pooling/config.json");
  EXPECT_EQ(fs::read_symlink(nested).string().substr(0, 15), "../../../blobs/");
}

TEST_F(HubTest, ShardedCheckpointFetchesEveryShard) {
  const std::string c3 = "3333333333333333333333333333333333333333";
  hub_.add_repo("org/big", {{"main", c3}});
  nlohmann::json index = {{"metadata", {{"total_size", 2000}}},
                          {"weight_map", {{"a.weight", "model-00001-of-00002.safetensors"},
                                          {"b.weight", "model-00002-of-00002.safetensors"}}}};
  hub_.add_file("org/big", c3, "config.json", kConfig);
  hub_.add_file("org/big", c3, "model.safetensors.index.json", index.dump());
  hub_.add_file("org/big", c3, "model-00001-of-00002.safetensors", pattern_bytes(1000, 2));
  hub_.add_file("org/big", c3, "model-00002-of-00002.safetensors", pattern_bytes(1000, 3));
  hub_.add_file("org/big", c3, "pytorch_model.bin", pattern_bytes(1000, 4));
  HubClient c(options());
  std::string dir = c.snapshot_download("org/big", "main");
  EXPECT_EQ(read_file(dir + "/model-00002-of-00002.safetensors"), pattern_bytes(1000, 3));
  EXPECT_TRUE(fs::exists(dir + "/model-00001-of-00002.safetensors"));
  EXPECT_FALSE(fs::exists(dir + "/pytorch_model.bin"));
}

TEST(HubSelect, FallsBackFromSafetensorsWithANote) {
  std::string note;
  auto files = select_model_files({"config.json", "pytorch_model.bin", "vocab.txt", "tf_model.h5", "flax_model.msgpack"},
                                  {}, &note);
  EXPECT_EQ(files, (std::vector<std::string>{"config.json", "pytorch_model.bin", "vocab.txt"}));
  EXPECT_NE(note.find("no *.safetensors weights"), std::string::npos) << note;
  note.clear();
  files = select_model_files({"config.json", "model.safetensors", "pytorch_model.bin"}, {}, &note);
  EXPECT_EQ(files, (std::vector<std::string>{"config.json", "model.safetensors"}));
  EXPECT_TRUE(note.empty());
  files = select_model_files({"model_index.json", "diffusion_pytorch_model.safetensors"}, {}, &note);
  EXPECT_EQ(files.size(), 2u);
}

TEST(ModelLocation, Classification) {
  TempDir d;
  EXPECT_EQ(parse_model_location(d.path()).kind, ModelLocation::Kind::Local);
  EXPECT_EQ(resolve_model(d.path()), d.path());
  auto h = parse_model_location("google-bert/bert-base-uncased@v1.0");
  EXPECT_EQ(h.kind, ModelLocation::Kind::Hub);
  EXPECT_EQ(h.repo, "google-bert/bert-base-uncased");
  EXPECT_EQ(h.revision, "v1.0");
  EXPECT_EQ(parse_model_location("bert-base-uncased").revision, "main");
  EXPECT_EQ(parse_model_location("hf://org/x").repo, "org/x");
  auto i = parse_model_location("ipfs://bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");
  EXPECT_EQ(i.kind, ModelLocation::Kind::Ipfs);
  EXPECT_THROW(parse_model_location("./does/not/exist"), Error);
  EXPECT_THROW(parse_model_location("a/b/c"), Error);
  EXPECT_THROW(parse_model_location("org/na--me"), Error);
  EXPECT_THROW(parse_model_location("ipfs://notacid"), Error);
}

}  // namespace
}  // namespace ia

namespace ia {
namespace {

std::string run_cli(const std::string& args, int* rc) {
  std::string out;
  FILE* p = ::popen((std::string(IA_CLI_PATH) + " " + args + " 2>&1").c_str(), "r");
  char buf[1024];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  int status = ::pclose(p);
  *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

TEST(DownloadCli, OfflineMissIsAClearError) {
  TempDir cache;
  ScopedEnv hermetic("HF_HUB_CACHE", cache.path());  // inherited by the CLI
  int rc = 0;
  std::string out = run_cli("download org/absent@v2 --offline", &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("offline mode"), std::string::npos) << out;
  EXPECT_NE(out.find("org/absent@v2 is not in the cache"), std::string::npos) << out;
  EXPECT_NE(out.find("--revision v2"), std::string::npos) << out;
}

TEST(DownloadCli, TokenIsNeverPrinted) {
  FakeHub hub;
  hub.add_repo("org/gated", {{"main", kC1}});
  hub.config()["repos"]["org/gated"]["gated"] = true;
  hub.config()["token"] = "hf_the_right_one";
  hub.save();
  hub.add_file("org/gated", kC1, "config.json", kConfig);
  hub.start();
  TempDir cache;
  ScopedEnv c1("HF_HUB_CACHE", cache.path()), c2("HF_ENDPOINT", hub.url()),
      c3("HF_TOKEN", "hf_secret_never_printed");
  int rc = 0;
  const std::string out = run_cli("download org/gated", &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("HTTP 403"), std::string::npos) << out;
  EXPECT_EQ(out.find("hf_secret_never_printed"), std::string::npos) << out;
}

TEST(DownloadCli, RejectsLocalPathsAndBadIds) {
  int rc = 0;
  std::string out = run_cli("download /", &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("local path"), std::string::npos) << out;
  out = run_cli("download 'a/b/c'", &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("neither an existing path"), std::string::npos) << out;
}

}  // namespace
}  // namespace ia
