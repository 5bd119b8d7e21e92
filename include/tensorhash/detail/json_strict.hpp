/**
 * @file detail/json_strict.hpp
 * @brief JSON parsing that refuses duplicate object keys (nlohmann keeps the last silently),
 *        byte-order marks and deep nesting, in time linear in the document.
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/detail/printable.hpp>
#include <tensorhash/error.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {

/// Deepest nesting of arrays and objects a document may have: manifests, replies, headers and
/// configs need five levels; a bound keeps hostile documents from recursing anywhere.
constexpr int json_max_depth = 64;

/**
 * @brief Builds a document from nlohmann's SAX events (linear in its size: no callback
 *        re-reading every value) and stops at the end of the first object that repeats a key
 *        (where Python's object_pairs_hook sees it: both readers name the same problem), the
 *        first "-0" integer
 *        (the Python reader's int() would take it as 0, C++ callers see a signed value) or a
 *        nesting deeper than json_max_depth.
 */
class strict_json_builder {
 public:
  using json = nlohmann::json;

  bool null() { return put(json(nullptr)); }
  bool boolean(bool v) { return put(json(v)); }
  bool number_integer(json::number_integer_t v) {
    if (v == 0) {  // only "-0" reaches here as a signed zero: 0 arrives as number_unsigned
      problem_ = "-0 is not an integer this reader takes (write 0)";
      return false;
    }
    return put(json(v));
  }
  bool number_unsigned(json::number_unsigned_t v) { return put(json(v)); }
  bool number_float(json::number_float_t v, const json::string_t&) { return put(json(v)); }
  bool string(json::string_t& v) { return put(json(std::move(v))); }
  bool binary(json::binary_t&) { return false; }  // never produced by the JSON parser
  bool start_object(std::size_t) { return open(json::object()); }
  bool start_array(std::size_t) { return open(json::array()); }
  bool end_object() {
    if (!duplicates_.back().empty()) {
      duplicate_ = true;
      problem_ = "key \"" + duplicates_.back() + "\" appears twice";
      return false;
    }
    return close();
  }
  bool end_array() { return close(); }
  bool key(json::string_t& k) {
    if (stack_.back()->contains(k) && duplicates_.back().empty()) {
      duplicates_.back() = k;  // reported when the object closes, as Python's object hook does
    }
    key_ = std::move(k);
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    problem_ = e.what();
    return false;
  }

  json& result() { return root_; }
  const std::string& problem() const { return problem_; }
  bool duplicate() const { return duplicate_; }

 private:
  json* place(json&& v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    json& parent = *stack_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(v));
      return &parent.back();
    }
    return &(parent[key_] = std::move(v));
  }
  bool put(json&& v) {
    place(std::move(v));
    return true;
  }
  bool open(json&& container) {
    if (stack_.size() >= static_cast<std::size_t>(json_max_depth)) {
      problem_ = "nested deeper than " + std::to_string(json_max_depth) + " levels";
      return false;
    }
    stack_.push_back(place(std::move(container)));
    duplicates_.emplace_back();
    return true;
  }
  bool close() {
    stack_.pop_back();
    duplicates_.pop_back();
    return true;
  }

  json root_;
  std::vector<json*> stack_;  ///< the open containers (pointers stay valid: only the top grows)
  std::vector<std::string> duplicates_;  ///< per open container, its first repeated key
  std::string key_;
  std::string problem_;
  bool duplicate_ = false;
};

/// @throw error parse_error naming `label` for invalid JSON (UTF-8 included), a NUL byte, a
///        byte-order mark, a "-0" integer or nesting deeper than json_max_depth; duplicate_name
///        for a duplicate key
inline nlohmann::json parse_json_strict(std::string_view text, const std::string& label) {
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") {
    throw error(errc::parse_error,
                label + ": not valid JSON: it starts with a byte-order mark (remove it)");
  }
  // Checked whole before parsing, as Python decodes before it parses: both name one problem.
  const std::size_t bad = utf8_invalid_at(text);
  if (bad != std::string_view::npos) {
    throw error(errc::parse_error,
                label + ": not valid JSON: invalid UTF-8 at offset " + std::to_string(bad));
  }
  const std::size_t nul = text.find('\0');
  if (nul != std::string_view::npos) {  // nlohmann's lexer would take it as the end of input
    throw error(errc::parse_error,
                label + ": not valid JSON: a NUL byte at offset " + std::to_string(nul));
  }
  strict_json_builder builder;
  bool ok = false;
  try {
    ok = nlohmann::json::sax_parse(text.begin(), text.end(), &builder);
  } catch (const nlohmann::json::exception& e) {  // thrown by the lexer in some versions
    throw error(errc::parse_error, label + ": not valid JSON: " + e.what());
  }
  if (!ok) {
    throw error(builder.duplicate() ? errc::duplicate_name : errc::parse_error,
                label + (builder.duplicate() ? ": " : ": not valid JSON: ") + builder.problem());
  }
  return std::move(builder.result());
}

/// Appends `key: value` to an ordered_json object whose keys the caller knows to be new (they
/// come from a std::map): ordered_map's operator[] searches every key first, which made writing
/// 100 000 tensors take 30 s.
inline void append_new_key(nlohmann::ordered_json& object, const std::string& key,
                           nlohmann::ordered_json value) {
  using container = nlohmann::ordered_json::object_t::Container;
  static_cast<container&>(object.get_ref<nlohmann::ordered_json::object_t&>())
      .emplace_back(key, std::move(value));
}

inline std::string json_brief_text(const nlohmann::json& v) {
  if (v.is_string() || v.is_boolean() || v.is_null() || v.is_number_integer()) {
    return v.dump();
  }
  if (v.is_number()) {
    return "a number";
  }
  if (v.is_array()) {
    std::string out = "[";
    for (std::size_t i = 0; i < v.size(); ++i) {
      out += (i != 0 ? "," : "") + json_brief_text(v[i]);
    }
    return out + "]";
  }
  return "an object";
}

/// @return an untrusted JSON value for a message, clipped (never whole): strings, integers,
///         true/false/null and arrays of them as compact JSON, "a number" for other numbers and
///         "an object" for objects, which Python's json module prints differently
///         (`_brief`, python/tensorhash/_manifest.py, writes the same text)
inline std::string json_brief(const nlohmann::json& v) {
  return clip(json_brief_text(v));
}

}  // namespace detail
TENSORHASH_NAMESPACE_END
