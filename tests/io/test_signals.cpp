#include <sri/io/signals.hpp>

#include "test_helpers.hpp"

#include <limits>

using namespace sri::io::test;
using sri::io::SignalRecord;
using sri::io::SignalSet;
using sri::io::SignalsCsvLayout;

namespace {

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

SignalSet sample_set() {
  SignalSet set;
  set.metadata = {{"model", "SmolLM2-135M-Instruct.Q4_1"}, {"sig_t", 0.1}};
  SignalRecord full{.name = "prompt, \"zero\"",
                    .signal = {0.999024, 0.5, 0.1390483, 1e-7},
                    .prompt = "How do I bake bread?\nStep by step.",
                    .response = "Sure: \xC3\xA9tape 1",
                    .refusal = false,
                    .text_signal = std::vector<double>{1, 1, 1, 0},
                    .steps = 3};
  SignalRecord bare{.name = "1", .signal = {0.25, 0.75}};
  set.signals = {full, bare};
  return set;
}

void check_same_numbers(const SignalSet& read, const SignalSet& written) {
  REQUIRE(read.signals.size() == written.signals.size());
  for (std::size_t i = 0; i < read.signals.size(); ++i) {
    CAPTURE(i);
    CHECK(read.signals[i].name == written.signals[i].name);
    CHECK(read.signals[i].signal == written.signals[i].signal);  // shortest round-trip text: exact
  }
}

}  // namespace

TEST_CASE("signals JSON round trip keeps every field") {
  ScratchFolder folder;
  const SignalSet set = sample_set();
  sri::io::write_signals_json(folder / "s.json", set);
  const SignalSet read = sri::io::read_signals_json(folder / "s.json");
  check_same_numbers(read, set);
  CHECK(read.metadata == set.metadata);
  const SignalRecord& full = read.signals[0];
  CHECK(full.prompt == set.signals[0].prompt);
  CHECK(full.response == set.signals[0].response);
  CHECK(full.refusal == false);
  CHECK(full.text_signal == set.signals[0].text_signal);
  CHECK(full.steps == 3);
  const SignalRecord& bare = read.signals[1];
  CHECK_FALSE(bare.prompt.has_value());
  CHECK_FALSE(bare.refusal.has_value());
  CHECK_FALSE(bare.text_signal.has_value());
  CHECK_FALSE(bare.steps.has_value());
}

TEST_CASE("signals JSON document shape") {
  const nlohmann::json document = sri::io::signals_to_json(sample_set());
  REQUIRE(document["signals"].is_array());
  CHECK(document["signals"][1] == nlohmann::json({{"name", "1"}, {"signal", {0.25, 0.75}}}));
  CHECK(document["signals"][0]["refusal"] == false);
  CHECK(document["metadata"]["model"] == "SmolLM2-135M-Instruct.Q4_1");

  // Integer names (an index) are accepted on reading.
  const auto parsed = sri::io::signals_from_json(nlohmann::json::parse(R"({"signals": [{"name": 7, "signal": [0.5]}]})"));
  CHECK(parsed.signals[0].name == "7");
  CHECK(parsed.metadata.empty());
}

TEST_CASE("signals CSV long round trip") {
  ScratchFolder folder;
  const SignalSet set = sample_set();
  sri::io::write_signals_csv(folder / "s.csv", set);
  const std::string text = read_bytes(folder / "s.csv");
  CHECK(text.rfind("name,step,signal,text_signal\r\n\"prompt, \"\"zero\"\"\",0,0.999024,1\r\n", 0) == 0);
  CHECK(contains(text, "\r\n1,1,0.75,\r\n"));
  const SignalSet read = sri::io::read_signals_csv(folder / "s.csv");
  check_same_numbers(read, set);
  CHECK(read.signals[0].text_signal == set.signals[0].text_signal);
  CHECK_FALSE(read.signals[1].text_signal.has_value());
}

TEST_CASE("signals CSV wide round trip") {
  ScratchFolder folder;
  const SignalSet set = sample_set();
  sri::io::write_signals_csv(folder / "w.csv", set, SignalsCsvLayout::wide);
  const std::string text = read_bytes(folder / "w.csv");
  CHECK(text.rfind("name,s0,s1,s2,s3\r\n", 0) == 0);
  CHECK(contains(text, "\r\n1,0.25,0.75,,\r\n"));
  check_same_numbers(sri::io::read_signals_csv(folder / "w.csv"), set);
}

TEST_CASE("signals reject non-finite values") {
  ScratchFolder folder;
  for (const double bad : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    SignalSet set = sample_set();
    set.signals[1].signal[1] = bad;
    const std::string message =
        error_message([&] { sri::io::write_signals_json(folder / "n.json", set); }, "sri.io.signal_not_finite");
    CHECK(contains(message, "'1'"));
    CHECK(contains(message, "step 1"));
    error_message([&] { sri::io::write_signals_csv(folder / "n.csv", set); }, "sri.io.signal_not_finite");
  }
  SignalSet text_bad = sample_set();
  (*text_bad.signals[0].text_signal)[0] = std::numeric_limits<double>::quiet_NaN();
  error_message([&] { sri::io::write_signals_json(folder / "n.json", text_bad); }, "sri.io.signal_not_finite");
  CHECK(count_entries(folder.path()) == 0);
}

TEST_CASE("signals reject inconsistent records") {
  ScratchFolder folder;
  SignalSet short_text = sample_set();
  short_text.signals[0].text_signal->pop_back();
  CHECK(contains(error_message([&] { sri::io::write_signals_json(folder / "x.json", short_text); },
                               "sri.io.invalid_argument"),
                 "3 steps but its signal has 4"));
  SignalSet bad_steps = sample_set();
  bad_steps.signals[0].steps = 5;
  error_message([&] { sri::io::write_signals_json(folder / "x.json", bad_steps); }, "sri.io.invalid_argument");
  SignalSet bad_metadata = sample_set();
  bad_metadata.metadata = nlohmann::json::array();
  error_message([&] { sri::io::write_signals_json(folder / "x.json", bad_metadata); }, "sri.io.invalid_argument");
}

TEST_CASE("signals JSON reader rejects bad files") {
  ScratchFolder folder;
  const auto bad = [&](std::string_view text) {
    write_bytes(folder / "bad.json", text);
    return error_message([&] { (void)sri::io::read_signals_json(folder / "bad.json"); }, "sri.io.signals_invalid");
  };
  CHECK(contains(bad("{\n\"signals\": [\n{\"name\": \"a\",\n \"signal\": [0.1,]}]}"), "line 4"));
  CHECK(contains(bad("[1, 2]"), "\"signals\" array"));
  CHECK(contains(bad(R"({"signals": {}})"), "not an array"));
  CHECK(contains(bad(R"({"signals": [{"signal": [0.5]}]})"), "signals[0] has no \"name\""));
  CHECK(contains(bad(R"({"signals": [{"name": "a"}]})"), "no \"signal\""));
  CHECK(contains(bad(R"({"signals": [{"name": "a", "signal": [0.5, "x"]}]})"), "at step 1"));
  CHECK(contains(bad(R"({"signals": [{"name": "a", "signal": [0.5], "refusal": "no"}]})"), "refusal"));
  CHECK(contains(bad(R"({"signals": [{"name": "a", "signal": [0.5], "text_signal": [1, 0]}]})"), "signals[0]"));
  CHECK(contains(bad(R"({"signals": [{"name": 1.5, "signal": [0.5]}]})"), "name"));
  CHECK(contains(bad(R"({"metadata": [], "signals": []})"), "metadata"));
  error_message([&] { (void)sri::io::read_signals_json(folder / "absent.json"); }, "sri.io.file_not_found");
}

TEST_CASE("signals CSV reader rejects bad files") {
  ScratchFolder folder;
  const auto bad = [&](std::string_view text) {
    write_bytes(folder / "bad.csv", text);
    return error_message([&] { (void)sri::io::read_signals_csv(folder / "bad.csv"); }, "sri.io.signals_invalid");
  };
  CHECK(contains(bad(""), "empty"));
  CHECK(contains(bad("id,value\n"), "header must start"));
  CHECK(contains(bad("name,step,signal\na,0,0.5\na,2,0.5\n"), "line 3"));
  CHECK(contains(bad("name,step,signal\na,0,abc\n"), "'abc' is not a number"));
  CHECK(contains(bad("name,step,signal\na,0,0.5,1\n"), "line 2 has 4 fields"));
  CHECK(contains(bad("name,step,signal\na,0,nan\n"), "finite"));
  CHECK(contains(bad("name,s0,s2\na,0.1,0.2\n"), "expected 's1'"));
  CHECK(contains(bad("name,s0,s1\na,,0.2\n"), "empty cell"));
  CHECK(contains(bad("name,step,signal,text_signal\na,0,0.5,\na,1,0.5,1\n"), "only from step 1"));
  CHECK(contains(bad("name,step,signal,text_signal\na,0,0.5,1\na,1,0.5,\n"), "empty text_signal"));
}
