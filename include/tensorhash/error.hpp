/**
 * @file error.hpp
 * @brief The one exception type tensorhash throws, with a machine-readable error class.
 */
#pragma once

#include <tensorhash/config.hpp>

#include <stdexcept>
#include <string>

TENSORHASH_NAMESPACE_BEGIN

/// @brief What went wrong; every `tensorhash::error` carries one.
enum class errc {
  null_data,           ///< null data pointer for a view with a non-zero byte size
  negative_shape,      ///< a dimension below zero
  rank_too_large,      ///< more dimensions than `max_rank`
  size_overflow,       ///< element count, byte size or address span does not fit in 64 bits
  unknown_dtype,       ///< a dtype code or name that is not one of the safetensors dtypes
  invalid_chunk_size,  ///< tree chunk size not a power of two in [1 KiB, 16 MiB]
  invalid_argument,    ///< any other argument out of its documented range
  invalid_hex,         ///< a hex digest string that is not 64 lowercase/uppercase hex digits
  wrong_memory_space,  ///< a view whose memory the chosen backend cannot read
  cuda_error,          ///< a CUDA runtime call failed; the message names the call
  parse_error,         ///< malformed input: safetensors header, manifest JSON, bucket metadata
  io_error,            ///< a file could not be opened, mapped or written
  duplicate_name,      ///< a tensor name that must be unique appears twice
  cancelled,           ///< a hash stopped by host_engine::cancel (Ctrl-C in Python)
};

/// @brief Short stable name of an error class ("null_data", ...), for logs and tests.
inline const char* to_string(errc code) noexcept {
  switch (code) {
    case errc::null_data:
      return "null_data";
    case errc::negative_shape:
      return "negative_shape";
    case errc::rank_too_large:
      return "rank_too_large";
    case errc::size_overflow:
      return "size_overflow";
    case errc::unknown_dtype:
      return "unknown_dtype";
    case errc::invalid_chunk_size:
      return "invalid_chunk_size";
    case errc::invalid_argument:
      return "invalid_argument";
    case errc::invalid_hex:
      return "invalid_hex";
    case errc::wrong_memory_space:
      return "wrong_memory_space";
    case errc::cuda_error:
      return "cuda_error";
    case errc::parse_error:
      return "parse_error";
    case errc::io_error:
      return "io_error";
    case errc::duplicate_name:
      return "duplicate_name";
    case errc::cancelled:
      return "cancelled";
  }
  return "unknown";
}

/**
 * @brief Exception thrown by every host-side tensorhash call on bad input.
 *
 * `what()` reads `tensorhash: <class>: <message>` and names the offending argument;
 * `code()` gives the class for programmatic handling.
 */
class error : public std::runtime_error {
 public:
  /// @param code the error class  @param message what is wrong, naming the argument
  error(errc code, const std::string& message)
      : std::runtime_error(std::string("tensorhash: ") + to_string(code) + ": " + message),
        code_(code),
        message_(message) {}

  /// @return the error class
  errc code() const noexcept { return code_; }
  /// @return the message alone, without the "tensorhash: <class>: " prefix (for re-wrapping)
  const std::string& message() const noexcept { return message_; }

 private:
  errc code_;
  std::string message_;
};

TENSORHASH_NAMESPACE_END
