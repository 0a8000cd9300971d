#pragma once

// sri::text::SentencePieceBpe: the SentencePiece-style BPE tokenizer of the Gemma family, with
// Hugging Face `tokenizers` semantics, built from a tokenizer.json file or from GGUF metadata
// (`tokenizer.ggml.model = "llama"`).
//
// Pipeline of encode():
//   1. Added tokens (<bos>, <start_of_turn>, "\n", "\n\n", <table>, ...) are split out of the raw
//      text, leftmost-longest.
//   2. Each stretch between them is normalized: every space U+0020 becomes U+2581 ("▁"). Gemma
//      adds no prefix space (GGUF `tokenizer.ggml.add_space_prefix = false`).
//   3. BPE over the code points of the whole stretch: the adjacent pair with the lowest merge rank
//      is merged first, ties going to the leftmost pair.
//   4. A piece that is not in the vocabulary falls back to its UTF-8 bytes as <0xXX> tokens.
//
// Merge ranks. tokenizer.json lists the merges. A GGUF file lists none, so they are implied by the
// vocabulary the way transformers 5 rebuilds them for Gemma GGUFs
// (integrations/gguf/gguf_tokenizer_mapping.py, gemma_tokenizer): every split (left, right) of a
// token into two vocabulary pieces is a merge, ordered by the merged token's id and then by the
// longer left piece first. Gemma's scores are not used because they do not follow its merge order.
// GGUF stores the whitespace-run tokens of Gemma as real spaces ("  "); they are respelled with
// U+2581 first, like transformers does, so that normalized text can reach them.

#include <sri/error.hpp>
#include <sri/text/detail/added_tokens.hpp>
#include <sri/text/detail/utf8.hpp>
#include <sri/text/tokenizer.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <queue>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sri::text {

namespace detail::spm {

inline constexpr std::string_view word_boundary = "\xE2\x96\x81";  // U+2581, SentencePiece's space

// Replaces every U+0020 space with U+2581.
inline std::string replace_spaces(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 2);
  for (const char c : text) {
    if (c == ' ') {
      out.append(word_boundary);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Whether `token` consists of Python whitespace only and contains at least one space: the GGUF
// spelling of Gemma's whitespace-run tokens, which transformers respells as U+2581 per character.
inline bool is_space_run_spelling(std::string_view token) {
  return token.find(' ') != std::string_view::npos && python_strip(token).empty();
}

inline std::size_t count_code_points(std::string_view text) {
  std::size_t count = 0;
  for (std::size_t pos = 0; pos < text.size(); pos += next_utf8(text, pos).length) ++count;
  return count;
}

// Parses "<0xAB>" into the byte 0xAB.
inline std::optional<unsigned char> byte_token_value(std::string_view token) {
  if (token.size() != 6 || token.substr(0, 3) != "<0x" || token[5] != '>') return std::nullopt;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int high = hex(token[3]);
  const int low = hex(token[4]);
  if (high < 0 || low < 0) return std::nullopt;
  return static_cast<unsigned char>(high * 16 + low);
}

}  // namespace detail::spm

class SentencePieceBpe {
 public:
  // Reads a tokenizer.json whose model is BPE with byte fallback (Gemma 2 and Gemma 3). A
  // tokenizer_config.json next to it, when present, names the BOS and EOS tokens.
  static SentencePieceBpe from_tokenizer_json(const std::filesystem::path& path) {
    const std::string text = detail::read_text_file(path, "tokenizer.json");
    const nlohmann::json root = detail::parse_json(text, path.string());
    nlohmann::json config;
    const auto config_path = path.parent_path() / "tokenizer_config.json";
    if (std::filesystem::exists(config_path)) {
      config = detail::parse_json(detail::read_text_file(config_path, "tokenizer_config.json"), config_path.string());
    }
    return from_tokenizer_json_value(root, config, path.string());
  }

  static SentencePieceBpe from_tokenizer_json_value(const nlohmann::json& root, const nlohmann::json& config,
                                                    std::string_view source) {
    const nlohmann::json& model = root.at("model");
    if (model.value("type", std::string()) != "BPE" || !model.value("byte_fallback", false)) {
      raise("sri.text.unsupported_tokenizer",
            fmt::format("{} has model type '{}' with byte_fallback {}; SentencePieceBpe reads BPE models with "
                        "byte fallback (Gemma); load other tokenizers with sri::text::Tokenizer",
                        source, model.value("type", std::string("none")), model.value("byte_fallback", false)));
    }
    check_normalizer(root.value("normalizer", nlohmann::json()), source);

    auto impl = std::make_shared<Impl>();
    impl->source = std::string(source);
    const nlohmann::json& vocab = model.at("vocab");
    int64_t size = 0;
    for (const auto& [token, id] : vocab.items()) size = std::max<int64_t>(size, id.get<int64_t>() + 1);
    for (const auto& added : root.value("added_tokens", nlohmann::json::array())) {
      size = std::max<int64_t>(size, added.at("id").get<int64_t>() + 1);
    }
    impl->tokens.assign(static_cast<std::size_t>(size), std::string());
    for (const auto& [token, id] : vocab.items()) {
      impl->tokens[static_cast<std::size_t>(id.get<int64_t>())] = token;
      impl->ids.insert_or_assign(token, id.get<int64_t>());
    }
    for (const auto& entry : root.value("added_tokens", nlohmann::json::array())) {
      AddedToken token;
      token.id = entry.at("id").get<int64_t>();
      token.content = entry.at("content").get<std::string>();
      token.special = entry.value("special", false);
      token.single_word = entry.value("single_word", false);
      token.lstrip = entry.value("lstrip", false);
      token.rstrip = entry.value("rstrip", false);
      token.normalized = entry.value("normalized", false);
      if (token.normalized) {
        // NOTE: Gemma's added tokens are all matched in raw text; a normalized one would need the
        // second search pass of tokenizers, which this class does not implement.
        raise("sri.text.unsupported_tokenizer",
              fmt::format("{}: added token '{}' has normalized = true, which SentencePieceBpe does not support",
                          source, token.content));
      }
      impl->tokens[static_cast<std::size_t>(token.id)] = token.content;
      impl->ids.insert_or_assign(token.content, token.id);
      impl->added.push_back(std::move(token));
    }

    const nlohmann::json& merges = model.at("merges");
    impl->merge_ranks.reserve(merges.size());
    int64_t rank = 0;
    for (const auto& merge : merges) {
      std::string left, right;
      if (merge.is_array()) {
        left = merge.at(0).get<std::string>();
        right = merge.at(1).get<std::string>();
      } else {
        const std::string line = merge.get<std::string>();
        const auto space = line.find(' ', 1);
        if (space == std::string::npos) {
          raise("sri.text.invalid_tokenizer",
                fmt::format("{}: merge {} ('{}') has no space between its two pieces", source, rank, line));
        }
        left = line.substr(0, space);
        right = line.substr(space + 1);
      }
      const auto left_id = impl->find(left);
      const auto right_id = impl->find(right);
      if (left_id && right_id) impl->merge_ranks.emplace(pair_key(*left_id, *right_id), rank);
      ++rank;
    }

    const auto read_special = [&](std::string_view key) -> std::optional<int64_t> {
      if (const auto text = detail::config_token_text(config, key)) return impl->find(*text);
      return std::nullopt;
    };
    impl->bos = read_special("bos_token");
    impl->eos = read_special("eos_token");
    impl->unknown = impl->find(model.value("unk_token", std::string("<unk>")));
    read_post_processor(root.value("post_processor", nlohmann::json()), *impl);
    if (!impl->bos && !impl->prefix.empty()) impl->bos = impl->prefix.front();
    impl->finish();
    return SentencePieceBpe(std::move(impl));
  }

  // Builds the tokenizer from GGUF `tokenizer.ggml.*` metadata with model "llama" (SentencePiece).
  template <GgufMetadata Gguf>
  static SentencePieceBpe from_gguf(const Gguf& gguf) {
    const std::string model_name = gguf.get_string("tokenizer.ggml.model");
    if (model_name != "llama") {
      raise("sri.text.unsupported_tokenizer",
            fmt::format("GGUF tokenizer.ggml.model is '{}', expected 'llama' (SentencePiece) for SentencePieceBpe; "
                        "load byte-level BPE ('gpt2') vocabularies with sri::text::Tokenizer",
                        model_name));
    }
    if (gguf.contains("tokenizer.ggml.add_space_prefix") && gguf.get_bool("tokenizer.ggml.add_space_prefix")) {
      // NOTE: Llama 2 style vocabularies prepend "▁" to the text; Gemma does not, and only
      // Gemma is checked against Hugging Face here.
      raise("sri.text.unsupported_tokenizer",
            "GGUF tokenizer sets add_space_prefix = true (a Llama 2 style SentencePiece vocabulary); "
            "SentencePieceBpe supports Gemma vocabularies, which set it to false");
    }
    const std::vector<std::string> tokens = gguf.get_string_array("tokenizer.ggml.tokens");
    const std::vector<int64_t> types = gguf.get_int_array("tokenizer.ggml.token_type");
    if (types.size() != tokens.size()) {
      raise("sri.text.invalid_tokenizer",
            fmt::format("GGUF tokenizer.ggml.token_type has {} entries but tokenizer.ggml.tokens has {}; the file "
                        "is corrupt",
                        types.size(), tokens.size()));
    }

    auto impl = std::make_shared<Impl>();
    impl->source = "GGUF metadata";
    impl->implied_merges = true;
    impl->tokens.reserve(tokens.size());
    for (std::size_t id = 0; id < tokens.size(); ++id) {
      const auto type = static_cast<GgufTokenType>(types[id]);
      const bool respell = detail::spm::is_space_run_spelling(tokens[id]);
      std::string spelling = tokens[id];
      if (respell) {
        spelling.clear();
        for (std::size_t i = 0; i < detail::spm::count_code_points(tokens[id]); ++i) {
          spelling.append(detail::spm::word_boundary);
        }
      }
      impl->ids.insert_or_assign(spelling, static_cast<int64_t>(id));
      impl->tokens.push_back(spelling);
      // transformers adds CONTROL tokens as special added tokens and USER_DEFINED ones as plain
      // added tokens, except the respelled whitespace runs, which stay ordinary BPE pieces.
      if (type == GgufTokenType::control || (type == GgufTokenType::user_defined && !respell)) {
        AddedToken token;
        token.id = static_cast<int64_t>(id);
        token.content = tokens[id];
        token.special = type == GgufTokenType::control;
        impl->added.push_back(std::move(token));
      }
    }
    impl->id_lengths.reserve(impl->tokens.size());
    for (const std::string& token : impl->tokens) {
      impl->id_lengths.push_back(static_cast<int32_t>(detail::spm::count_code_points(token)));
    }

    if (gguf.contains("tokenizer.ggml.bos_token_id")) impl->bos = gguf.get_int("tokenizer.ggml.bos_token_id");
    if (gguf.contains("tokenizer.ggml.eos_token_id")) impl->eos = gguf.get_int("tokenizer.ggml.eos_token_id");
    if (gguf.contains("tokenizer.ggml.unknown_token_id")) impl->unknown = gguf.get_int("tokenizer.ggml.unknown_token_id");
    // SentencePiece vocabularies add BOS unless the file says otherwise (llama.cpp's default).
    const bool add_bos = !gguf.contains("tokenizer.ggml.add_bos_token") || gguf.get_bool("tokenizer.ggml.add_bos_token");
    const bool add_eos = gguf.contains("tokenizer.ggml.add_eos_token") && gguf.get_bool("tokenizer.ggml.add_eos_token");
    if (add_bos && impl->bos) impl->prefix.push_back(*impl->bos);
    if (add_eos && impl->eos) impl->suffix.push_back(*impl->eos);
    impl->finish();
    return SentencePieceBpe(std::move(impl));
  }

  // Returns the token ids of `text` (UTF-8). With add_special_tokens, BOS comes first (Gemma).
  [[nodiscard]] std::vector<int64_t> encode(std::string_view text, bool add_special_tokens = false) const {
    detail::require_valid_utf8(text, "text to encode");
    std::vector<int64_t> ids;
    if (add_special_tokens) ids.insert(ids.end(), impl_->prefix.begin(), impl_->prefix.end());
    std::vector<detail::Segment> segments;
    impl_->matcher.split(text, segments);
    for (const detail::Segment& segment : segments) {
      if (segment.id) {
        ids.push_back(*segment.id);
      } else {
        encode_stretch(detail::spm::replace_spaces(segment.text), ids);
      }
    }
    if (add_special_tokens) ids.insert(ids.end(), impl_->suffix.begin(), impl_->suffix.end());
    return ids;
  }

  // Returns the text of `ids`: U+2581 becomes a space, runs of <0xXX> tokens become their bytes
  // (each byte of an invalid UTF-8 run becomes U+FFFD), and special tokens are dropped when
  // skip_special_tokens is set. Ids outside the vocabulary are skipped.
  [[nodiscard]] std::string decode(std::span<const int64_t> ids, bool skip_special_tokens = true) const {
    std::string out;
    std::string pending_bytes;
    std::size_t pending_count = 0;
    const auto flush_bytes = [&] {
      if (pending_count == 0) return;
      if (detail::find_invalid_utf8(pending_bytes) == std::string_view::npos) {
        out += pending_bytes;
      } else {
        for (std::size_t i = 0; i < pending_count; ++i) detail::append_utf8(out, detail::replacement_character);
      }
      pending_bytes.clear();
      pending_count = 0;
    };
    for (const int64_t id : ids) {
      if (id < 0 || id >= vocab_size()) continue;
      const auto index = static_cast<std::size_t>(id);
      if (skip_special_tokens && impl_->special[index]) continue;
      const std::string& token = impl_->tokens[index];
      if (const auto byte = detail::spm::byte_token_value(token)) {
        pending_bytes.push_back(static_cast<char>(*byte));
        ++pending_count;
        continue;
      }
      flush_bytes();
      std::size_t pos = 0;
      while (pos < token.size()) {
        if (token.compare(pos, detail::spm::word_boundary.size(), detail::spm::word_boundary) == 0) {
          out.push_back(' ');
          pos += detail::spm::word_boundary.size();
        } else {
          out.push_back(token[pos]);
          ++pos;
        }
      }
    }
    flush_bytes();
    return out;
  }

  [[nodiscard]] std::optional<int64_t> bos_id() const noexcept { return impl_->bos; }
  [[nodiscard]] std::optional<int64_t> eos_id() const noexcept { return impl_->eos; }
  [[nodiscard]] int64_t vocab_size() const noexcept { return static_cast<int64_t>(impl_->tokens.size()); }
  [[nodiscard]] std::optional<int64_t> token_id(std::string_view token) const { return impl_->find(token); }
  // Returns the piece of `id` as the vocabulary spells it, or nothing when `id` is out of range.
  [[nodiscard]] std::optional<std::string> token_text(int64_t id) const {
    if (id < 0 || id >= vocab_size()) return std::nullopt;
    return impl_->tokens[static_cast<std::size_t>(id)];
  }
  [[nodiscard]] bool is_special(int64_t id) const noexcept {
    return id >= 0 && id < vocab_size() && impl_->special[static_cast<std::size_t>(id)];
  }

 private:
  struct Impl {
    std::string source;
    std::vector<std::string> tokens;           // by id, pieces spelled with U+2581
    std::unordered_map<std::string, int64_t> ids;
    std::vector<int32_t> id_lengths;           // code points per token, for implied merge ranks
    std::unordered_map<uint64_t, int64_t> merge_ranks;  // pair_key(left, right) -> rank (tokenizer.json)
    bool implied_merges = false;               // GGUF: ranks follow from the vocabulary order
    std::vector<AddedToken> added;
    detail::AddedTokenMatcher matcher;
    std::vector<bool> special;
    std::array<int64_t, 256> byte_ids{};       // id of <0xXX>, or -1
    std::optional<int64_t> bos, eos, unknown;
    std::vector<int64_t> prefix, suffix;       // ids that add_special_tokens puts around the text

    [[nodiscard]] std::optional<int64_t> find(std::string_view token) const {
      const auto it = ids.find(std::string(token));
      if (it == ids.end()) return std::nullopt;
      return it->second;
    }

    void finish() {
      special.assign(tokens.size(), false);
      std::vector<const AddedToken*> pointers;
      for (const AddedToken& token : added) {
        if (token.special) special[static_cast<std::size_t>(token.id)] = true;
        pointers.push_back(&token);
      }
      matcher = detail::AddedTokenMatcher(std::move(pointers));
      for (int value = 0; value < 256; ++value) {
        const auto id = find(fmt::format("<0x{:02X}>", value));
        byte_ids[static_cast<std::size_t>(value)] = id.value_or(-1);
      }
    }
  };

  explicit SentencePieceBpe(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

  static uint64_t pair_key(int64_t left, int64_t right) {
    return (static_cast<uint64_t>(left) << 32) | static_cast<uint64_t>(right);
  }

  static void check_normalizer(const nlohmann::json& node, std::string_view source) {
    // Gemma: {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}.
    const bool is_space_replace = node.is_object() && node.value("type", std::string()) == "Replace" &&
                                  node.contains("pattern") && node["pattern"].value("String", std::string()) == " " &&
                                  node.value("content", std::string()) == detail::spm::word_boundary;
    if (!is_space_replace) {
      raise("sri.text.unsupported_tokenizer",
            fmt::format("{}: normalizer {} is not the Gemma normalizer (replace ' ' with U+2581); "
                        "SentencePieceBpe supports Gemma 2 and Gemma 3 tokenizers",
                        source, node.dump().substr(0, 200)));
    }
  }

  static void read_post_processor(const nlohmann::json& node, Impl& impl) {
    if (!node.is_object() || node.value("type", std::string()) != "TemplateProcessing") return;
    bool before_sequence = true;
    for (const auto& item : node.value("single", nlohmann::json::array())) {
      if (item.contains("Sequence")) {
        before_sequence = false;
        continue;
      }
      if (!item.contains("SpecialToken")) continue;
      const std::string name = item["SpecialToken"].value("id", std::string());
      const auto& special_tokens = node.value("special_tokens", nlohmann::json::object());
      std::vector<int64_t> ids;
      if (special_tokens.contains(name)) {
        for (const auto& id : special_tokens[name].value("ids", nlohmann::json::array())) ids.push_back(id.get<int64_t>());
      } else if (const auto id = impl.find(name)) {
        ids.push_back(*id);
      }
      auto& target = before_sequence ? impl.prefix : impl.suffix;
      target.insert(target.end(), ids.begin(), ids.end());
    }
  }

  // Merge rank of the adjacent pieces (left, right), or nothing when they do not merge.
  [[nodiscard]] std::optional<int64_t> merge_rank(int64_t left, int64_t right, int64_t* merged) const {
    const auto merged_id = impl_->find(impl_->tokens[static_cast<std::size_t>(left)] +
                                       impl_->tokens[static_cast<std::size_t>(right)]);
    if (!merged_id) return std::nullopt;
    *merged = *merged_id;
    if (!impl_->implied_merges) {
      const auto it = impl_->merge_ranks.find(pair_key(left, right));
      if (it == impl_->merge_ranks.end()) return std::nullopt;
      return it->second;
    }
    // The merged token's id first, then the longer left piece first.
    constexpr int64_t max_piece_length = 1 << 16;
    return *merged_id * max_piece_length + (max_piece_length - impl_->id_lengths[static_cast<std::size_t>(left)]);
  }

  // Runs BPE over one normalized stretch and appends its ids.
  void encode_stretch(const std::string& text, std::vector<int64_t>& out) const {
    if (text.empty()) return;
    struct Symbol {
      std::size_t begin;  // byte offset in text
      std::size_t length;
      int64_t id;         // -1 when the piece is not in the vocabulary
      int64_t previous;   // index of the previous live symbol, -1 at the start
      int64_t next;       // index of the next live symbol, -1 at the end
    };
    std::vector<Symbol> symbols;
    for (std::size_t pos = 0; pos < text.size();) {
      const std::size_t length = detail::next_utf8(text, pos).length;
      const auto id = impl_->find(std::string_view(text).substr(pos, length));
      const auto index = static_cast<int64_t>(symbols.size());
      symbols.push_back({pos, length, id.value_or(-1), index - 1, -1});
      if (index > 0) symbols[static_cast<std::size_t>(index - 1)].next = index;
      pos += length;
    }

    struct Candidate {
      int64_t rank;
      int64_t left;  // symbol index
      std::size_t left_length;
      std::size_t right_length;
      int64_t merged;
      bool operator>(const Candidate& other) const {
        return rank != other.rank ? rank > other.rank : left > other.left;
      }
    };
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
    const auto push_pair = [&](int64_t left) {
      if (left < 0) return;
      const Symbol& a = symbols[static_cast<std::size_t>(left)];
      if (a.next < 0) return;
      const Symbol& b = symbols[static_cast<std::size_t>(a.next)];
      if (a.id < 0 || b.id < 0) return;
      int64_t merged = -1;
      if (const auto rank = merge_rank(a.id, b.id, &merged)) queue.push({*rank, left, a.length, b.length, merged});
    };
    for (int64_t i = 0; i + 1 < static_cast<int64_t>(symbols.size()); ++i) push_pair(i);

    while (!queue.empty()) {
      const Candidate top = queue.top();
      queue.pop();
      Symbol& a = symbols[static_cast<std::size_t>(top.left)];
      // A candidate is stale when either side has merged since it was queued.
      if (a.length != top.left_length || a.length == 0 || a.next < 0) continue;
      Symbol& b = symbols[static_cast<std::size_t>(a.next)];
      if (b.length != top.right_length) continue;
      a.length += b.length;
      a.id = top.merged;
      b.length = 0;
      a.next = b.next;
      if (b.next >= 0) symbols[static_cast<std::size_t>(b.next)].previous = top.left;
      push_pair(a.previous);
      push_pair(top.left);
    }

    for (int64_t i = 0; i >= 0; i = symbols[static_cast<std::size_t>(i)].next) {
      const Symbol& symbol = symbols[static_cast<std::size_t>(i)];
      if (symbol.id >= 0) {
        out.push_back(symbol.id);
        continue;
      }
      for (std::size_t k = 0; k < symbol.length; ++k) {
        const auto byte = static_cast<unsigned char>(text[symbol.begin + k]);
        const int64_t byte_id = impl_->byte_ids[byte];
        if (byte_id >= 0) {
          out.push_back(byte_id);
        } else if (impl_->unknown) {
          out.push_back(*impl_->unknown);
        } else {
          raise("sri.text.invalid_tokenizer",
                fmt::format("{} has neither the byte token <0x{:02X}> nor an unknown token, so the text cannot be "
                            "encoded; the vocabulary is incomplete",
                            impl_->source, byte));
        }
      }
    }
  }

  std::shared_ptr<const Impl> impl_;
};

}  // namespace sri::text
