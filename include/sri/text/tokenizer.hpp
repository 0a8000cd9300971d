#pragma once

// sri::text::Tokenizer: byte-level BPE tokenization with Hugging Face `tokenizers` semantics,
// built from a tokenizer.json file or from the `tokenizer.ggml.*` metadata of a GGUF file.
//
// Pipeline of encode(): added tokens are split out of the raw text, the remaining stretches are
// normalized (NFC for Qwen2, nothing for the others) and go through the pre-tokenizer (regular-expression splits) and the BPE model, and with
// add_special_tokens the post-processor's prefix (for example Llama 3's <|begin_of_text|>) and
// suffix ids are added. Supported families: GPT-2 style (SmolLM2), Llama 3.x and Qwen2/2.5.
// SentencePiece vocabularies (GGUF `tokenizer.ggml.model = "llama"`, Gemma) are not supported.

#include <sri/error.hpp>
#include <sri/text/bpe.hpp>
#include <sri/text/detail/added_tokens.hpp>
#include <sri/text/detail/nfc.hpp>
#include <sri/text/detail/utf8.hpp>
#include <sri/text/pre_tokenizer.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <concepts>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sri::text {

// A reader of typed GGUF metadata, such as sri::io::GgufFile.
template <class T>
concept GgufMetadata = requires(const T& file, std::string_view key) {
  // Optional keys (add_bos_token, token_type, ...) are looked up before they are read.
  { file.contains(key) } -> std::convertible_to<bool>;
  { file.get_string(key) } -> std::convertible_to<std::string>;
  { file.get_int(key) } -> std::convertible_to<int64_t>;
  { file.get_bool(key) } -> std::convertible_to<bool>;
  // The vocabulary, the merges and the token types are arrays.
  { file.get_string_array(key) } -> std::convertible_to<std::vector<std::string>>;
  { file.get_int_array(key) } -> std::convertible_to<std::vector<int64_t>>;
};

// A model source that offers a Hugging Face folder or a GGUF file, such as sri::io::Checkpoint.
template <class T>
concept TokenizerSource = requires(const T& checkpoint) {
  // A folder may hold tokenizer.json and tokenizer_config.json.
  { checkpoint.folder() } -> std::convertible_to<std::optional<std::filesystem::path>>;
  // A GGUF file carries the vocabulary in its metadata. The pointer is null for a folder.
  { checkpoint.gguf() };
  { checkpoint.path() } -> std::convertible_to<std::filesystem::path>;
};

// GGUF `tokenizer.ggml.token_type` values (gguf-py constants.py TokenType).
enum class GgufTokenType : int64_t { normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6 };

namespace detail {

inline std::string read_text_file(const std::filesystem::path& path, std::string_view description) {
  std::ifstream stream(path, std::ios::binary);
  if (!stream) {
    raise("sri.text.file_not_found",
          fmt::format("cannot open {} '{}'; check that the path exists and is readable", description, path.string()));
  }
  std::ostringstream buffer;
  buffer << stream.rdbuf();
  return buffer.str();
}

inline nlohmann::json parse_json(std::string_view text, std::string_view source) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& error) {
    raise("sri.text.invalid_tokenizer",
          fmt::format("{} is not valid JSON ({}); replace it with the file from the model repository", source,
                      error.what()));
  }
}

// Returns the text of a tokenizer_config.json token entry, which is a string or {"content": ...}.
inline std::optional<std::string> config_token_text(const nlohmann::json& config, std::string_view key) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content")) return it->at("content").get<std::string>();
  return std::nullopt;
}

}  // namespace detail

class Tokenizer {
 public:
  // Reads a tokenizer.json file. A tokenizer_config.json next to it, when present, supplies the
  // BOS and EOS tokens (tokenizer.json itself does not name them).
  static Tokenizer from_tokenizer_json(const std::filesystem::path& path) {
    const std::string text = detail::read_text_file(path, "tokenizer file");
    nlohmann::json config = nlohmann::json::object();
    const auto config_path = path.parent_path() / "tokenizer_config.json";
    if (std::filesystem::exists(config_path)) {
      config = detail::parse_json(detail::read_text_file(config_path, "tokenizer config"), config_path.string());
    }
    return from_tokenizer_json_text(text, config, path.string());
  }

  // Builds the tokenizer from tokenizer.json text. `config` is tokenizer_config.json and may be empty.
  static Tokenizer from_tokenizer_json_text(std::string_view json_text, const nlohmann::json& config = {},
                                            std::string_view source = "tokenizer.json") {
    const nlohmann::json root = detail::parse_json(json_text, source);
    auto impl = std::make_shared<Impl>();
    impl->source = source;

    parse_normalizer(root.value("normalizer", nlohmann::json()), *impl);
    impl->pre_tokenizer = PreTokenizer::from_json(root.value("pre_tokenizer", nlohmann::json()));
    if (!impl->pre_tokenizer.is_byte_level()) {
      raise("sri.text.unsupported_tokenizer",
            fmt::format("{} has no ByteLevel pre-tokenizer; sri implements byte-level BPE only (Llama 3, Qwen2, "
                        "SmolLM2 families)",
                        source));
    }
    const auto decoder = root.value("decoder", nlohmann::json());
    if (!decoder.is_object() || decoder.value("type", "") != "ByteLevel") {
      raise("sri.text.unsupported_tokenizer",
            fmt::format("{} decoder is {}; sri implements the ByteLevel decoder only", source,
                        decoder.dump().substr(0, 200)));
    }

    const nlohmann::json& model = root.at("model");
    check_bpe_model(model, source);
    detail::TokenIdMap vocab;
    for (const auto& [token, id] : model.at("vocab").items()) vocab.emplace(token, id.get<int32_t>());
    std::vector<std::pair<std::string, std::string>> merges;
    merges.reserve(model.at("merges").size());
    for (const auto& merge : model.at("merges")) {
      if (merge.is_array() && merge.size() == 2) {
        merges.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
      } else {
        merges.push_back(split_merge(merge.get<std::string>(), merges.size()));
      }
    }
    BpeModel::Options options;
    options.ignore_merges = model.value("ignore_merges", false);
    options.fuse_unk = model.value("fuse_unk", false);
    if (model.contains("unk_token") && model.at("unk_token").is_string()) {
      options.unk_token = model.at("unk_token").get<std::string>();
    }
    impl->model = std::make_unique<BpeModel>(std::move(vocab), merges, std::move(options));

    for (const auto& entry : root.value("added_tokens", nlohmann::json::array())) {
      AddedToken token;
      token.id = entry.at("id").get<int64_t>();
      token.content = entry.at("content").get<std::string>();
      token.special = entry.value("special", false);
      token.single_word = entry.value("single_word", false);
      token.lstrip = entry.value("lstrip", false);
      token.rstrip = entry.value("rstrip", false);
      token.normalized = entry.value("normalized", !token.special);
      impl->added.push_back(std::move(token));
    }
    parse_post_processor(root.value("post_processor", nlohmann::json()), *impl, source);
    impl->finish();

    if (const auto bos = detail::config_token_text(config, "bos_token")) impl->bos = impl->lookup(*bos);
    if (!impl->bos && !impl->prefix.empty()) impl->bos = impl->prefix.front();
    if (const auto eos = detail::config_token_text(config, "eos_token")) impl->eos = impl->lookup(*eos);
    return Tokenizer(std::move(impl));
  }

  // Builds the tokenizer from GGUF `tokenizer.ggml.*` metadata (model "gpt2", i.e. byte-level BPE).
  template <GgufMetadata Gguf>
  static Tokenizer from_gguf(const Gguf& gguf) {
    const std::string model_name = gguf.get_string("tokenizer.ggml.model");
    if (model_name != "gpt2") {
      raise("sri.text.unsupported_tokenizer",
            fmt::format("GGUF tokenizer.ggml.model is '{}', expected 'gpt2' (byte-level BPE) for Tokenizer; load "
                        "SentencePiece ('llama') vocabularies such as Gemma's with sri::text::SentencePieceBpe",
                        model_name));
    }
    if (!gguf.contains("tokenizer.ggml.pre")) {
      raise("sri.text.unsupported_pre_tokenizer",
            "GGUF file has no tokenizer.ggml.pre key, so its pre-tokenizer is unknown; reconvert the model with a "
            "current llama.cpp converter, which writes it");
    }
    const std::string pre_name = gguf.get_string("tokenizer.ggml.pre");
    auto impl = std::make_shared<Impl>();
    impl->source = "GGUF metadata";
    impl->pre_tokenizer = PreTokenizer::from_gguf_name(pre_name);
    const bool llama3 = pre_name == "llama-bpe" || pre_name == "llama3" || pre_name == "llama-v3";
    impl->applies_nfc = pre_name == "qwen2" || pre_name == "deepseek-r1-qwen";

    const std::vector<std::string> tokens = gguf.get_string_array("tokenizer.ggml.tokens");
    std::vector<int64_t> types;
    if (gguf.contains("tokenizer.ggml.token_type")) types = gguf.get_int_array("tokenizer.ggml.token_type");
    if (!types.empty() && types.size() != tokens.size()) {
      raise("sri.text.invalid_tokenizer",
            fmt::format("GGUF tokenizer.ggml.token_type has {} entries but tokenizer.ggml.tokens has {}; the file "
                        "is corrupt",
                        types.size(), tokens.size()));
    }
    detail::TokenIdMap vocab;
    for (std::size_t id = 0; id < tokens.size(); ++id) {
      const auto type = types.empty() ? GgufTokenType::normal : static_cast<GgufTokenType>(types[id]);
      if (type == GgufTokenType::unused) continue;  // "[PAD123]" fillers up to the model's vocab size
      vocab.emplace(tokens[id], static_cast<int32_t>(id));
      if (type == GgufTokenType::control || type == GgufTokenType::unknown || type == GgufTokenType::user_defined) {
        AddedToken token;
        token.id = static_cast<int64_t>(id);
        token.content = tokens[id];
        token.special = type != GgufTokenType::user_defined;
        impl->added.push_back(std::move(token));
      }
    }
    std::vector<std::pair<std::string, std::string>> merges;
    const std::vector<std::string> merge_lines = gguf.get_string_array("tokenizer.ggml.merges");
    merges.reserve(merge_lines.size());
    for (const std::string& line : merge_lines) merges.push_back(split_merge(line, merges.size()));
    BpeModel::Options options;
    options.ignore_merges = llama3;
    impl->model = std::make_unique<BpeModel>(std::move(vocab), merges, std::move(options));
    impl->explicit_vocab_size = static_cast<int64_t>(tokens.size());

    if (gguf.contains("tokenizer.ggml.bos_token_id")) impl->bos = gguf.get_int("tokenizer.ggml.bos_token_id");
    if (gguf.contains("tokenizer.ggml.eos_token_id")) impl->eos = gguf.get_int("tokenizer.ggml.eos_token_id");
    // Without the key, BOS is added for llama-bpe only, as Llama 3's tokenizer.json prepends
    // <|begin_of_text|> and the SmolLM2 and Qwen2 ones add nothing.
    const bool add_bos = gguf.contains("tokenizer.ggml.add_bos_token") ? gguf.get_bool("tokenizer.ggml.add_bos_token")
                                                                        : llama3;
    const bool add_eos = gguf.contains("tokenizer.ggml.add_eos_token") && gguf.get_bool("tokenizer.ggml.add_eos_token");
    if (add_bos && impl->bos) impl->prefix.push_back(*impl->bos);
    if (add_eos && impl->eos) impl->suffix.push_back(*impl->eos);
    impl->finish();
    return Tokenizer(std::move(impl));
  }

  // Builds the tokenizer of a checkpoint: the folder's tokenizer.json when there is one,
  // otherwise the GGUF metadata.
  template <TokenizerSource Checkpoint>
  static Tokenizer from_checkpoint(const Checkpoint& checkpoint) {
    if (const auto folder = checkpoint.folder()) {
      const auto json_path = *folder / "tokenizer.json";
      if (std::filesystem::exists(json_path)) return from_tokenizer_json(json_path);
    }
    if (const auto* gguf = checkpoint.gguf()) return from_gguf(*gguf);
    raise("sri.text.tokenizer_not_found",
          fmt::format("checkpoint '{}' has neither a tokenizer.json nor GGUF tokenizer metadata; copy the model's "
                      "tokenizer.json into its folder",
                      std::filesystem::path(checkpoint.path()).string()));
  }

  // Returns the token ids of `text` (UTF-8). With add_special_tokens the post-processor's ids
  // are added around them: BOS first for Llama 3, nothing for SmolLM2 and Qwen2.
  [[nodiscard]] std::vector<int64_t> encode(std::string_view text, bool add_special_tokens = false) const {
    detail::require_valid_utf8(text, "text to encode");
    std::vector<detail::Segment> raw_segments;
    impl_->raw_matcher.split(text, raw_segments);
    std::vector<detail::Segment> segments;
    segments.reserve(raw_segments.size());
    std::deque<std::string> normalized_text;
    for (const detail::Segment& segment : raw_segments) {
      if (segment.id) {
        segments.push_back(segment);
      } else if (impl_->applies_nfc) {
        normalized_text.push_back(detail::normalize_nfc(segment.text));
        impl_->normalized_matcher.split(normalized_text.back(), segments);
      } else {
        impl_->normalized_matcher.split(segment.text, segments);
      }
    }

    std::vector<int64_t> ids;
    ids.reserve(text.size() / 3 + 4);
    if (add_special_tokens) ids.insert(ids.end(), impl_->prefix.begin(), impl_->prefix.end());
    std::vector<std::string_view> pieces;
    std::deque<std::string> storage;
    for (const detail::Segment& segment : segments) {
      if (segment.id) {
        ids.push_back(*segment.id);
        continue;
      }
      impl_->pre_tokenizer.split(segment.text, pieces, storage);
      for (const std::string_view piece : pieces) impl_->model->encode_piece(piece, ids);
    }
    if (add_special_tokens) ids.insert(ids.end(), impl_->suffix.begin(), impl_->suffix.end());
    return ids;
  }

  // Returns the text of `ids`. Ids outside the vocabulary are skipped, as tokenizers does;
  // bytes that do not form valid UTF-8 become U+FFFD.
  [[nodiscard]] std::string decode(std::span<const int64_t> ids, bool skip_special_tokens = true) const {
    std::string bytes;
    for (const int64_t id : ids) {
      if (id < 0 || id >= static_cast<int64_t>(impl_->id_to_token.size())) continue;
      const auto index = static_cast<std::size_t>(id);
      if (!impl_->known[index]) continue;
      if (skip_special_tokens && impl_->special[index]) continue;
      const std::string& token = impl_->id_to_token[index];
      if (!append_byte_level_decoded(bytes, token)) bytes += token;
    }
    return detail::utf8_lossy(bytes);
  }

  [[nodiscard]] std::optional<int64_t> bos_id() const noexcept { return impl_->bos; }
  [[nodiscard]] std::optional<int64_t> eos_id() const noexcept { return impl_->eos; }
  // Number of ids, added tokens included (one more than the largest id).
  [[nodiscard]] int64_t vocab_size() const noexcept { return static_cast<int64_t>(impl_->id_to_token.size()); }
  // Returns the id of a token given in its vocabulary spelling ("Ġthe", "<|im_start|>").
  [[nodiscard]] std::optional<int64_t> token_id(std::string_view token) const { return impl_->lookup(token); }
  // Returns the vocabulary spelling of `id`, or nullopt for an unknown id.
  [[nodiscard]] std::optional<std::string_view> token_text(int64_t id) const {
    if (id < 0 || id >= vocab_size() || !impl_->known[static_cast<std::size_t>(id)]) return std::nullopt;
    return impl_->id_to_token[static_cast<std::size_t>(id)];
  }
  [[nodiscard]] bool is_special(int64_t id) const noexcept {
    return id >= 0 && id < vocab_size() && impl_->special[static_cast<std::size_t>(id)];
  }
  // Ids that encode(text, true) puts before and after the text.
  [[nodiscard]] const std::vector<int64_t>& prefix_ids() const noexcept { return impl_->prefix; }
  [[nodiscard]] const std::vector<int64_t>& suffix_ids() const noexcept { return impl_->suffix; }
  [[nodiscard]] const std::vector<AddedToken>& added_tokens() const noexcept { return impl_->added_list; }

 private:
  struct Impl {
    std::string source;
    std::unique_ptr<BpeModel> model;
    PreTokenizer pre_tokenizer;
    bool applies_nfc = false;
    std::deque<AddedToken> added;       // stable addresses for the matchers
    std::deque<AddedToken> normalized_spellings;  // NFC spellings of normalized added tokens
    std::vector<AddedToken> added_list;
    detail::AddedTokenMatcher raw_matcher;
    detail::AddedTokenMatcher normalized_matcher;
    detail::TokenIdMap added_ids;
    std::vector<std::string> id_to_token;
    std::vector<bool> known;
    std::vector<bool> special;
    std::vector<int64_t> prefix;
    std::vector<int64_t> suffix;
    std::optional<int64_t> bos;
    std::optional<int64_t> eos;
    int64_t explicit_vocab_size = 0;

    [[nodiscard]] std::optional<int64_t> lookup(std::string_view token) const {
      if (const auto it = added_ids.find(token); it != added_ids.end()) return it->second;
      if (const auto it = model->vocab().find(token); it != model->vocab().end()) return it->second;
      return std::nullopt;
    }

    // Builds the id table and the added-token matchers once the vocabulary is complete.
    void finish() {
      int64_t size = explicit_vocab_size;
      for (const auto& [token, id] : model->vocab()) size = std::max<int64_t>(size, int64_t{id} + 1);
      for (const AddedToken& token : added) size = std::max<int64_t>(size, token.id + 1);
      id_to_token.assign(static_cast<std::size_t>(size), std::string());
      known.assign(static_cast<std::size_t>(size), false);
      special.assign(static_cast<std::size_t>(size), false);

      for (const auto& [token, id] : model->vocab()) {
        id_to_token[static_cast<std::size_t>(id)] = token;
        known[static_cast<std::size_t>(id)] = true;
      }

      std::vector<const AddedToken*> raw_tokens;
      std::vector<const AddedToken*> normalized_tokens;
      for (const AddedToken& token : added) {
        if (token.id < 0) {
          raise("sri.text.invalid_tokenizer",
                fmt::format("{}: added token '{}' has negative id {}", source, token.content, token.id));
        }
        const auto index = static_cast<std::size_t>(token.id);
        id_to_token[index] = token.content;
        known[index] = true;
        special[index] = token.special;
        added_ids.insert_or_assign(token.content, static_cast<int32_t>(token.id));
        added_list.push_back(token);

        if (token.content.empty()) continue;
        if (!token.normalized) {
          raw_tokens.push_back(&token);
        } else if (applies_nfc) {
          // Normalized tokens are searched in normalized text, so their spelling is normalized too.
          AddedToken normalized_copy = token;
          normalized_copy.content = detail::normalize_nfc(token.content);
          normalized_spellings.push_back(std::move(normalized_copy));
          normalized_tokens.push_back(&normalized_spellings.back());
        } else {
          normalized_tokens.push_back(&token);
        }
      }

      raw_matcher = detail::AddedTokenMatcher(std::move(raw_tokens));
      normalized_matcher = detail::AddedTokenMatcher(std::move(normalized_tokens));
    }
  };

  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

  // Splits a "left right" merge line at its first space after position 0.
  static std::pair<std::string, std::string> split_merge(const std::string& line, std::size_t rank) {
    const std::size_t space = line.find(' ', 1);
    if (space == std::string::npos || space + 1 >= line.size()) {
      raise("sri.text.invalid_tokenizer",
            fmt::format("BPE merge #{} is '{}', expected two tokens separated by one space", rank, line));
    }
    return {line.substr(0, space), line.substr(space + 1)};
  }

  static void check_bpe_model(const nlohmann::json& model, std::string_view source) {
    const auto reject = [&](std::string_view why) {
      raise("sri.text.unsupported_tokenizer", fmt::format("{} model is not supported: {}", source, why));
    };
    if (model.value("type", "") != "BPE") reject(fmt::format("type '{}' is not BPE", model.value("type", "")));
    if (model.value("byte_fallback", false)) reject("byte_fallback (SentencePiece-style BPE) is not implemented");
    const auto dropout = model.value("dropout", nlohmann::json());
    if (dropout.is_number() && dropout.get<double>() > 0.0) reject("BPE dropout makes tokenization random");
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      const auto value = model.value(key, nlohmann::json());
      if (value.is_string() && !value.get<std::string>().empty()) {
        reject(fmt::format("{} '{}' is not implemented", key, value.get<std::string>()));
      }
    }
  }

  static void parse_normalizer(const nlohmann::json& node, Impl& impl) {
    if (node.is_null()) return;
    const std::string type = node.value("type", "");
    if (type == "Sequence") {
      for (const auto& child : node.at("normalizers")) parse_normalizer(child, impl);
    } else if (type == "NFC") {
      impl.applies_nfc = true;
    } else {
      raise("sri.text.unsupported_tokenizer",
            fmt::format("{} normalizer '{}' is not implemented; supported are none and NFC", impl.source, type));
    }
  }

  static void parse_post_processor(const nlohmann::json& node, Impl& impl, std::string_view source) {
    if (node.is_null()) return;
    const std::string type = node.value("type", "");
    if (type == "Sequence") {
      for (const auto& child : node.at("processors")) parse_post_processor(child, impl, source);
    } else if (type == "ByteLevel") {
      return;  // changes offsets only, never ids
    } else if (type == "TemplateProcessing") {
      bool after_sequence = false;
      for (const auto& item : node.at("single")) {
        if (item.contains("Sequence")) {
          after_sequence = true;
          continue;
        }
        const std::string name = item.at("SpecialToken").at("id").get<std::string>();
        const auto& special = node.at("special_tokens").at(name);
        for (const auto& id : special.at("ids")) {
          (after_sequence ? impl.suffix : impl.prefix).push_back(id.get<int64_t>());
        }
      }
    } else {
      raise("sri.text.unsupported_tokenizer",
            fmt::format("{} post_processor '{}' is not implemented; supported are TemplateProcessing, ByteLevel "
                        "and Sequence",
                        source, type));
    }
  }

  std::shared_ptr<const Impl> impl_;
};

}  // namespace sri::text
