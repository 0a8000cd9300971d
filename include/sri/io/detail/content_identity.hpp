#pragma once

// Content identity of model files: a SHA-256 over each file's name, size, header and sampled chunks.
//
// Hashing every byte took 2.5 s for a 98 MB GGUF on the development VM (portable SHA-256, one core),
// too slow for every `sri` run on multi-GB models. The sampled hash reads the whole header (GGUF
// metadata and tensor infos, or the safetensors JSON) and 256 chunks of 4 KiB spread evenly over
// the rest, plus the last chunk. Two files with the same header and size that differ only between
// the samples get the same identity. Re-quantized or fine-tuned weights change nearly every chunk,
// so they are told apart.

#include <sri/io/detail/sha256.hpp>

#include <algorithm>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sri::io::detail {

struct IdentityPart {
  std::string name;                  // file name relative to the checkpoint, part of the hash
  std::span<const std::byte> bytes;  // the whole file
  std::size_t header_bytes = 0;      // leading bytes hashed in full
};

inline constexpr std::size_t k_identity_sample_count = 256;
inline constexpr std::size_t k_identity_sample_bytes = 4096;

// Returns "sri-sampled-sha256:<64 hex digits>" for the parts, in the order given.
[[nodiscard]] inline std::string sampled_content_identity(const std::vector<IdentityPart>& parts) {
  Sha256 hash;
  hash.update(std::string_view("sri-sampled-sha256 v1\n"));
  for (const IdentityPart& part : parts) {
    const std::size_t size = part.bytes.size();
    hash.update(part.name + "\n" + std::to_string(size) + "\n");
    const std::size_t header = std::min(part.header_bytes, size);
    hash.update(part.bytes.first(header));
    const std::size_t rest = size - header;
    if (rest <= k_identity_sample_count * k_identity_sample_bytes) {
      hash.update(part.bytes.subspan(header));
      continue;
    }
    const std::size_t stride = rest / k_identity_sample_count;
    for (std::size_t i = 0; i < k_identity_sample_count; ++i) {
      hash.update(part.bytes.subspan(header + i * stride, k_identity_sample_bytes));
    }
    hash.update(part.bytes.last(k_identity_sample_bytes));
  }
  return "sri-sampled-sha256:" + hash.hex_digest();
}

}  // namespace sri::io::detail
