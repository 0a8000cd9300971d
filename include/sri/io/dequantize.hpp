#pragma once

// ggml tensor types: block sizes of every type a GGUF file may name, and dequantization of the
// types sri supports (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K) into float32.
//
// Block layouts follow ggml's `ggml-common.h` structs and `ggml-quants.c` dequantize_row_* (the
// gguf Python package's `quants.py` computes the same values; the checkpoint tests compare with it).
// All multi-byte fields are little-endian. This header needs the standard library only.

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace sri::io {

// Size and name of one ggml tensor type. `block_elements` values are stored in `block_bytes` bytes.
struct GgmlTypeTraits {
  uint32_t code;
  std::string_view name;
  int64_t block_elements;
  int64_t block_bytes;
  bool dequantizable;  // true when sri::io can turn it into floats
};

// Every ggml type code known to gguf-py 0.19 (constants.py GGML_QUANT_SIZES), so that a file that
// contains a type sri cannot dequantize still opens and its byte sizes are still checked.
inline constexpr std::array<GgmlTypeTraits, 34> ggml_type_table{{
    {0, "F32", 1, 4, true},         {1, "F16", 1, 2, true},         {2, "Q4_0", 32, 18, true},
    {3, "Q4_1", 32, 20, true},      {6, "Q5_0", 32, 22, true},      {7, "Q5_1", 32, 24, true},
    {8, "Q8_0", 32, 34, true},      {9, "Q8_1", 32, 40, false},     {10, "Q2_K", 256, 84, false},
    {11, "Q3_K", 256, 110, false},  {12, "Q4_K", 256, 144, true},   {13, "Q5_K", 256, 176, true},
    {14, "Q6_K", 256, 210, true},   {15, "Q8_K", 256, 292, false},  {16, "IQ2_XXS", 256, 66, false},
    {17, "IQ2_XS", 256, 74, false}, {18, "IQ3_XXS", 256, 98, false}, {19, "IQ1_S", 256, 50, false},
    {20, "IQ4_NL", 32, 18, false},  {21, "IQ3_S", 256, 110, false}, {22, "IQ2_S", 256, 82, false},
    {23, "IQ4_XS", 256, 136, false}, {24, "I8", 1, 1, false},       {25, "I16", 1, 2, false},
    {26, "I32", 1, 4, false},       {27, "I64", 1, 8, false},       {28, "F64", 1, 8, false},
    {29, "IQ1_M", 256, 56, false},  {30, "BF16", 1, 2, true},       {34, "TQ1_0", 256, 54, false},
    {35, "TQ2_0", 256, 66, false},  {39, "MXFP4", 32, 17, false},   {40, "NVFP4", 64, 36, false},
    {41, "Q1_0", 128, 18, false},
}};

// Returns the traits of a ggml type code, or nothing for a code this table does not know.
[[nodiscard]] constexpr std::optional<GgmlTypeTraits> find_ggml_type(uint32_t code) noexcept {
  for (const auto& traits : ggml_type_table) {
    if (traits.code == code) return traits;
  }
  return std::nullopt;
}

// Comma-separated names of the dequantizable types, for error messages.
[[nodiscard]] inline std::string supported_ggml_type_names() {
  std::string names;
  for (const auto& traits : ggml_type_table) {
    if (!traits.dequantizable) continue;
    if (!names.empty()) names += ", ";
    names += traits.name;
  }
  return names;
}

namespace detail::ggml {

inline constexpr int64_t k_super_block = 256;  // QK_K: elements per K-quant super-block

[[nodiscard]] inline uint16_t read_u16(const uint8_t* bytes) noexcept {
  return static_cast<uint16_t>(bytes[0] | (bytes[1] << 8));
}

[[nodiscard]] inline uint32_t read_u32(const uint8_t* bytes) noexcept {
  return static_cast<uint32_t>(bytes[0]) | (static_cast<uint32_t>(bytes[1]) << 8) |
         (static_cast<uint32_t>(bytes[2]) << 16) | (static_cast<uint32_t>(bytes[3]) << 24);
}

// Converts IEEE 754 binary16 bits to float exactly (subnormals, infinities and NaN included).
[[nodiscard]] inline float half_to_float(uint16_t half) noexcept {
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000u) << 16;
  const uint32_t exponent = (half >> 10) & 0x1Fu;
  const uint32_t mantissa = half & 0x3FFu;
  if (exponent == 0) {
    // Zero or subnormal: the value is mantissa * 2^-24, exact in float.
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign != 0 ? -magnitude : magnitude;
  }
  if (exponent == 31) return std::bit_cast<float>(sign | 0x7F800000u | (mantissa << 13));
  return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

[[nodiscard]] inline float read_half(const uint8_t* bytes) noexcept { return half_to_float(read_u16(bytes)); }

// block_q8_0: half d; int8 qs[32].
inline void dequantize_q8_0(const uint8_t* block, float* out) noexcept {
  const float scale = read_half(block);
  const auto* quants = reinterpret_cast<const int8_t*>(block + 2);
  for (int j = 0; j < 32; ++j) out[j] = scale * static_cast<float>(quants[j]);
}

// block_q4_0: half d; uint8 qs[16]. Low nibbles are elements 0..15, high nibbles 16..31.
inline void dequantize_q4_0(const uint8_t* block, float* out) noexcept {
  const float scale = read_half(block);
  const uint8_t* quants = block + 2;
  for (int j = 0; j < 16; ++j) {
    out[j] = static_cast<float>((quants[j] & 0x0F) - 8) * scale;
    out[j + 16] = static_cast<float>((quants[j] >> 4) - 8) * scale;
  }
}

// block_q4_1: half d; half m; uint8 qs[16].
inline void dequantize_q4_1(const uint8_t* block, float* out) noexcept {
  const float scale = read_half(block);
  const float minimum = read_half(block + 2);
  const uint8_t* quants = block + 4;
  for (int j = 0; j < 16; ++j) {
    out[j] = static_cast<float>(quants[j] & 0x0F) * scale + minimum;
    out[j + 16] = static_cast<float>(quants[j] >> 4) * scale + minimum;
  }
}

// block_q5_0: half d; uint8 qh[4] (the fifth bits, one u32); uint8 qs[16].
inline void dequantize_q5_0(const uint8_t* block, float* out) noexcept {
  const float scale = read_half(block);
  const uint32_t high_bits = read_u32(block + 2);
  const uint8_t* quants = block + 6;
  for (int j = 0; j < 16; ++j) {
    const int high_low = static_cast<int>((high_bits >> j) & 1u) << 4;
    const int high_high = static_cast<int>((high_bits >> (j + 16)) & 1u) << 4;
    out[j] = static_cast<float>(((quants[j] & 0x0F) | high_low) - 16) * scale;
    out[j + 16] = static_cast<float>(((quants[j] >> 4) | high_high) - 16) * scale;
  }
}

// block_q5_1: half d; half m; uint8 qh[4]; uint8 qs[16].
inline void dequantize_q5_1(const uint8_t* block, float* out) noexcept {
  const float scale = read_half(block);
  const float minimum = read_half(block + 2);
  const uint32_t high_bits = read_u32(block + 4);
  const uint8_t* quants = block + 8;
  for (int j = 0; j < 16; ++j) {
    const int high_low = static_cast<int>((high_bits >> j) & 1u) << 4;
    const int high_high = static_cast<int>((high_bits >> (j + 16)) & 1u) << 4;
    out[j] = static_cast<float>((quants[j] & 0x0F) | high_low) * scale + minimum;
    out[j + 16] = static_cast<float>((quants[j] >> 4) | high_high) * scale + minimum;
  }
}

// Unpacks the 6-bit scale and min of sub-block `index` (0..7) from the 12 packed bytes of a
// Q4_K/Q5_K super-block: bytes 0-7 hold the low 6 bits of scales 0-3 and mins 0-3 and, in their top
// two bits, the high bits of scales/mins 4-7, whose low 4 bits sit in the nibbles of bytes 8-11.
inline void unpack_k_scale_min(int index, const uint8_t* packed, int& scale, int& minimum) noexcept {
  if (index < 4) {
    scale = packed[index] & 63;
    minimum = packed[index + 4] & 63;
  } else {
    scale = (packed[index + 4] & 0x0F) | ((packed[index - 4] >> 6) << 4);
    minimum = (packed[index + 4] >> 4) | ((packed[index] >> 6) << 4);
  }
}

// block_q4_K: half d; half dmin; uint8 scales[12]; uint8 qs[128]. Eight sub-blocks of 32 values;
// value = d * scale * q - dmin * min.
inline void dequantize_q4_k(const uint8_t* block, float* out) noexcept {
  const float super_scale = read_half(block);
  const float super_min = read_half(block + 2);
  const uint8_t* packed_scales = block + 4;
  const uint8_t* quants = block + 16;
  for (int chunk = 0; chunk < 4; ++chunk) {
    int scale_low = 0, min_low = 0, scale_high = 0, min_high = 0;
    unpack_k_scale_min(2 * chunk, packed_scales, scale_low, min_low);
    unpack_k_scale_min(2 * chunk + 1, packed_scales, scale_high, min_high);
    const float d1 = super_scale * static_cast<float>(scale_low);
    const float m1 = super_min * static_cast<float>(min_low);
    const float d2 = super_scale * static_cast<float>(scale_high);
    const float m2 = super_min * static_cast<float>(min_high);
    const uint8_t* q = quants + 32 * chunk;
    float* y = out + 64 * chunk;
    for (int l = 0; l < 32; ++l) {
      y[l] = d1 * static_cast<float>(q[l] & 0x0F) - m1;
      y[l + 32] = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}

// block_q5_K: half d; half dmin; uint8 scales[12]; uint8 qh[32]; uint8 qs[128]. As Q4_K with a
// fifth bit per value: bit 2*chunk of qh[l] for the low nibbles, bit 2*chunk+1 for the high ones.
inline void dequantize_q5_k(const uint8_t* block, float* out) noexcept {
  const float super_scale = read_half(block);
  const float super_min = read_half(block + 2);
  const uint8_t* packed_scales = block + 4;
  const uint8_t* high_bits = block + 16;
  const uint8_t* quants = block + 48;
  for (int chunk = 0; chunk < 4; ++chunk) {
    int scale_low = 0, min_low = 0, scale_high = 0, min_high = 0;
    unpack_k_scale_min(2 * chunk, packed_scales, scale_low, min_low);
    unpack_k_scale_min(2 * chunk + 1, packed_scales, scale_high, min_high);
    const float d1 = super_scale * static_cast<float>(scale_low);
    const float m1 = super_min * static_cast<float>(min_low);
    const float d2 = super_scale * static_cast<float>(scale_high);
    const float m2 = super_min * static_cast<float>(min_high);
    const uint8_t mask_low = static_cast<uint8_t>(1u << (2 * chunk));
    const uint8_t mask_high = static_cast<uint8_t>(2u << (2 * chunk));
    const uint8_t* q = quants + 32 * chunk;
    float* y = out + 64 * chunk;
    for (int l = 0; l < 32; ++l) {
      const int low = (q[l] & 0x0F) + ((high_bits[l] & mask_low) != 0 ? 16 : 0);
      const int high = (q[l] >> 4) + ((high_bits[l] & mask_high) != 0 ? 16 : 0);
      y[l] = d1 * static_cast<float>(low) - m1;
      y[l + 32] = d2 * static_cast<float>(high) - m2;
    }
  }
}

// block_q6_K: uint8 ql[128]; uint8 qh[64]; int8 scales[16]; half d (last). Sixteen sub-blocks of
// 16 values with signed 8-bit scales; each value is 4 low bits from ql and 2 high bits from qh,
// offset by -32. The block is processed as two halves of 128 values.
inline void dequantize_q6_k(const uint8_t* block, float* out) noexcept {
  const uint8_t* low_bits = block;
  const uint8_t* high_bits = block + 128;
  const auto* scales = reinterpret_cast<const int8_t*>(block + 192);
  const float super_scale = read_half(block + 208);
  for (int half = 0; half < 2; ++half) {
    const uint8_t* ql = low_bits + 64 * half;
    const uint8_t* qh = high_bits + 32 * half;
    const int8_t* sc = scales + 8 * half;
    float* y = out + 128 * half;
    for (int l = 0; l < 32; ++l) {
      const int sub = l / 16;
      const int q1 = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = super_scale * static_cast<float>(sc[sub + 0]) * static_cast<float>(q1);
      y[l + 32] = super_scale * static_cast<float>(sc[sub + 2]) * static_cast<float>(q2);
      y[l + 64] = super_scale * static_cast<float>(sc[sub + 4]) * static_cast<float>(q3);
      y[l + 96] = super_scale * static_cast<float>(sc[sub + 6]) * static_cast<float>(q4);
    }
  }
}

template <int64_t BlockElements, int64_t BlockBytes, void (*DequantizeBlock)(const uint8_t*, float*) noexcept>
void dequantize_block_range(const uint8_t* source, float* destination, int64_t block_count) noexcept {
  for (int64_t b = 0; b < block_count; ++b) {
    DequantizeBlock(source + b * BlockBytes, destination + b * BlockElements);
  }
}

}  // namespace detail::ggml

// Dequantizes `block_count` consecutive blocks of ggml type `code` from `source` into `destination`
// (block_count * block_elements floats). Returns false, writing nothing, for a type that is not
// dequantizable; the caller turns that into an error naming the tensor.
inline bool dequantize_blocks(uint32_t code, const uint8_t* source, float* destination, int64_t block_count) noexcept {
  namespace g = detail::ggml;
  switch (code) {
    case 0:  // F32
      std::memcpy(destination, source, static_cast<std::size_t>(block_count) * 4);
      return true;
    case 1:  // F16
      for (int64_t i = 0; i < block_count; ++i) destination[i] = g::read_half(source + 2 * i);
      return true;
    case 30:  // BF16: the stored bits are the upper half of a float32
      for (int64_t i = 0; i < block_count; ++i) {
        destination[i] = std::bit_cast<float>(static_cast<uint32_t>(g::read_u16(source + 2 * i)) << 16);
      }
      return true;
    case 2: g::dequantize_block_range<32, 18, g::dequantize_q4_0>(source, destination, block_count); return true;
    case 3: g::dequantize_block_range<32, 20, g::dequantize_q4_1>(source, destination, block_count); return true;
    case 6: g::dequantize_block_range<32, 22, g::dequantize_q5_0>(source, destination, block_count); return true;
    case 7: g::dequantize_block_range<32, 24, g::dequantize_q5_1>(source, destination, block_count); return true;
    case 8: g::dequantize_block_range<32, 34, g::dequantize_q8_0>(source, destination, block_count); return true;
    case 12: g::dequantize_block_range<256, 144, g::dequantize_q4_k>(source, destination, block_count); return true;
    case 13: g::dequantize_block_range<256, 176, g::dequantize_q5_k>(source, destination, block_count); return true;
    case 14: g::dequantize_block_range<256, 210, g::dequantize_q6_k>(source, destination, block_count); return true;
    default: return false;
  }
}

}  // namespace sri::io
