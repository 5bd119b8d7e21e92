/**
 * @file detail/json_strict.hpp
 * @brief JSON parsing that refuses duplicate object keys (nlohmann keeps the last silently).
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/error.hpp>

#include <nlohmann/json.hpp>

#include <set>
#include <string>
#include <string_view>
#include <vector>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {

/// @throw error parse_error naming `label` for invalid JSON (UTF-8 included) or a duplicate key
inline nlohmann::json parse_json_strict(std::string_view text, const std::string& label) {
  std::vector<std::set<std::string>> keys;
  std::string duplicate;
  const auto callback = [&](int, nlohmann::json::parse_event_t event, nlohmann::json& value) {
    using ev = nlohmann::json::parse_event_t;
    if (event == ev::object_start) {
      keys.emplace_back();
    } else if (event == ev::object_end) {
      keys.pop_back();
    } else if (event == ev::key && !keys.back().insert(value.get<std::string>()).second &&
               duplicate.empty()) {
      duplicate = value.get<std::string>();
    }
    return true;
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.begin(), text.end(), callback);
  } catch (const nlohmann::json::exception& e) {
    throw error(errc::parse_error, label + ": not valid JSON: " + e.what());
  }
  if (!duplicate.empty()) {
    throw error(errc::duplicate_name, label + ": key \"" + duplicate + "\" appears twice");
  }
  return j;
}

}  // namespace detail
TENSORHASH_NAMESPACE_END
