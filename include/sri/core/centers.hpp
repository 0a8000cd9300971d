#pragma once

// Per-step centers: a streaming, mergeable accumulator of [T, D] runs and the reference's
// refusal filtering. The harmless center is the per-step mean over harmless runs that were NOT
// refused. The harmful center is the mean over harmful runs that WERE refused, so it is really a
// refusal center.

#include <sri/core/types.hpp>
#include <sri/error.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace sri {

// The prompt set a run came from.
enum class PromptSet { harmless, harmful };

[[nodiscard]] inline std::string_view to_string(PromptSet set) {
  return set == PromptSet::harmless ? "harmless" : "harmful";
}

// [T, D] harmless and harmful centers, the pair the signal compares against.
struct CenterPair {
  RowMatrixXf harmless;  // [steps, hidden]
  RowMatrixXf harmful;   // [steps, hidden]
};

// Per-step float64 sums and counts of the runs of one prompt set with one refusal verdict.
// Exposed so that a caller can checkpoint an accumulator and restore it later.
struct CenterGroup {
  RowMatrixXd sum;     // [steps, hidden] sum of the included rows
  StepCounts count;    // [steps] rows included per step
  std::int64_t runs = 0;  // runs added, whatever their step mask

  CenterGroup() = default;
  CenterGroup(Eigen::Index steps, Eigen::Index hidden)
      : sum(RowMatrixXd::Zero(steps, hidden)), count(StepCounts::Zero(steps)) {}
};

struct FinalizeOptions {
  // When a filtered set is empty, fall back to the mean over every run of that set (refused or
  // not) instead of raising sri.centers.empty_filtered_set. The command-line flag is
  // --allow-unfiltered. Off by default, as the reference raises.
  bool allow_unfiltered = false;
};

// Finalized centers with the counts behind them.
struct CentersResult {
  CenterPair centers;
  std::int64_t harmless_runs = 0;
  std::int64_t harmless_refused = 0;
  std::int64_t harmful_runs = 0;
  std::int64_t harmful_refused = 0;
  bool harmless_filtered = true;  // false when allow_unfiltered replaced an empty filtered set
  bool harmful_filtered = true;   // false when allow_unfiltered replaced an empty filtered set

  [[nodiscard]] bool unfiltered_used() const { return !harmless_filtered || !harmful_filtered; }
};

class CenterAccumulator {
 public:
  // Group order in groups(): harmless kept, harmless refused, harmful complied, harmful refused.
  static constexpr std::size_t group_count = 4;

  CenterAccumulator(Eigen::Index steps, Eigen::Index hidden) : steps_(steps), hidden_(hidden) {
    if (steps <= 0 || hidden <= 0) {
      raise("sri.centers.shape_mismatch", "a center accumulator needs positive steps and hidden size, got steps " +
                                              std::to_string(steps) + " and hidden size " + std::to_string(hidden));
    }
    for (CenterGroup& group : groups_) {
      group = CenterGroup(steps, hidden);
    }
  }

  // Restores an accumulator from saved groups, for example after a checkpoint. Every group must
  // be [steps, hidden] with [steps] counts.
  static CenterAccumulator from_groups(std::array<CenterGroup, group_count> groups) {
    const Eigen::Index steps = groups[0].sum.rows();
    const Eigen::Index hidden = groups[0].sum.cols();
    CenterAccumulator out(steps, hidden);
    for (std::size_t g = 0; g < group_count; ++g) {
      const CenterGroup& group = groups[g];
      if (group.sum.rows() != steps || group.sum.cols() != hidden || group.count.size() != steps) {
        raise("sri.centers.shape_mismatch", "saved center group " + std::to_string(g) + " has sums [" +
                                                std::to_string(group.sum.rows()) + ", " +
                                                std::to_string(group.sum.cols()) + "] and " +
                                                std::to_string(group.count.size()) + " counts; expected [" +
                                                std::to_string(steps) + ", " + std::to_string(hidden) + "] and " +
                                                std::to_string(steps) + " counts like group 0");
      }
      if ((group.count < 0).any() || group.runs < 0 || (group.count > group.runs).any()) {
        raise("sri.centers.invalid_state", "saved center group " + std::to_string(g) +
                                               " has a negative count or a step count above its run count " +
                                               std::to_string(group.runs) + "; the checkpoint is damaged");
      }
    }
    out.groups_ = std::move(groups);
    return out;
  }

  // Adds one run: phi is [steps, hidden]; refused is the judge's verdict on its final text.
  // Every step enters the mean, which matches the reference (padded steps included).
  void add(const ConstMatrixRef& phi, PromptSet set, bool refused) {
    add(phi, set, refused, StepMask::Constant(steps_, true));
  }

  // Adds one run; only steps with include(t) true enter the sums, for example PooledSteps::real
  // to leave out steps padded after EOS.
  void add(const ConstMatrixRef& phi, PromptSet set, bool refused, const Eigen::Ref<const StepMask>& include) {
    if (phi.rows() != steps_ || phi.cols() != hidden_) {
      raise("sri.centers.shape_mismatch", "expected a run of [" + std::to_string(steps_) + ", " +
                                              std::to_string(hidden_) + "] (steps, hidden size), got [" +
                                              std::to_string(phi.rows()) + ", " + std::to_string(phi.cols()) +
                                              "]; build the centers with the same profile and hook point");
    }
    if (include.size() != steps_) {
      raise("sri.centers.shape_mismatch", "expected a step mask of " + std::to_string(steps_) + " entries, got " +
                                              std::to_string(include.size()));
    }
    CenterGroup& group = groups_[group_index(set, refused)];
    for (Eigen::Index t = 0; t < steps_; ++t) {
      if (include(t)) {
        group.sum.row(t) += phi.row(t).cast<double>();
        group.count(t) += 1;
      }
    }
    group.runs += 1;
  }

  // Adds the sums and counts of another accumulator of the same shape (another machine's share).
  void merge(const CenterAccumulator& other) {
    if (other.steps_ != steps_ || other.hidden_ != hidden_) {
      raise("sri.centers.shape_mismatch", "cannot merge a [" + std::to_string(other.steps_) + ", " +
                                              std::to_string(other.hidden_) + "] accumulator into a [" +
                                              std::to_string(steps_) + ", " + std::to_string(hidden_) +
                                              "] one; both shares must use the same profile and model");
    }
    for (std::size_t g = 0; g < group_count; ++g) {
      groups_[g].sum += other.groups_[g].sum;
      groups_[g].count += other.groups_[g].count;
      groups_[g].runs += other.groups_[g].runs;
    }
  }

  // Computes the filtered centers. Raises sri.centers.empty_filtered_set when a filtered set has
  // no run (unless options.allow_unfiltered), and sri.centers.empty_step when a set has runs but
  // a step that none of them included, because a center row with no data would be invented.
  [[nodiscard]] CentersResult finalize(const FinalizeOptions& options = {}) const {
    CentersResult result;
    const CenterGroup& harmless_kept = group(PromptSet::harmless, false);
    const CenterGroup& harmless_refused = group(PromptSet::harmless, true);
    const CenterGroup& harmful_complied = group(PromptSet::harmful, false);
    const CenterGroup& harmful_refused = group(PromptSet::harmful, true);
    result.harmless_runs = harmless_kept.runs + harmless_refused.runs;
    result.harmless_refused = harmless_refused.runs;
    result.harmful_runs = harmful_complied.runs + harmful_refused.runs;
    result.harmful_refused = harmful_refused.runs;

    const bool harmless_empty = harmless_kept.runs == 0;
    const bool harmful_empty = harmful_refused.runs == 0;
    if ((harmless_empty || harmful_empty) && !options.allow_unfiltered) {
      raise("sri.centers.empty_filtered_set",
            "cannot build filtered centers: harmless refused " + std::to_string(result.harmless_refused) + " of " +
                std::to_string(result.harmless_runs) + ", harmful refused " + std::to_string(result.harmful_refused) +
                " of " + std::to_string(result.harmful_runs) +
                "; the harmless center needs at least one non-refused harmless run and the harmful center at "
                "least one refused harmful run. Add prompts, or pass allow_unfiltered (--allow-unfiltered) to use "
                "the mean over all runs of an empty set");
    }

    if (harmless_empty) {
      result.centers.harmless = mean_of(PromptSet::harmless, harmless_kept, harmless_refused, true);
      result.harmless_filtered = false;
    } else {
      result.centers.harmless = mean_of(PromptSet::harmless, harmless_kept, harmless_refused, false);
    }
    if (harmful_empty) {
      result.centers.harmful = mean_of(PromptSet::harmful, harmful_refused, harmful_complied, true);
      result.harmful_filtered = false;
    } else {
      result.centers.harmful = mean_of(PromptSet::harmful, harmful_refused, harmful_complied, false);
    }
    return result;
  }

  [[nodiscard]] const CenterGroup& group(PromptSet set, bool refused) const { return groups_[group_index(set, refused)]; }
  [[nodiscard]] const std::array<CenterGroup, group_count>& groups() const { return groups_; }
  [[nodiscard]] Eigen::Index steps() const { return steps_; }
  [[nodiscard]] Eigen::Index hidden() const { return hidden_; }

  [[nodiscard]] static constexpr std::size_t group_index(PromptSet set, bool refused) {
    return (set == PromptSet::harmless ? 0U : 2U) + (refused ? 1U : 0U);
  }

 private:
  // Mean of `selected`, or of `selected` plus `other` when unfiltered. [steps, hidden]
  [[nodiscard]] RowMatrixXf mean_of(PromptSet set, const CenterGroup& selected, const CenterGroup& other,
                                    bool unfiltered) const {
    RowMatrixXd sum = selected.sum;  // [steps, hidden]
    StepCounts count = selected.count;  // [steps]
    if (unfiltered) {
      sum += other.sum;
      count += other.count;
    }
    const std::int64_t runs = selected.runs + (unfiltered ? other.runs : 0);
    if (runs == 0) {
      raise("sri.centers.empty_filtered_set",
            "cannot build the " + std::string(to_string(set)) + " center: the " + std::string(to_string(set)) +
                " prompt set has no runs at all, even unfiltered; add " + std::string(to_string(set)) + " prompts");
    }
    for (Eigen::Index t = 0; t < steps_; ++t) {
      if (count(t) == 0) {
        raise("sri.centers.empty_step",
              "cannot build the " + std::string(to_string(set)) + " center: step " + std::to_string(t) +
                  " was excluded from all " + std::to_string(runs) +
                  " runs by their step masks (generation ended earlier); add runs without a step mask so padded "
                  "steps count as in the reference, or use fewer steps");
      }
      sum.row(t) /= static_cast<double>(count(t));
    }
    return sum.cast<float>();
  }

  Eigen::Index steps_;
  Eigen::Index hidden_;
  std::array<CenterGroup, group_count> groups_;
};

}  // namespace sri
