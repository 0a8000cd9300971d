#include "test_support.hpp"

#include <sri/core/centers.hpp>

#include <doctest/doctest.h>

#include <vector>

namespace {

using sri::PromptSet;
using sri::RowMatrixXd;
using sri::RowMatrixXf;
using sri::test::random_matrix;

constexpr std::uint32_t seed = 4242;
constexpr Eigen::Index steps = 3;
constexpr Eigen::Index hidden = 5;

struct Run {
  RowMatrixXf phi;  // [steps, hidden]
  PromptSet set;
  bool refused;
};

std::vector<Run> make_runs() {
  std::vector<Run> runs;
  const std::array<std::pair<PromptSet, bool>, 7> labels = {{{PromptSet::harmless, false},
                                                             {PromptSet::harmless, true},
                                                             {PromptSet::harmless, false},
                                                             {PromptSet::harmful, true},
                                                             {PromptSet::harmful, false},
                                                             {PromptSet::harmful, true},
                                                             {PromptSet::harmful, true}}};
  std::uint32_t offset = 0;
  for (const auto& [set, refused] : labels) {
    runs.push_back({random_matrix(steps, hidden, seed + offset++), set, refused});
  }
  return runs;
}

// Mean of the runs matching the predicate, in float64. [steps, hidden]
template <class Predicate>
RowMatrixXd mean_where(const std::vector<Run>& runs, Predicate keep) {
  RowMatrixXd sum = RowMatrixXd::Zero(steps, hidden);
  int count = 0;
  for (const Run& run : runs) {
    if (keep(run)) {
      sum += run.phi.cast<double>();
      ++count;
    }
  }
  return sum / count;
}

// Float32 result of float64 sums of standard normals: 1e-6 absolute.
constexpr double tolerance = 1e-6;

}  // namespace

TEST_CASE("centers use the reference filtering") {
  INFO("seed ", seed);
  const std::vector<Run> runs = make_runs();
  sri::CenterAccumulator accumulator(steps, hidden);
  for (const Run& run : runs) {
    accumulator.add(run.phi, run.set, run.refused);
  }
  const sri::CentersResult result = accumulator.finalize();
  const RowMatrixXd harmless =
      mean_where(runs, [](const Run& r) { return r.set == PromptSet::harmless && !r.refused; });
  const RowMatrixXd harmful = mean_where(runs, [](const Run& r) { return r.set == PromptSet::harmful && r.refused; });
  CHECK((result.centers.harmless.cast<double>() - harmless).cwiseAbs().maxCoeff() < tolerance);
  CHECK((result.centers.harmful.cast<double>() - harmful).cwiseAbs().maxCoeff() < tolerance);
  CHECK(result.harmless_runs == 3);
  CHECK(result.harmless_refused == 1);
  CHECK(result.harmful_runs == 4);
  CHECK(result.harmful_refused == 3);
  CHECK_FALSE(result.unfiltered_used());
}

TEST_CASE("merged accumulators equal one accumulator") {
  INFO("seed ", seed);
  const std::vector<Run> runs = make_runs();
  sri::CenterAccumulator whole(steps, hidden);
  sri::CenterAccumulator first(steps, hidden);
  sri::CenterAccumulator second(steps, hidden);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    whole.add(runs[i].phi, runs[i].set, runs[i].refused);
    (i % 2 == 0 ? first : second).add(runs[i].phi, runs[i].set, runs[i].refused);
  }
  first.merge(second);
  const sri::CentersResult merged = first.finalize();
  const sri::CentersResult single = whole.finalize();
  // Float64 sums in another order: equal to 1e-6 after rounding to float32.
  CHECK((merged.centers.harmless - single.centers.harmless).cwiseAbs().maxCoeff() < 1e-6F);
  CHECK((merged.centers.harmful - single.centers.harmful).cwiseAbs().maxCoeff() < 1e-6F);
  CHECK(merged.harmful_refused == single.harmful_refused);

  sri::CenterAccumulator other_shape(steps + 1, hidden);
  CHECK_THROWS_WITH_AS(first.merge(other_shape), doctest::Contains("cannot merge a [4, 5] accumulator into a [3, 5]"),
                       sri::Error);
}

TEST_CASE("empty filtered set names the counts and the option") {
  sri::CenterAccumulator accumulator(steps, hidden);
  for (std::uint32_t i = 0; i < 2; ++i) {
    accumulator.add(random_matrix(steps, hidden, seed + i), PromptSet::harmless, true);
  }
  for (std::uint32_t i = 0; i < 3; ++i) {
    accumulator.add(random_matrix(steps, hidden, seed + 10 + i), PromptSet::harmful, false);
  }
  try {
    (void)accumulator.finalize();
    FAIL("finalize() accepted empty filtered sets");
  } catch (const sri::Error& error) {
    CHECK(error.id() == "sri.centers.empty_filtered_set");
    const std::string message = error.what();
    CHECK(message.find("harmless refused 2 of 2, harmful refused 0 of 3") != std::string::npos);
    CHECK(message.find("allow_unfiltered (--allow-unfiltered)") != std::string::npos);
  }
}

TEST_CASE("allow_unfiltered falls back for the empty set only") {
  INFO("seed ", seed);
  std::vector<Run> runs = make_runs();
  for (Run& run : runs) {
    if (run.set == PromptSet::harmful) {
      run.refused = false;  // no harmful refusal at all
    }
  }
  sri::CenterAccumulator accumulator(steps, hidden);
  for (const Run& run : runs) {
    accumulator.add(run.phi, run.set, run.refused);
  }
  const sri::CentersResult result = accumulator.finalize({.allow_unfiltered = true});
  CHECK(result.harmless_filtered);
  CHECK_FALSE(result.harmful_filtered);
  CHECK(result.unfiltered_used());
  const RowMatrixXd harmful_all = mean_where(runs, [](const Run& r) { return r.set == PromptSet::harmful; });
  const RowMatrixXd harmless = mean_where(runs, [](const Run& r) { return r.set == PromptSet::harmless && !r.refused; });
  CHECK((result.centers.harmful.cast<double>() - harmful_all).cwiseAbs().maxCoeff() < tolerance);
  CHECK((result.centers.harmless.cast<double>() - harmless).cwiseAbs().maxCoeff() < tolerance);

  sri::CenterAccumulator harmful_only(steps, hidden);
  harmful_only.add(runs[3].phi, PromptSet::harmful, true);
  CHECK_THROWS_WITH_AS((void)harmful_only.finalize({.allow_unfiltered = true}),
                       doctest::Contains("the harmless prompt set has no runs at all"), sri::Error);
}

TEST_CASE("step masks and empty steps") {
  INFO("seed ", seed);
  const RowMatrixXf long_run = random_matrix(steps, hidden, seed + 50);   // [steps, hidden]
  const RowMatrixXf short_run = random_matrix(steps, hidden, seed + 51);  // [steps, hidden]
  sri::StepMask first_step_only = sri::StepMask::Constant(steps, false);
  first_step_only(0) = true;

  sri::CenterAccumulator accumulator(steps, hidden);
  accumulator.add(long_run, PromptSet::harmless, false);
  accumulator.add(short_run, PromptSet::harmless, false, first_step_only);
  accumulator.add(long_run, PromptSet::harmful, true, first_step_only);
  CHECK(accumulator.group(PromptSet::harmless, false).count(0) == 2);
  CHECK(accumulator.group(PromptSet::harmless, false).count(1) == 1);
  CHECK(accumulator.group(PromptSet::harmless, false).runs == 2);
  try {
    (void)accumulator.finalize();
    FAIL("finalize() invented a center row for a step no run included");
  } catch (const sri::Error& error) {
    CHECK(error.id() == "sri.centers.empty_step");
    CHECK(std::string(error.what()).find("harmful center: step 1 was excluded from all 1 runs") != std::string::npos);
  }

  accumulator.add(short_run, PromptSet::harmful, true);
  const sri::CentersResult result = accumulator.finalize();
  // Step 0 averages both harmless runs, step 1 only the run whose mask included it.
  const RowMatrixXf both = ((long_run.row(0).cast<double>() + short_run.row(0).cast<double>()) / 2.0).cast<float>();
  CHECK((result.centers.harmless.row(0) - both).cwiseAbs().maxCoeff() < 1e-6F);
  CHECK((result.centers.harmless.row(1) - long_run.row(1)).cwiseAbs().maxCoeff() < 1e-6F);
  CHECK((result.centers.harmful.row(2) - short_run.row(2)).cwiseAbs().maxCoeff() < 1e-6F);
}

TEST_CASE("accumulator state round trip") {
  INFO("seed ", seed);
  const std::vector<Run> runs = make_runs();
  sri::CenterAccumulator accumulator(steps, hidden);
  for (const Run& run : runs) {
    accumulator.add(run.phi, run.set, run.refused);
  }
  const sri::CenterAccumulator restored = sri::CenterAccumulator::from_groups(accumulator.groups());
  CHECK(restored.finalize().centers.harmful == accumulator.finalize().centers.harmful);
  CHECK(restored.group(PromptSet::harmful, true).runs == 3);

  std::array<sri::CenterGroup, 4> damaged = accumulator.groups();
  damaged[2].count(1) = 99;
  CHECK_THROWS_WITH_AS((void)sri::CenterAccumulator::from_groups(damaged),
                       doctest::Contains("step count above its run count"), sri::Error);
  std::array<sri::CenterGroup, 4> reshaped = accumulator.groups();
  reshaped[3].sum.resize(steps, hidden + 1);
  CHECK_THROWS_WITH_AS((void)sri::CenterAccumulator::from_groups(reshaped),
                       doctest::Contains("saved center group 3 has sums [3, 6]"), sri::Error);
}

TEST_CASE("accumulator rejects other shapes") {
  sri::CenterAccumulator accumulator(steps, hidden);
  const RowMatrixXf wide = random_matrix(steps, hidden + 1, seed);  // [steps, hidden + 1]
  try {
    accumulator.add(wide, PromptSet::harmless, false);
    FAIL("add() accepted a run of the wrong hidden size");
  } catch (const sri::Error& error) {
    CHECK(error.id() == "sri.centers.shape_mismatch");
    CHECK(std::string(error.what()).find("expected a run of [3, 5] (steps, hidden size), got [3, 6]") !=
          std::string::npos);
  }
  CHECK_THROWS_AS(sri::CenterAccumulator(0, hidden), sri::Error);
  const RowMatrixXf fits = random_matrix(steps, hidden, seed);  // [steps, hidden]
  CHECK_THROWS_WITH_AS(accumulator.add(fits, PromptSet::harmless, false, sri::StepMask::Constant(2, true)),
                       doctest::Contains("expected a step mask of 3 entries, got 2"), sri::Error);
}

TEST_CASE("centers with one step and hidden size one") {
  sri::CenterAccumulator accumulator(1, 1);
  RowMatrixXf value(1, 1);  // [1, 1]
  value << 2.0F;
  accumulator.add(value, PromptSet::harmless, false);
  value << 4.0F;
  accumulator.add(value, PromptSet::harmless, false);
  accumulator.add(value, PromptSet::harmful, true);
  const sri::CentersResult result = accumulator.finalize();
  CHECK(result.centers.harmless(0, 0) == 3.0F);
  CHECK(result.centers.harmful(0, 0) == 4.0F);
}
