// The sri tool's shared behaviour, run as a child process: help on every verb, exit codes for
// invalid command lines, and the judge verb.

#include "run_sri.hpp"

#include <sri/version.hpp>

#include <doctest/doctest.h>

#include <string>

using sri_test::run_sri;
using sri_test::Scratch;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("help lists every verb") {
  Scratch scratch("help");
  const auto result = run_sri(scratch, {"--help"});
  CHECK(result.exit_code == 0);
  for (const char* verb : {"signal", "judge", "plot"}) {
    INFO("verb ", verb);
    CHECK(contains(result.out, verb));
  }
}

TEST_CASE("help on each verb") {
  Scratch scratch("verb_help");
  for (const char* verb : {"signal", "judge", "plot"}) {
    INFO("verb ", verb);
    const auto result = run_sri(scratch, {verb, "--help"});
    CHECK(result.exit_code == 0);
    CHECK(contains(result.out, std::string("Usage: sri ") + verb));
    CHECK(result.err.empty());
  }
}

TEST_CASE("version flag prints the version") {
  Scratch scratch("version");
  const auto result = run_sri(scratch, {"--version"});
  CHECK(result.exit_code == 0);
  CHECK(result.out == std::string(sri::version_string) + "\n");
}

TEST_CASE("invalid command lines exit with 2") {
  Scratch scratch("usage");
  SUBCASE("no verb") {
    const auto result = run_sri(scratch, {});
    CHECK(result.exit_code == 2);
    CHECK(result.err.rfind("sri: error: ", 0) == 0);
  }
  SUBCASE("unknown verb") {
    const auto result = run_sri(scratch, {"frobnicate"});
    CHECK(result.exit_code == 2);
    CHECK(contains(result.err, "frobnicate"));
  }
  SUBCASE("unknown flag") {
    const auto result = run_sri(scratch, {"judge", "--bogus", "-"});
    CHECK(result.exit_code == 2);
    CHECK(contains(result.err, "--bogus"));
    CHECK(contains(result.err, "sri <verb> --help"));
  }
  SUBCASE("missing positional") {
    const auto result = run_sri(scratch, {"judge"});
    CHECK(result.exit_code == 2);
    CHECK(result.err.rfind("sri: error: ", 0) == 0);
  }
  SUBCASE("flag without its value") {
    const auto result = run_sri(scratch, {"plot", "--signals"});
    CHECK(result.exit_code == 2);
  }
  SUBCASE("number flag with text") {
    const auto result = run_sri(scratch, {"signal", "--centers", "c.pt", "--activations", "a.safetensors",
                                          "--sig-t", "warm"});
    CHECK(result.exit_code == 2);
    CHECK(contains(result.err, "warm"));
  }
}

TEST_CASE("judge marks refusals per line") {
  Scratch scratch("judge_lines");
  const std::string input =
      "{\"text\": \"I cannot help with that.\"}\n"
      "\n"
      "{\"text\": \"Sure, here is a poem.\", \"id\": 7}\r\n"
      "{\"text\": \"I\u2019m sorry, but no\"}\n"
      "{\"text\": \"He said 'sorry'\"}\n"
      "{\"text\": \"\"}";
  const auto result = run_sri(scratch, {"judge", "-"}, input);
  REQUIRE(result.exit_code == 0);
  CHECK(result.out ==
        "{\"text\":\"I cannot help with that.\",\"refusal\":true}\n"
        "{\"text\":\"Sure, here is a poem.\",\"id\":7,\"refusal\":false}\n"
        "{\"text\":\"I\u2019m sorry, but no\",\"refusal\":true}\n"
        "{\"text\":\"He said 'sorry'\",\"refusal\":false}\n"
        "{\"text\":\"\",\"refusal\":false}\n");
  CHECK(result.err.empty());
}

TEST_CASE("judge reads a file and writes --out") {
  Scratch scratch("judge_file");
  std::ofstream(scratch / "in.jsonl") << "{\"text\": \"As an AI, I refuse.\"}\n{\"text\": \"Hello\"}\n";
  const auto result = run_sri(scratch, {"judge", (scratch / "in.jsonl").string(), "--out",
                                        (scratch / "out.jsonl").string()});
  REQUIRE(result.exit_code == 0);
  CHECK(result.out.empty());
  CHECK(sri_test::slurp(scratch / "out.jsonl") ==
        "{\"text\":\"As an AI, I refuse.\",\"refusal\":true}\n{\"text\":\"Hello\",\"refusal\":false}\n");
}

TEST_CASE("judge rejects malformed lines by number") {
  Scratch scratch("judge_malformed");
  const struct {
    const char* input;
    const char* expected;
  } cases[] = {
      {"{\"text\": \"ok\"}\n{bad json\n", "line 2: invalid JSON"},
      {"{\"text\": \"ok\"}\n\n{\"response\": \"x\"}\n", "line 3: expected an object with a \"text\" field"},
      {"[\"text\"]\n", "line 1: expected an object"},
      {"{\"text\": 5}\n", "line 1: \"text\" must be a string, got number"},
  };
  for (const auto& one : cases) {
    INFO("input: ", one.input);
    const auto result = run_sri(scratch, {"judge", "-", "--out", (scratch / "out.jsonl").string()}, one.input);
    CHECK(result.exit_code == 1);
    CHECK(result.err.rfind("sri: error: [sri.cli.invalid_json_line] standard input ", 0) == 0);
    CHECK(contains(result.err, one.expected));
    CHECK(result.out.empty());
    CHECK(scratch.entries().empty());  // neither the output nor a temporary file
  }
}

TEST_CASE("judge output goes nowhere on malformed input") {
  Scratch scratch("judge_stdout");
  const auto result = run_sri(scratch, {"judge", "-"}, "{\"text\": \"ok\"}\n{\"text\": 1}\n");
  CHECK(result.exit_code == 1);
  CHECK(result.out.empty());
}

TEST_CASE("judge names a missing input file") {
  Scratch scratch("judge_missing");
  const auto missing = (scratch / "absent.jsonl").string();
  const auto result = run_sri(scratch, {"judge", missing});
  CHECK(result.exit_code == 1);
  CHECK(contains(result.err, "[sri.cli.file_not_found]"));
  CHECK(contains(result.err, missing));
}

TEST_CASE("judge output folder errors") {
  Scratch scratch("judge_output");
  std::ofstream(scratch / "in.jsonl") << "{\"text\": \"Hello\"}\n";
  SUBCASE("missing folder") {
    const auto result = run_sri(scratch, {"judge", (scratch / "in.jsonl").string(), "--out",
                                          (scratch / "no" / "out.jsonl").string()});
    CHECK(result.exit_code == 1);
    CHECK(contains(result.err, "[sri.io.folder_not_found]"));
  }
  SUBCASE("folder not writable") {
    // /sys rejects new files even for root, which ignores permission bits.
    const auto result = run_sri(scratch, {"judge", (scratch / "in.jsonl").string(), "--out", "/sys/out.jsonl"});
    CHECK(result.exit_code == 1);
    CHECK(contains(result.err, "[sri.io.folder_not_writable]"));
  }
  CHECK(scratch.entries() == std::vector<std::string>{"in.jsonl"});
}
