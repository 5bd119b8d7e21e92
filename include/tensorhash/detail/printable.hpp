/**
 * @file detail/printable.hpp
 * @brief Untrusted text (tensor names, paths, JSON strings) made safe to print on one line.
 */
#pragma once

#include <tensorhash/config.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {

/// @return the code point of the well-formed UTF-8 sequence at s[i] and its length in `len`,
///         or -1 (len 1) for a byte that starts none (RFC 3629: no overlong forms, surrogates or
///         values past U+10FFFF)
inline long utf8_at(std::string_view s, std::size_t i, std::size_t& len) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  len = 1;
  if (c < 0x80) {
    return c;
  }
  std::size_t n = 0;
  long cp = 0;
  long min = 0;
  if ((c & 0xE0) == 0xC0) {
    n = 2, cp = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3, cp = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return -1;
  }
  if (i + n > s.size()) {
    return -1;
  }
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) {
      return -1;
    }
    cp = (cp << 6) | (b(k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    return -1;
  }
  len = n;
  return cp;
}

/// @return the offset of the first byte of `s` that starts no well-formed UTF-8 sequence, or
///         npos when all of `s` is UTF-8
inline std::size_t utf8_invalid_at(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 1;
    if (utf8_at(s, i, len) < 0) {
      return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

/**
 * @brief `s` as one printable line: backslash, newline, carriage return and tab as `\\`, `\n`,
 *        `\r`, `\t`; other control characters (C0, DEL, C1), line and paragraph separators and
 *        bidirectional overrides (U+202A-U+202E, U+2066-U+2069) as `\uXXXX`; bytes that are
 *        not UTF-8 as `\xNN`. Past `limit` input bytes the rest becomes "... (N more bytes)".
 *        The Python package's `_printable` is the same function (python/tensorhash/_error.py).
 */
inline std::string printable(std::string_view s, std::size_t limit = std::string_view::npos) {
  static const char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() < limit ? s.size() : limit);
  std::size_t i = 0;
  while (i < s.size()) {
    if (i >= limit) {
      out += "... (" + std::to_string(s.size() - i) + " more bytes)";
      break;
    }
    std::size_t len = 1;
    const long cp = utf8_at(s, i, len);
    if (cp < 0) {
      const auto c = static_cast<unsigned char>(s[i]);
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else if (cp == '\\') {
      out += "\\\\";
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
               (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069)) {
      out += "\\u";
      for (int shift = 12; shift >= 0; shift -= 4) {
        out += hex[(cp >> shift) & 15];
      }
    } else {
      out.append(s.substr(i, len));
    }
    i += len;
  }
  return out;
}

/// @return `s` itself when it holds at most `limit` bytes, else its first bytes up to `limit`
///         (cut before a UTF-8 continuation byte) and "... (N more bytes)": an untrusted value
///         in a message, never whole. Python: `_clip` (python/tensorhash/_error.py).
inline std::string clip(std::string_view s, std::size_t limit = 200) {
  if (s.size() <= limit) {
    return std::string(s);
  }
  std::size_t cut = limit;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) {
    --cut;
  }
  return std::string(s.substr(0, cut)) + "... (" + std::to_string(s.size() - cut) + " more bytes)";
}

}  // namespace detail
TENSORHASH_NAMESPACE_END
