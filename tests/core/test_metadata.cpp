#include <sri/core/metadata.hpp>

#include <doctest/doctest.h>

#include <string>

namespace {

sri::CentersMetadata built_centers() {
  sri::CentersMetadata metadata;
  metadata.model_identity = "sha256:abc";
  metadata.pooling = "reference_running_mean";
  metadata.hidden_size = 576;
  return metadata;
}

sri::CentersRequest matching_request() {
  sri::CentersRequest request;
  request.model_identity = "sha256:abc";
  request.pooling = "reference_running_mean";
  request.hidden_size = 576;
  return request;
}

std::string mismatch_message(const sri::CentersMetadata& centers, const sri::CentersRequest& request) {
  try {
    sri::check_compatible(centers, request);
  } catch (const sri::Error& error) {
    CHECK(error.id() == "sri.centers.mismatch");
    CHECK(std::string(error.what()) == "[" + error.id() + "] " + error.message());
    return error.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("matching centers pass the check") {
  CHECK_NOTHROW(sri::check_compatible(built_centers(), matching_request()));
  sri::CentersRequest request = matching_request();
  request.profile.sig_t = 0.3;  // a scoring parameter, free to differ
  request.profile.eps = 1e-6;
  request.model_identity.clear();  // unknown identity skips the comparison
  CHECK_NOTHROW(sri::check_compatible(built_centers(), request));
}

TEST_CASE("mismatches name both values") {
  sri::CentersRequest request = matching_request();
  request.hidden_size = 4096;
  CHECK(mismatch_message(built_centers(), request) ==
        "[sri.centers.mismatch] the centers were built with hidden size = 576 but the request uses hidden size = "
        "4096; rebuild the centers for this request or load matching ones");

  request = matching_request();
  request.hook_point = "resid_post.3";
  CHECK(mismatch_message(built_centers(), request).find("hook point = final_norm_out but the request uses hook "
                                                        "point = resid_post.3") != std::string::npos);

  request = matching_request();
  request.profile.steps = 16;
  CHECK(mismatch_message(built_centers(), request).find("steps = 32 but the request uses steps = 16") !=
        std::string::npos);

  request = matching_request();
  request.profile.remasking = "random";
  CHECK(mismatch_message(built_centers(), request).find("remasking = low_confidence") != std::string::npos);

  request = matching_request();
  request.profile.temperature = 0.7;
  CHECK(mismatch_message(built_centers(), request).find("temperature = 0 but the request uses temperature = 0.7") !=
        std::string::npos);

  request = matching_request();
  request.model_identity = "sha256:def";
  CHECK(mismatch_message(built_centers(), request).find("model identity = sha256:abc") != std::string::npos);

  request = matching_request();
  request.pooling = "all_response_positions";
  CHECK(mismatch_message(built_centers(), request).find("pooling rule = reference_running_mean") != std::string::npos);
}

TEST_CASE("prompt format compared when both set") {
  sri::CentersMetadata centers = built_centers();
  sri::CentersRequest request = matching_request();
  request.prompt_format = R"({"system_prompt":"Be brief"})";
  CHECK_NOTHROW(sri::check_compatible(centers, request));  // centers from before the field existed

  centers.prompt_format = R"({"system_prompt":"You are a helpful assistant"})";
  CHECK(mismatch_message(centers, request).find("prompt format = {\"system_prompt\":\"You are a helpful assistant\"}") !=
        std::string::npos);
  request.prompt_format = centers.prompt_format;
  CHECK_NOTHROW(sri::check_compatible(centers, request));
}

TEST_CASE("metadata records filtering and version") {
  const sri::CentersMetadata metadata = built_centers();
  CHECK(metadata.library_version == std::string(sri::version_string));
  CHECK(sri::to_string(sri::filtering_from_flags(true, true)) == "reference");
  CHECK(sri::to_string(sri::filtering_from_flags(false, true)) == "unfiltered_harmless");
  CHECK(sri::to_string(sri::filtering_from_flags(true, false)) == "unfiltered_harmful");
  CHECK(sri::to_string(sri::filtering_from_flags(false, false)) == "unfiltered_both");
  const sri::PromptSetInfo set{"advbench", "advbench.csv", 400, 380};
  CHECK(set.refusal_rate() == doctest::Approx(0.95));
}
