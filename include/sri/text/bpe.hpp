#pragma once

// Byte-level BPE model: vocabulary, ranked merges and the merge loop, with a cache of the
// results per piece.
//
// For each piece the model starts from one symbol per byte-level character and repeatedly merges
// the adjacent pair of lowest rank (its position in the merge list, ties going to the leftmost
// pair) until no adjacent pair has a merge. Characters missing from the vocabulary become the
// unknown token when one is set and are dropped otherwise, as in Hugging Face tokenizers' BPE
// model. The parity tests in tests/text compare the ids with it.

#include <sri/error.hpp>
#include <sri/text/byte_level.hpp>

#include <fmt/format.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sri::text {

namespace detail {

struct TransparentStringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const noexcept { return std::hash<std::string_view>{}(text); }
};

using TokenIdMap = std::unordered_map<std::string, int32_t, TransparentStringHash, std::equal_to<>>;

}  // namespace detail

class BpeModel {
 public:
  struct Options {
    bool ignore_merges = false;          // a piece that is itself a vocabulary entry skips the merges
    std::optional<std::string> unk_token;  // stands for characters missing from the vocabulary
    bool fuse_unk = false;               // consecutive unknown characters become one unknown token
  };

  // `vocab` maps token text (byte-level alphabet) to id, and `merges` lists the pairs by rank.
  BpeModel(detail::TokenIdMap vocab, const std::vector<std::pair<std::string, std::string>>& merges, Options options)
      : vocab_(std::move(vocab)), options_(std::move(options)) {
    for (auto& entry : byte_token_) entry = -1;
    for (unsigned byte = 0; byte < 256; ++byte) {
      std::string text;
      detail::append_utf8(text, byte_level_char(static_cast<unsigned char>(byte)));
      if (const auto it = vocab_.find(text); it != vocab_.end()) byte_token_[byte] = it->second;
    }
    if (options_.unk_token) {
      const auto it = vocab_.find(*options_.unk_token);
      if (it == vocab_.end()) {
        raise("sri.text.invalid_tokenizer",
              fmt::format("BPE unk_token '{}' is not in the vocabulary; fix the tokenizer file", *options_.unk_token));
      }
      unk_id_ = it->second;
    }
    merges_.reserve(merges.size() * 2);
    for (std::size_t rank = 0; rank < merges.size(); ++rank) {
      const auto& [left, right] = merges[rank];
      const int32_t left_id = require_token(left, rank);
      const int32_t right_id = require_token(right, rank);
      const int32_t merged_id = require_token(left + right, rank);
      // A repeated pair keeps its last rank, as tokenizers' HashMap collection does.
      merges_[pair_key(left_id, right_id)] = Merge{static_cast<int32_t>(rank), merged_id};
    }
  }

  BpeModel(const BpeModel&) = delete;
  BpeModel& operator=(const BpeModel&) = delete;

  [[nodiscard]] const detail::TokenIdMap& vocab() const noexcept { return vocab_; }
  [[nodiscard]] std::size_t merge_count() const noexcept { return merges_.size(); }

  // Appends the ids of one pre-tokenized piece (raw UTF-8 bytes, before byte-level mapping).
  void encode_piece(std::string_view piece, std::vector<int64_t>& out) const {
    if (piece.size() <= max_cached_piece_bytes) {
      std::lock_guard lock(cache_mutex_);
      if (const auto it = cache_.find(piece); it != cache_.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        return;
      }
    }
    std::vector<int32_t> ids;
    merge_piece(piece, ids);
    out.insert(out.end(), ids.begin(), ids.end());
    if (piece.size() <= max_cached_piece_bytes) {
      std::lock_guard lock(cache_mutex_);
      if (cache_.size() < max_cache_entries) cache_.emplace(std::string(piece), std::move(ids));
    }
  }

 private:
  struct Merge {
    int32_t rank;
    int32_t merged_id;
  };
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    bool alive;
  };
  struct Candidate {
    int32_t rank;
    int32_t position;
    int32_t merged_id;
    bool operator>(const Candidate& other) const noexcept {
      return rank != other.rank ? rank > other.rank : position > other.position;
    }
  };

  // The cache stops growing at this many entries, like tokenizers' default BPE cache (10,000);
  // long pieces are not cached because they rarely repeat.
  static constexpr std::size_t max_cache_entries = 10000;
  static constexpr std::size_t max_cached_piece_bytes = 256;

  static uint64_t pair_key(int32_t left, int32_t right) noexcept {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }

  int32_t require_token(const std::string& token, std::size_t rank) const {
    const auto it = vocab_.find(token);
    if (it == vocab_.end()) {
      raise("sri.text.invalid_tokenizer",
            fmt::format("BPE merge #{} uses token '{}', which is not in the vocabulary; the merge list does not "
                        "belong to this vocabulary",
                        rank, token));
    }
    return it->second;
  }

  void merge_piece(std::string_view piece, std::vector<int32_t>& ids) const {
    if (options_.ignore_merges) {
      const std::string mapped = byte_level_encode(piece);
      if (const auto it = vocab_.find(mapped); it != vocab_.end()) {
        ids.push_back(it->second);
        return;
      }
    }

    std::vector<Symbol> symbols;
    symbols.reserve(piece.size());
    bool previous_was_unknown = false;
    // One byte is one character of the byte-level alphabet, so this walks the mapped piece.
    for (const char c : piece) {
      const int32_t id = byte_token_[static_cast<unsigned char>(c)];
      if (id >= 0) {
        symbols.push_back(Symbol{id, 0, 0, true});
        previous_was_unknown = false;
      } else if (unk_id_) {
        if (!(options_.fuse_unk && previous_was_unknown)) symbols.push_back(Symbol{*unk_id_, 0, 0, true});
        previous_was_unknown = true;
      }
    }
    const auto count = static_cast<int32_t>(symbols.size());
    for (int32_t i = 0; i < count; ++i) {
      symbols[i].prev = i - 1;
      symbols[i].next = i + 1 < count ? i + 1 : -1;
    }

    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
    const auto push_pair = [&](int32_t position) {
      const int32_t next = symbols[position].next;
      if (next < 0) return;
      const auto it = merges_.find(pair_key(symbols[position].id, symbols[next].id));
      if (it != merges_.end()) queue.push(Candidate{it->second.rank, position, it->second.merged_id});
    };
    for (int32_t i = 0; i + 1 < count; ++i) push_pair(i);

    while (!queue.empty()) {
      const Candidate top = queue.top();
      queue.pop();
      Symbol& left = symbols[top.position];
      if (!left.alive || left.next < 0) continue;
      Symbol& right = symbols[left.next];
      // Skip stale candidates: the pair at this position changed since it was queued.
      const auto it = merges_.find(pair_key(left.id, right.id));
      if (it == merges_.end() || it->second.merged_id != top.merged_id) continue;

      left.id = top.merged_id;
      right.alive = false;
      left.next = right.next;
      if (right.next >= 0) symbols[right.next].prev = top.position;
      if (left.prev >= 0) push_pair(left.prev);
      push_pair(top.position);
    }

    for (const Symbol& symbol : symbols) {
      if (symbol.alive) ids.push_back(symbol.id);
    }
  }

  detail::TokenIdMap vocab_;
  Options options_;
  std::optional<int32_t> unk_id_;
  int32_t byte_token_[256];
  std::unordered_map<uint64_t, Merge> merges_;

  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>, detail::TransparentStringHash, std::equal_to<>> cache_;
};

}  // namespace sri::text
