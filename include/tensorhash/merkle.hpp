/**
 * @file merkle.hpp
 * @brief RFC 6962 Merkle Tree Hash building blocks (leaf, node, root from ordered leaves).
 *
 * RFC 6962 §2.1: MTH({}) = HASH(), MTH({d0}) = HASH(0x00 || d0), and for n > 1 with k the
 * largest power of two smaller than n, MTH(D[n]) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n])).
 * Pairing adjacent nodes level by level and carrying an odd last node up unchanged gives the
 * same root; that is what `merkle_root` does.
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/hasher.hpp>

#include <cstdint>
#include <vector>

TENSORHASH_NAMESPACE_BEGIN

/// Domain-separation prefixes of RFC 6962 §2.1.
inline constexpr std::uint8_t merkle_leaf_prefix = 0x00;
inline constexpr std::uint8_t merkle_node_prefix = 0x01;

/// @return HASH(0x00 || data[0:n]), the leaf hash of one chunk
template <class Hasher = sha256>
TENSORHASH_HD typename Hasher::digest_type merkle_leaf_hash(const void* data,
                                                            std::uint64_t n) noexcept {
  const std::uint8_t prefix = merkle_leaf_prefix;  // a local copy: device code cannot take
  hash_stream<Hasher> s;                           // the address of a namespace constant
  s.update(&prefix, 1);
  s.update(data, n);
  return s.finalize();
}

/// @return HASH(0x01 || left || right), an interior node
template <class Hasher = sha256>
TENSORHASH_HD typename Hasher::digest_type merkle_node_hash(
    const typename Hasher::digest_type& left, const typename Hasher::digest_type& right) noexcept {
  const std::uint8_t prefix = merkle_node_prefix;
  hash_stream<Hasher> s;
  s.update(&prefix, 1);
  s.update(left.bytes, sizeof(left.bytes));
  s.update(right.bytes, sizeof(right.bytes));
  return s.finalize();
}

/**
 * @brief Root over `n` leaf hashes, computed in place (the array is overwritten).
 * @return MTH of the leaves; HASH() when `n == 0`
 */
template <class Hasher = sha256>
TENSORHASH_HD typename Hasher::digest_type merkle_root_in_place(typename Hasher::digest_type* nodes,
                                                                std::uint64_t n) noexcept {
  if (n == 0) {
    return hash_bytes<Hasher>(nullptr, 0);
  }
  while (n > 1) {
    const std::uint64_t pairs = n / 2;
    for (std::uint64_t i = 0; i < pairs; ++i) {
      nodes[i] = merkle_node_hash<Hasher>(nodes[2 * i], nodes[2 * i + 1]);
    }
    if (n % 2 != 0) {
      nodes[pairs] = nodes[n - 1];
    }
    n = pairs + n % 2;
  }
  return nodes[0];
}

/// @return MTH over an ordered list of leaf hashes (the input is left unchanged)
template <class Hasher = sha256>
typename Hasher::digest_type merkle_root(const std::vector<typename Hasher::digest_type>& leaves) {
  std::vector<typename Hasher::digest_type> work(leaves);
  return merkle_root_in_place<Hasher>(work.data(), work.size());
}

TENSORHASH_NAMESPACE_END
