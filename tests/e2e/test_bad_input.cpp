// Bad input to sri run: each case must exit with code 1, print one error line with the stable id
// and the offending value, and leave no output file behind.

#include "e2e_support.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using sri_e2e::contains;

void append_u32(std::string& bytes, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) bytes += static_cast<char>((value >> (8 * i)) & 0xFFU);
}

void append_u64(std::string& bytes, std::uint64_t value) {
  for (int i = 0; i < 8; ++i) bytes += static_cast<char>((value >> (8 * i)) & 0xFFU);
}

void append_gguf_string(std::string& bytes, const std::string& text) {
  append_u64(bytes, text.size());
  bytes += text;
}

// A valid GGUF version 3 file with no tensors and one metadata entry,
// general.architecture = `architecture`.
std::string gguf_with_architecture(const std::string& architecture) {
  constexpr std::uint32_t gguf_type_string = 8;
  std::string bytes = "GGUF";
  append_u32(bytes, 3);  // version
  append_u64(bytes, 0);  // tensor count
  append_u64(bytes, 1);  // metadata entry count
  append_gguf_string(bytes, "general.architecture");
  append_u32(bytes, gguf_type_string);
  append_gguf_string(bytes, architecture);
  return bytes;
}

// The GGUF magic and version followed by counts far larger than the file could hold.
std::string gguf_with_impossible_counts() {
  std::string bytes = "GGUF";
  append_u32(bytes, 3);
  append_u64(bytes, 0x00FFFFFFFFFFFFFFULL);  // tensor count
  append_u64(bytes, 0x00FFFFFFFFFFFFFFULL);  // metadata entry count
  bytes += std::string(64, '\x5a');
  return bytes;
}

// The first `size` bytes of the real model: its header cut inside the metadata.
std::string truncated_model(std::size_t size) {
  std::ifstream stream(sri_e2e::smollm2_path(), std::ios::binary);
  std::string bytes(size, '\0');
  stream.read(bytes.data(), static_cast<std::streamsize>(size));
  REQUIRE(stream.gcount() == static_cast<std::streamsize>(size));
  return bytes;
}

struct BadCase {
  std::string name;
  std::vector<std::string> args;         // after "run --out DIR --threads 2"
  std::string id;                        // the stable error id
  std::vector<std::string> mentions;     // values the message must name
};

}  // namespace

TEST_CASE("run rejects bad input with clear errors") {
  sri_e2e::require_model_or_skip();
  sri_e2e::Session session("bad-input");
  INFO(session.commands());
  const std::string model = sri_e2e::smollm2_path().string();

  const fs::path missing = session / "missing.gguf";
  const fs::path truncated = session / "truncated.gguf";
  sri_e2e::write_file(truncated, truncated_model(4096));
  const fs::path garbage = session / "garbage.gguf";
  sri_e2e::write_file(garbage, gguf_with_impossible_counts());
  const fs::path mamba_gguf = session / "mamba.gguf";
  sri_e2e::write_file(mamba_gguf, gguf_with_architecture("mamba"));

  // A Hugging Face folder whose config names an unsupported model type. The safetensors file
  // contains no tensors, because its header is the 2-byte JSON object "{}".
  const fs::path mamba_folder = session / "mamba-hf";
  fs::create_directories(mamba_folder);
  sri_e2e::write_file(mamba_folder / "config.json",
                      R"({"model_type": "mamba", "architectures": ["MambaForCausalLM"], "hidden_size": 64})");
  std::string empty_safetensors;
  append_u64(empty_safetensors, 2);
  empty_safetensors += "{}";
  sri_e2e::write_file(mamba_folder / "model.safetensors", empty_safetensors);

  const fs::path empty_text = session / "empty.txt";
  sri_e2e::write_file(empty_text, "");
  const fs::path empty_json = session / "empty.json";
  sri_e2e::write_file(empty_json, "[]");

  const std::vector<BadCase> cases{
      {"missing model", {"--model", missing.string()}, "sri.cli.file_not_found", {missing.string()}},
      // The first 4 KiB of the model keep its tensor count (272), which cannot fit in the bytes left.
      {"truncated GGUF", {"--model", truncated.string()}, "sri.gguf.invalid_header", {"272", truncated.string()}},
      {"GGUF with impossible counts",
       {"--model", garbage.string()},
       "sri.gguf.invalid_header",
       {"72057594037927935", garbage.string()}},
      {"unknown architecture in GGUF",
       {"--model", mamba_gguf.string()},
       "sri.checkpoint.unsupported_architecture",
       {"'mamba'", mamba_gguf.string()}},
      {"unknown architecture in folder",
       {"--model", mamba_folder.string()},
       "sri.checkpoint.unsupported_architecture",
       {"'mamba'"}},
      {"empty test prompt file", {"--model", model, "--prompts", empty_text.string()}, "sri.io.prompt_set_empty",
       {empty_text.string()}},
      {"empty harmless prompt file",
       {"--model", model, "--harmless", empty_json.string()},
       "sri.io.prompt_set_empty",
       {empty_json.string()}},
      {"gen-length not divisible by block-length",
       {"--model", model, "--gen-length", "100", "--block-length", "30"},
       "sri.cli.invalid_value",
       {"--gen-length 100", "--block-length 30"}},
      {"steps not divisible by blocks",
       {"--model", model, "--steps", "5", "--block-length", "32"},
       "sri.cli.invalid_value",
       {"--steps 5", "blocks 4"}},
      {"unknown metric", {"--model", model, "--metric", "hamming"}, "sri.cli.invalid_value", {"'hamming'"}},
  };

  for (std::size_t i = 0; i < cases.size(); ++i) {
    const BadCase& bad = cases[i];
    CAPTURE(bad.name);
    const fs::path out = session / ("out-" + std::to_string(i));
    std::vector<std::string> args{"run", "--out", out.string(), "--threads", "2"};
    args.insert(args.end(), bad.args.begin(), bad.args.end());
    const sri_e2e::RunResult result = session.run(args);
    INFO("stderr: ", result.err);
    CHECK(result.exit_code == 1);
    CHECK(contains(result.err, "sri: error: [" + bad.id + "]"));
    for (const std::string& value : bad.mentions) {
      INFO("expected in the message: ", value);
      CHECK(contains(result.err, value));
    }
    CHECK(sri_e2e::files_under(out).empty());
  }
}

TEST_CASE("run rejects output folder under file") {
  sri_e2e::require_model_or_skip();
  sri_e2e::Session session("bad-output");
  INFO(session.commands());

  // The output folder would have to be created under a regular file. The tests often run as
  // root, which can write into any folder, so permissions alone would not make it unwritable.
  const fs::path blocker = session / "blocker";
  sri_e2e::write_file(blocker, "a file, not a folder\n");
  const fs::path under_file = blocker / "out";

  const sri_e2e::RunResult result = session.run(
      {"run", "--model", sri_e2e::smollm2_path().string(), "--threads", "2", "--out", under_file.string()});
  INFO("stderr: ", result.err);
  CHECK(result.exit_code == 1);
  CHECK(contains(result.err, "sri: error: [sri.cli.output_not_writable]"));
  CHECK(contains(result.err, under_file.string()));
  CHECK(sri_e2e::read_file(blocker) == "a file, not a folder\n");
}
