#pragma once

// Masked-diffusion generation strategies over a bidirectional backbone (sri::model::Llada,
// sri::model::Dream):
//   LladaDiffusion       the LLaDA sampler: blocks, per-step commit counts, remasking, guidance
//   DreamDiffusion       Dream's sampler: timesteps 1 -> eps and its four algorithms
//   LeftToRightDiffusion autoregressive order on diffusion weights: one token per step, the
//                        leftmost masked response position, over the same canvas
//
// A step is one forward pass (two rows per prompt with guidance) followed by that step's
// commits. The hook receives that pass, and its hook step equals the sampling step. Each strategy can report the
// canvas through an optional CanvasCallback after every step.
//
// Canvas layout: prompts are left-padded with the model's padding id to the longest prompt (P
// columns, padding marked invalid for attention), then gen_length mask tokens follow. The hook's
// RunInfo names the response columns [P, P + gen_length).

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "sri/error.hpp"
#include "sri/generate/dream_sampler.hpp"
#include "sri/generate/llada_schedule.hpp"
#include "sri/generate/strategy.hpp"
#include "sri/hook/hook.hpp"
#include "sri/model/backbone.hpp"

namespace sri::generate {

// Half of a guided pass that the hook reads. ML-GSAI/LLaDA's generate.py runs [x, x_uncond] as one
// batch, and the SRI reference code took its activations from the second (unconditional) half.
enum class GuidanceHookRows {
  conditional,              // the prompt-conditioned rows (the default)
  unconditional_reference,  // compatibility with the reference's reading
};

// The canvas around one step.
struct CanvasInfo {
  int64_t step = 0;
  int64_t prompt_length = 0;  // padded prompt columns P; the response starts there
  const at::Tensor& input;      // [batch, P + gen_length] int64, the canvas the step's pass saw
  const at::Tensor& canvas;     // [batch, P + gen_length] int64, after the step's commits
  const at::Tensor& committed;  // [batch, P + gen_length] bool, positions committed at this step
};
using CanvasCallback = std::function<void(const CanvasInfo&)>;

namespace detail {

// Delivers only rows [begin, begin + count) of every activation to the wrapped sink, so that a
// hook receives one half of a batch that guidance doubled.
class RowSliceSink final : public model::ActivationSink {
 public:
  RowSliceSink(model::ActivationSink* inner, int64_t begin, int64_t count) : inner_(inner), begin_(begin), count_(count) {}
  model::PositionSelection wants(const model::HookPoint& point, int64_t step) override {
    return inner_->wants(point, step);
  }
  void receive(const model::HookPoint& point, int64_t step, const at::Tensor& activations) override {
    inner_->receive(point, step, activations.narrow(0, begin_, count_));  // [count, selected, hidden]
  }

 private:
  model::ActivationSink* inner_;
  int64_t begin_, count_;
};

// Holds the activations of one forward pass until the step's commits are known, then delivers
// them. Hooks with a committed-position rule need the mask after the step's commits, which only
// exist once the pass is over.
class DeferredSink final : public model::ActivationSink {
 public:
  explicit DeferredSink(model::ActivationSink* inner) : inner_(inner) {}
  model::PositionSelection wants(const model::HookPoint& point, int64_t step) override {
    return inner_->wants(point, step);
  }
  void receive(const model::HookPoint& point, int64_t step, const at::Tensor& activations) override {
    pending_.push_back({point, step, activations.clone()});  // [batch, selected, hidden]
  }
  void flush() {
    for (const auto& p : pending_) inner_->receive(p.point, p.step, p.activations);
    pending_.clear();
  }

 private:
  struct Pending {
    model::HookPoint point;
    int64_t step;
    at::Tensor activations;
  };
  model::ActivationSink* inner_;
  std::vector<Pending> pending_;
};

struct Canvas {
  at::Tensor tokens;  // [batch, P + gen_length] int64
  at::Tensor valid;   // [batch, P + gen_length] bool, false on left padding
  int64_t prompt_length = 0;
};

inline Canvas make_canvas(const TokenBatch& prompts, int64_t gen_length, int64_t mask_id, int64_t pad_id,
                          at::Device device) {
  if (prompts.empty()) raise("sri.diffusion.prompt_invalid", "no prompts were given; pass at least one prompt row");
  std::size_t width = 0;
  for (const auto& p : prompts) width = std::max(width, p.size());
  if (width == 0) raise("sri.diffusion.prompt_invalid", "every prompt is empty; a prompt needs at least one token");
  const auto batch = static_cast<int64_t>(prompts.size());
  const auto prompt_length = static_cast<int64_t>(width);
  Canvas c;
  c.prompt_length = prompt_length;
  c.tokens = at::full({batch, prompt_length + gen_length}, mask_id, at::TensorOptions().dtype(at::kLong));
  c.valid = at::ones({batch, prompt_length + gen_length}, at::TensorOptions().dtype(at::kBool));
  for (int64_t b = 0; b < batch; ++b) {
    const auto& p = prompts[static_cast<std::size_t>(b)];
    const int64_t pad = prompt_length - static_cast<int64_t>(p.size());
    for (int64_t j = 0; j < prompt_length; ++j) {
      const int64_t id = j < pad ? pad_id : p[static_cast<std::size_t>(j - pad)];
      if (j >= pad && id == mask_id) {
        raise("sri.diffusion.prompt_invalid", "prompt row " + std::to_string(b) + " contains the mask token id " +
                                                  std::to_string(mask_id) + " at position " + std::to_string(j - pad) +
                                                  "; remove it, since the sampler would overwrite it");
      }
      c.tokens[b][j] = id;
      if (j < pad) c.valid[b][j] = false;
    }
  }
  c.tokens = c.tokens.to(device);
  c.valid = c.valid.to(device);
  return c;
}

// Shared step loop: forward pass (doubled with guidance), hook delivery, `commit`, callbacks.
// `commit(canvas, logits, step)` edits the canvas in place and returns the committed positions;
// `logits` are already shifted so that column j predicts token j.
template <model::Backbone B, hook::Hook H, class Commit>
GenerationResult run_canvas(const B& backbone, const TokenBatch& prompts, H& hook, const StepCallback& on_step,
                            const CanvasCallback& on_canvas, int64_t steps, int64_t gen_length, int64_t mask_id,
                            double cfg_scale, GuidanceHookRows hook_rows, at::Tensor* final_canvas, Commit&& commit) {
  const int64_t pad_id = backbone.config().pad_token_id.value_or(
      backbone.end_token_ids().empty() ? 0 : backbone.end_token_ids().front());
  Canvas c = make_canvas(prompts, gen_length, mask_id, pad_id, backbone.device());
  const int64_t batch = c.tokens.size(0);
  const bool guided = cfg_scale > 0.0;
  // Prompt columns, padding included, as generate.py's prompt_index = (x != mask_id) before step 0.
  const at::Tensor prompt_columns = c.tokens.ne(mask_id);  // [batch, P + gen_length]
  const at::Tensor doubled_valid = guided ? at::cat({c.valid, c.valid}, 0) : c.valid;

  hook.begin({batch, steps, backbone.config().hidden_size, c.prompt_length, gen_length});
  hook::SinkFor<H> sink(hook);
  const int64_t hook_rows_begin = guided && hook_rows == GuidanceHookRows::unconditional_reference ? batch : 0;
  RowSliceSink sliced(&sink, hook_rows_begin, batch);
  // Hooks that pool committed positions get each row's response mask after the step's commits,
  // before the pass's activations reach them.
  constexpr bool hook_takes_commits = requires(H& h, std::span<const bool> mask) { h.set_committed(int64_t{}, mask); };
  DeferredSink deferred(guided ? static_cast<model::ActivationSink*>(&sliced) : &sink);
  model::ActivationSink* pass_sink = hook_takes_commits ? static_cast<model::ActivationSink*>(&deferred)
                                                        : (guided ? static_cast<model::ActivationSink*>(&sliced) : &sink);
  std::unique_ptr<bool[]> committed_row(new bool[static_cast<std::size_t>(gen_length)]);

  GenerationResult result;
  int64_t done = 0;
  for (int64_t step = 0; step < steps; ++step) {
    at::Tensor input = c.tokens.clone();  // [batch, P + gen_length]
    at::Tensor logits;                    // [batch, P + gen_length, vocab]
    if (guided) {
      at::Tensor unconditional = c.tokens.masked_fill(prompt_columns, mask_id);
      model::ForwardInput in{at::cat({c.tokens, unconditional}, 0), doubled_valid, step, false};
      at::Tensor both = backbone.forward(in, nullptr, pass_sink).logits;  // [2 * batch, seq, vocab]
      logits = combine_guidance(both.narrow(0, 0, batch), both.narrow(0, batch, batch), cfg_scale);
    } else {
      model::ForwardInput in{c.tokens, c.valid, step, false};
      logits = backbone.forward(in, nullptr, pass_sink).logits;
    }
    if constexpr (requires { B::logits_shift; }) {
      if (B::logits_shift == 1 && logits.size(1) > 1) {
        logits = at::cat({logits.narrow(1, 0, 1), logits.narrow(1, 0, logits.size(1) - 1)}, 1);
      }
    }
    at::Tensor committed = commit(c.tokens, logits, step);  // [batch, P + gen_length]
    done = step + 1;
    if constexpr (hook_takes_commits) {
      at::Tensor unmasked = c.tokens.narrow(1, c.prompt_length, gen_length).ne(mask_id).cpu().contiguous();  // [batch, gen_length]
      for (int64_t b = 0; b < batch; ++b) {
        const bool* flags = unmasked[b].data_ptr<bool>();
        std::copy(flags, flags + gen_length, committed_row.get());
        hook.set_committed(b, std::span<const bool>(committed_row.get(), static_cast<std::size_t>(gen_length)));
      }
      deferred.flush();
    }
    if (on_canvas) on_canvas(CanvasInfo{step, c.prompt_length, input, c.tokens, committed});
    if (on_step) {
      std::vector<uint8_t> active(static_cast<std::size_t>(batch), 1);
      const at::Tensor response = c.tokens.narrow(1, c.prompt_length, gen_length).to(at::kCPU).contiguous();  // [batch, gen_length]
      StepInfo info{step, steps, {}, std::span<const uint8_t>(active)};
      info.response = std::span<const int64_t>(response.data_ptr<int64_t>(), static_cast<std::size_t>(response.numel()));
      info.response_length = gen_length;
      if (on_step(info) == StepControl::stop) {
        result.stopped_by_callback = true;
        break;
      }
    }
  }

  at::Tensor response = c.tokens.narrow(1, c.prompt_length, gen_length).cpu();  // [batch, gen_length]
  const auto& ends = backbone.end_token_ids();
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<int64_t> row(static_cast<std::size_t>(gen_length));
    uint8_t ended = 0;
    for (int64_t j = 0; j < gen_length; ++j) {
      row[static_cast<std::size_t>(j)] = response[b][j].item<int64_t>();
      for (int64_t e : ends) ended |= static_cast<uint8_t>(row[static_cast<std::size_t>(j)] == e);
    }
    result.tokens.push_back(std::move(row));
    result.steps.push_back(done);
    result.ended_by_end_token.push_back(ended);
    hook.finish_row(b, done);
  }
  if (final_canvas != nullptr) *final_canvas = c.tokens;
  return result;
}

template <class B>
int64_t backbone_mask_id(const B& backbone) {
  if constexpr (requires { backbone.mask_token_id(); }) {
    return backbone.mask_token_id();
  } else {
    raise("sri.diffusion.config_invalid",
          "the backbone has no mask token id; set the strategy's mask_id option or use a masked-diffusion backbone");
  }
}

}  // namespace detail

// The LLaDA sampler over any bidirectional backbone.
class LladaDiffusion {
 public:
  static constexpr hook::StepKind step_kind = hook::StepKind::masked_diffusion;

  struct Options {
    LladaProfile profile;
    std::optional<int64_t> mask_id;  // default: the backbone's mask_token_id()
    std::optional<int64_t> eos_id;   // default: the backbone's first end token
    int64_t eot_id = 126348;         // <|eot_id|> of LLaDA-8B-Instruct
    GuidanceHookRows hook_rows = GuidanceHookRows::conditional;
    CanvasCallback on_canvas;
  };

  // Validates the profile at once, before any model is needed.
  explicit LladaDiffusion(Options options) : options_(std::move(options)) { validate(options_.profile); }
  explicit LladaDiffusion(const LladaProfile& profile) : LladaDiffusion(Options{profile}) {}

  [[nodiscard]] int64_t max_steps() const { return options_.profile.steps; }
  [[nodiscard]] const Options& options() const { return options_; }
  // Prompt and response columns of the last run, [batch, P + gen_length].
  [[nodiscard]] const at::Tensor& last_canvas() const { return last_canvas_; }

  template <model::Backbone B, hook::Hook H>
  GenerationResult run(const B& backbone, const TokenBatch& prompts, H& hook, const StepCallback& on_step = {}) {
    static_assert(B::attention_kind == model::AttentionKind::bidirectional,
                  "LladaDiffusion needs a bidirectional backbone such as sri::model::Llada; a causal backbone "
                  "cannot predict masked positions from the right-hand context.");
    static_assert(hook::step_kinds_compatible(step_kind, H::step_kind),
                  "The hook's pooling rule is written for autoregressive steps; use a masked-diffusion pooling "
                  "rule (AllResponsePositions or CommittedPositions) with LladaDiffusion.");
    const LladaProfile& profile = options_.profile;
    LladaTokens tokens;
    tokens.mask_id = options_.mask_id.value_or(detail::backbone_mask_id(backbone));
    tokens.eos_id = options_.eos_id.value_or(backbone.end_token_ids().empty() ? tokens.eos_id
                                                                              : backbone.end_token_ids().front());
    tokens.eot_id = options_.eot_id;
    at::Generator generator = at::detail::createCPUGenerator(profile.seed);
    const int64_t per_block = profile.steps_per_block();
    at::Tensor counts;  // [batch, steps_per_block] of the current block
    int64_t prompt_length = 0;

    auto commit = [&](at::Tensor& canvas, at::Tensor logits, int64_t step) {
      const int64_t block = step / per_block, inner = step % per_block;
      if (prompt_length == 0) prompt_length = canvas.size(1) - profile.gen_length;
      const int64_t block_begin = prompt_length + block * profile.block_length;
      const int64_t block_end = block_begin + profile.block_length;
      if (inner == 0) {
        counts = llada_transfer_counts(canvas.narrow(1, block_begin, profile.block_length).eq(tokens.mask_id), per_block);
      }
      return llada_commit_step(canvas, std::move(logits), block_end, counts.select(1, inner), profile, tokens,
                               generator, block_begin);
    };
    return detail::run_canvas(backbone, prompts, hook, on_step, options_.on_canvas, profile.steps, profile.gen_length,
                              tokens.mask_id, profile.cfg_scale, options_.hook_rows, &last_canvas_, commit);
  }

 private:
  Options options_;
  at::Tensor last_canvas_;
};

// Dream's sampler over any bidirectional backbone. Logits are shifted when the backbone's
// logits_shift is 1.
class DreamDiffusion {
 public:
  static constexpr hook::StepKind step_kind = hook::StepKind::masked_diffusion;

  struct Options {
    DreamProfile profile;
    std::optional<int64_t> mask_id;  // default: the backbone's mask_token_id()
    CanvasCallback on_canvas;
  };

  explicit DreamDiffusion(Options options) : options_(std::move(options)) { validate(options_.profile); }
  explicit DreamDiffusion(const DreamProfile& profile) : DreamDiffusion(Options{profile}) {}

  [[nodiscard]] int64_t max_steps() const { return options_.profile.steps; }
  [[nodiscard]] const Options& options() const { return options_; }
  [[nodiscard]] const at::Tensor& last_canvas() const { return last_canvas_; }

  template <model::Backbone B, hook::Hook H>
  GenerationResult run(const B& backbone, const TokenBatch& prompts, H& hook, const StepCallback& on_step = {}) {
    static_assert(B::attention_kind == model::AttentionKind::bidirectional,
                  "DreamDiffusion needs a bidirectional backbone such as sri::model::Dream.");
    static_assert(hook::step_kinds_compatible(step_kind, H::step_kind),
                  "The hook's pooling rule is written for autoregressive steps; use a masked-diffusion pooling "
                  "rule with DreamDiffusion.");
    const DreamProfile& profile = options_.profile;
    const int64_t mask_id = options_.mask_id.value_or(detail::backbone_mask_id(backbone));
    at::Generator generator = at::detail::createCPUGenerator(profile.seed);
    const at::Tensor timesteps = dream_timesteps(profile.steps, profile.eps);
    auto commit = [&](at::Tensor& canvas, const at::Tensor& logits, int64_t step) {
      return dream_commit_step(canvas, logits, step, timesteps, mask_id, profile, generator);
    };
    return detail::run_canvas(backbone, prompts, hook, on_step, options_.on_canvas, profile.steps,
                              profile.max_new_tokens, mask_id, 0.0, GuidanceHookRows::conditional, &last_canvas_,
                              commit);
  }

 private:
  Options options_;
  at::Tensor last_canvas_;
};

// Autoregressive order on masked-diffusion weights: the canvas contains gen_length masks and every
// step commits the leftmost one, chosen by argmax (temperature 0) or float64 Gumbel-max noise.
// steps = gen_length. For LLaDA this equals LladaDiffusion with block_length 1.
class LeftToRightDiffusion {
 public:
  static constexpr hook::StepKind step_kind = hook::StepKind::masked_diffusion;

  struct Options {
    int64_t gen_length = 128;
    double temperature = 0.0;
    uint64_t seed = 0;
    std::optional<int64_t> mask_id;
    CanvasCallback on_canvas;
  };

  explicit LeftToRightDiffusion(Options options) : options_(std::move(options)) {
    if (options_.gen_length <= 0) {
      raise("sri.diffusion.profile_invalid",
            "gen_length is " + std::to_string(options_.gen_length) + "; it must be positive");
    }
    if (!(options_.temperature >= 0.0)) {
      raise("sri.diffusion.profile_invalid",
            "temperature is " + std::to_string(options_.temperature) + "; it must be 0 or positive");
    }
  }

  [[nodiscard]] int64_t max_steps() const { return options_.gen_length; }
  [[nodiscard]] const at::Tensor& last_canvas() const { return last_canvas_; }

  template <model::Backbone B, hook::Hook H>
  GenerationResult run(const B& backbone, const TokenBatch& prompts, H& hook, const StepCallback& on_step = {}) {
    static_assert(B::attention_kind == model::AttentionKind::bidirectional,
                  "LeftToRightDiffusion needs a bidirectional masked-diffusion backbone.");
    static_assert(hook::step_kinds_compatible(step_kind, H::step_kind),
                  "The hook's pooling rule is written for autoregressive steps; use a masked-diffusion pooling "
                  "rule with LeftToRightDiffusion.");
    const int64_t mask_id = options_.mask_id.value_or(detail::backbone_mask_id(backbone));
    at::Generator generator = at::detail::createCPUGenerator(options_.seed);
    const int64_t gen_length = options_.gen_length;
    auto commit = [&](at::Tensor& canvas, const at::Tensor& logits, int64_t step) {
      const int64_t column = canvas.size(1) - gen_length + step;
      at::Tensor scores = add_gumbel_noise(logits.narrow(1, column, 1), options_.temperature, generator);  // [batch, 1, vocab]
      at::Tensor chosen = scores.argmax(-1);  // [batch, 1]
      at::Tensor transfer = at::zeros_like(canvas, at::kBool);
      transfer.narrow(1, column, 1).fill_(true);
      canvas.narrow(1, column, 1).copy_(chosen);
      return transfer;
    };
    return detail::run_canvas(backbone, prompts, hook, on_step, options_.on_canvas, gen_length, gen_length, mask_id,
                              0.0, GuidanceHookRows::conditional, &last_canvas_, commit);
  }

 private:
  Options options_;
  at::Tensor last_canvas_;
};

}  // namespace sri::generate
