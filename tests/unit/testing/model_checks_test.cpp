// The model test suite's checks judge what they claim to: greedy_generation against an independent uncached
// recompute, cross_backend at fp32-appropriate thresholds, and checks that cannot run reported as skipped.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "testing/catalog.h"
#include "testing/model_test.h"
#include "testing/report.h"
#include "testing/results_db.h"

using namespace ia;
using namespace ia::suite;

namespace {

const Catalog& catalog() {
  static Catalog c = Catalog::load(std::string(IA_SOURCE_DIR) + "/catalog");
  return c;
}

const CheckResult* find_check(const TestOutcome& r, const std::string& name) {
  for (const auto& c : r.checks)
    if (c.name == name) return &c;
  return nullptr;
}

// A decoder test whose recompute sees other prompt tokens than generate() did: an honest greedy check must
// notice that the generated tokens are not the recompute's argmax.
class ShiftedRecomputeTest : public DecoderOnlyModelTest {
 public:
  using DecoderOnlyModelTest::DecoderOnlyModelTest;

 protected:
  TensorMap recompute_inputs(const TensorMap& prompt, const Tensor& ids) const override {
    TensorMap in = DecoderOnlyModelTest::recompute_inputs(prompt, ids);
    Tensor x = in.at("input_ids").clone();
    int64_t* p = x.data<int64_t>();
    for (int64_t i = 0; i < x.numel(); ++i) p[i] = (p[i] * 7 + 3) % vocab();
    in["input_ids"] = x;
    return in;
  }
};

}  // namespace

TEST(ModelChecks, GreedyGenerationIsJudgedByAnIndependentRecompute) {
  const CatalogEntry* e = catalog().find("openai-community/gpt2");
  ASSERT_NE(e, nullptr);
  TestOptions o;
  TestOutcome honest = ModelTest::create(*e)->run(o);
  ASSERT_NE(find_check(honest, "greedy_generation"), nullptr);
  EXPECT_EQ(find_check(honest, "greedy_generation")->status, "passed") << honest.message;

  TestOutcome r = ShiftedRecomputeTest(*e).run(o);
  const CheckResult* g = find_check(r, "greedy_generation");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->status, "failed");
  EXPECT_NE(g->message.find("recomputed logits"), std::string::npos) << g->message;
  EXPECT_EQ(r.status, "failed");
  // Nothing generated to decode: cached_decode is reported skipped with the reason, not passed or left out.
  const CheckResult* c = find_check(r, "cached_decode");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->status, "skipped");
  EXPECT_NE(c->message.find("greedy_generation failed"), std::string::npos) << c->message;
}

namespace {

// Recomputed logits [1, off + N, V] whose argmax at position off + t is best[t], and the ids / generate() logits
// of an honest greedy generation from them (prompt of P tokens, then N generated).
struct GreedyCase {
  static constexpr int64_t P = 3, N = 3, V = 6, off = P - 1;
  std::vector<int64_t> best = {4, 1, 5};
  std::vector<float> recompute = std::vector<float>(size_t((off + N) * V));
  std::vector<int64_t> ids = {7, 8, 9, 4, 1, 5};
  GreedyCase() {
    for (int64_t p = 0; p < off + N; ++p)
      for (int64_t v = 0; v < V; ++v) recompute[size_t(p * V + v)] = 0.25f * float((p * 5 + v * 3) % V) - 0.5f;
    for (int64_t t = 0; t < N; ++t) recompute[size_t((off + t) * V + best[t])] = 2.5f;
  }
  std::vector<float> generated_logits() const {
    return std::vector<float>(recompute.begin() + off * V, recompute.end());
  }
  std::string judge(const std::vector<int64_t>& i, const std::vector<float>& lg) const {
    return greedy_generation_error(Tensor::from_vector<int64_t>(i, {1, P + N}), Tensor::from_vector<float>(lg, {1, N, V}),
                                   Tensor::from_vector<float>(recompute, {1, off + N, V}), off, /*pad_token_id=*/0);
  }
};

}  // namespace

TEST(ModelChecks, GreedyJudgementFailsAWrongGeneration) {
  GreedyCase c;
  EXPECT_EQ(c.judge(c.ids, c.generated_logits()), "");

  // A corrupted generated id: not the recompute's argmax at its position.
  std::vector<int64_t> wrong = c.ids;
  wrong[GreedyCase::P + 1] = 2;
  const std::string e = c.judge(wrong, c.generated_logits());
  EXPECT_NE(e.find("step 1: token 2 is not the argmax 1 of the recomputed logits"), std::string::npos) << e;

  // A row the model finished is padded (pad_token_id 0) from there on: the tail is not a greedy choice...
  std::vector<int64_t> ended = c.ids;
  ended[GreedyCase::P + 1] = ended[GreedyCase::P + 2] = 0;
  EXPECT_EQ(c.judge(ended, c.generated_logits()), "");
  // ... but a pad token followed by real tokens is judged like any other.
  std::vector<int64_t> mid = c.ids;
  mid[GreedyCase::P + 1] = 0;
  EXPECT_NE(c.judge(mid, c.generated_logits()).find("step 1: token 0 is not the argmax"), std::string::npos);

  // An id outside the vocabulary.
  wrong = c.ids;
  wrong.back() = GreedyCase::V;
  EXPECT_NE(c.judge(wrong, c.generated_logits()).find("outside the vocabulary"), std::string::npos);

  // Right tokens, but generate()'s logits are not what an independent forward computes (e.g. a stale cache).
  std::vector<float> lg = c.generated_logits();
  lg[size_t(2 * GreedyCase::V + 0)] += 0.01f;
  const std::string d = c.judge(c.ids, lg);
  EXPECT_NE(d.find("step 2: generate()'s logits differ from the recomputed logits"), std::string::npos) << d;

  // An exact tie (within 1e-5 of the logit scale) with the maximum counts as the argmax.
  GreedyCase tie;
  tie.recompute[size_t((GreedyCase::off + 0) * GreedyCase::V + 0)] = 2.5f;
  std::vector<int64_t> tied = tie.ids;
  tied[GreedyCase::P] = 0;
  EXPECT_EQ(tie.judge(tied, tie.generated_logits()), "");
  // ... but a token 1e-3 below it does not.
  tie.recompute[size_t((GreedyCase::off + 0) * GreedyCase::V + 0)] = 2.5f - 1e-3f;
  EXPECT_NE(tie.judge(tied, tie.generated_logits()), "");
}

namespace {

// bf16 round-to-nearest-even of x, back in fp32.
float to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u = (u + 0x7fff + ((u >> 16) & 1)) & 0xffff0000u;
  std::memcpy(&x, &u, 4);
  return x;
}

}  // namespace

TEST(ModelChecks, CrossBackendThresholdsFitFp32) {
  EXPECT_EQ(agreement_nmse_limit(DType::F32), 1e-6);
  EXPECT_EQ(agreement_nmse_limit(DType::BF16), 1e-3);
  EXPECT_EQ(agreement_nmse_limit(DType::F16), 1e-3);
  // The same 256-term dot products in fp32, summed forwards (the reference) and backwards (another backend's
  // order): pure fp32 rounding noise.
  const int n = 512, k = 256;
  std::vector<float> ref(n), other(n), bf16(n), biased(n), scaled(n);
  for (int i = 0; i < n; ++i) {
    float f = 0, b = 0;
    for (int j = 0; j < k; ++j) f += std::sin(0.37f * float(i) + 0.11f * float(j)) * std::cos(0.05f * float(j));
    for (int j = k - 1; j >= 0; --j) b += std::sin(0.37f * float(i) + 0.11f * float(j)) * std::cos(0.05f * float(j));
    ref[i] = f;
    other[i] = b;
  }
  double rms = 0;
  for (float x : ref) rms += double(x) * x;
  rms = std::sqrt(rms / n);
  for (int i = 0; i < n; ++i) {
    bf16[i] = to_bf16(ref[i]);
    biased[i] = ref[i] + float(0.01 * rms);  // a dropped bias of 1% of the output scale
    scaled[i] = ref[i] * 1.003f;             // a 0.3% gain error
  }
  EXPECT_NE(ref, other) << "the two summation orders should round differently";
  EXPECT_LT(nmse(other, ref), 1e-10);
  EXPECT_EQ(agreement_error("logits", "cpu", other, ref, DType::F32), "");
  // Real errors fail the fp32 limit; the dropped bias and the gain error passed the earlier 5e-4.
  for (const auto* bad : {&biased, &scaled}) {
    EXPECT_LT(nmse(*bad, ref), 5e-4);
    const std::string e = agreement_error("logits", "cpu", *bad, ref, DType::F32);
    EXPECT_NE(e.find("logits: NMSE"), std::string::npos) << e;
    EXPECT_NE(e.find("vs cpu (> 1e-06)"), std::string::npos) << e;
  }
  // Half-precision rounding is a real error in fp32 and within the bf16 limit.
  EXPECT_NE(agreement_error("logits", "cpu", bf16, ref, DType::F32), "");
  EXPECT_EQ(agreement_error("logits", "cpu", bf16, ref, DType::BF16), "");
  // The half-precision limit is loose: the 1% bias passes it, a 5% one (NMSE 2.5e-3) does not.
  EXPECT_EQ(agreement_error("logits", "cpu", biased, ref, DType::BF16), "");
  std::vector<float> biased5 = ref;
  for (float& x : biased5) x += float(0.05 * rms);
  EXPECT_NE(agreement_error("logits", "cpu", biased5, ref, DType::BF16), "");
  // NaN never agrees; sizes must match.
  std::vector<float> nan = other;
  nan[3] = std::nanf("");
  EXPECT_NE(agreement_error("logits", "cpu", nan, ref, DType::F32), "");
  EXPECT_NE(agreement_error("logits", "cpu", std::vector<float>(n - 1), ref, DType::F32).find("shape differs"),
            std::string::npos);
}

TEST(ModelChecks, ChecksThatCannotRunAreSkippedNotPassed) {
  const CatalogEntry* e = catalog().find("openai-community/gpt2");
  ASSERT_NE(e, nullptr);
  TestOptions o;  // no reference backend, no conformance directory
  TestOutcome r = ModelTest::create(*e)->run(o);
  for (const char* name : {"cross_backend", "hf_golden"}) {
    const CheckResult* c = find_check(r, name);
    ASSERT_NE(c, nullptr) << name;
    EXPECT_EQ(c->status, "skipped") << name;
    EXPECT_FALSE(c->message.empty()) << name << " must say why it was skipped";
  }
  const nlohmann::json j = r.to_json();
  bool found = false;
  for (const auto& c : j["checks"])
    if (c.value("name", "") == "cross_backend") found = c.value("status", "") == "skipped";
  EXPECT_TRUE(found) << j.dump();
}

TEST(ModelChecks, SkippedChecksAreSkippedInTheDatabaseAndTheReport) {
  const CatalogEntry* e = catalog().find("openai-community/gpt2");
  ASSERT_NE(e, nullptr);
  TestOutcome out = ModelTest::create(*e)->run(TestOptions{});
  ASSERT_EQ(out.status, "passed") << out.message;

  const std::filesystem::path db_path =
      std::filesystem::temp_directory_path() / ("ia-model-checks-" + std::to_string(getpid()) + ".db");
  std::filesystem::remove(db_path);
  std::vector<TestRecord> stored;
  std::vector<RunInfo> runs;
  {
    ResultsDb db(db_path.string());
    RunInfo ri;
    ri.host = "test";
    TestRecord r;
    r.run_id = db.begin_run(ri);
    r.model_id = e->id;
    r.family = e->family;
    r.model_type = e->model_type;
    r.backend = "cpu";
    r.status = out.status;
    r.checks = out.checks;
    db.record(r);
    db.end_run(r.run_id);
    stored = db.results(r.run_id);
    runs = db.runs();
  }
  std::filesystem::remove(db_path);
  ASSERT_EQ(stored.size(), 1u);
  int skipped = 0, passed = 0;
  for (const auto& c : out.checks) {
    if (c.status == "skipped") ++skipped;
    if (c.status == "passed") ++passed;
  }
  ASSERT_GE(skipped, 2);  // cross_backend and hf_golden at least
  for (const char* name : {"cross_backend", "hf_golden"}) {
    const CheckResult* c = nullptr;
    for (const auto& x : stored[0].checks)
      if (x.name == name) c = &x;
    ASSERT_NE(c, nullptr) << name;
    EXPECT_EQ(c->status, "skipped") << name;
    EXPECT_FALSE(c->message.empty()) << name;
  }

  CoverageReport rep = build_report(catalog(), stored, runs);
  EXPECT_EQ(rep.check_matrix["cpu"]["skipped"], skipped);
  EXPECT_EQ(rep.check_matrix["cpu"]["passed"], passed);
  EXPECT_EQ(rep.skipped_checks["cpu"]["cross_backend"], 1);
  EXPECT_EQ(rep.skipped_checks["cpu"]["hf_golden"], 1);
  EXPECT_EQ(rep.to_json()["check_matrix"]["cpu"]["skipped"].get<int>(), skipped);
  const std::string table = coverage_table(rep);
  EXPECT_NE(table.find("skipped " + std::to_string(skipped)), std::string::npos) << table;
  EXPECT_NE(table.find("cross_backend 1"), std::string::npos) << table;
  const std::string html = dashboard_html(rep);
  EXPECT_NE(html.find("Checks per backend"), std::string::npos);
  EXPECT_NE(html.find("cross_backend: no other executing backend"), std::string::npos);
}
