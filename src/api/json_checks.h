// Checks of JSON request bodies and config files, with Firecracker's wording: a value
// that is refused gets a message naming its field and what it may be.
#pragma once

#include <nlohmann/json.hpp>

#include <initializer_list>
#include <string>
#include <string_view>

#include "util/result.h"

namespace vireo::api {

inline constexpr std::string_view kDeserializing =
    "An error occurred when deserializing the json body of a request: ";

// `j` as text. Bytes that are not UTF-8 (a client's, quoted back in a message) become
// U+FFFD instead of making nlohmann::json throw.
std::string dump_json(const nlohmann::json& j);

// "`a`, `b` or `c`"
std::string expected_list(std::initializer_list<std::string_view> names);

// Parses `text` as JSON.
Result<nlohmann::json> parse_json(const std::string& text);

// `j` must be an object (`where` names it: "the body", "`machine-config`") with every
// `required` field, and no field outside `required` and `optional`.
Result<void> check_object(const nlohmann::json& j, std::string_view where,
                          std::initializer_list<std::string_view> required,
                          std::initializer_list<std::string_view> optional = {});

// Field `field` of object `j` (its path `where` for messages), as a type.
Result<std::string> get_string(const nlohmann::json& j, const char* field, std::string_view where);
Result<bool> get_bool(const nlohmann::json& j, const char* field, std::string_view where);
Result<uint64_t> get_u64(const nlohmann::json& j, const char* field, std::string_view where);
// A string that must be one of `values`.
Result<std::string> one_of(const nlohmann::json& j, const char* field, std::string_view where,
                           std::initializer_list<std::string_view> values);

}  // namespace vireo::api
