#include "api/json_checks.h"

#include <fmt/format.h>

namespace vireo::api {

using nlohmann::json;

namespace {
std::string field_name(std::string_view where, const char* field) {
  return where.empty() ? fmt::format("`{}`", field) : fmt::format("`{}.{}`", where, field);
}
}  // namespace

std::string dump_json(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string expected_list(std::initializer_list<std::string_view> names) {
  std::string s;
  size_t i = 0;
  for (auto n : names) {
    if (i) s += (i + 1 == names.size()) ? " or " : ", ";
    s += fmt::format("`{}`", n);
    ++i;
  }
  return s;
}

Result<json> parse_json(const std::string& text) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for huge numbers
    std::string_view what = e.what();  // "[json.exception.parse_error.101] parse error at ..."
    if (auto at = what.find("] "); at != std::string_view::npos) what.remove_prefix(at + 2);
    return Error(std::string(what));
  }
}

Result<void> check_object(const json& j, std::string_view where,
                          std::initializer_list<std::string_view> required,
                          std::initializer_list<std::string_view> optional) {
  const std::string in = where.empty() ? "" : fmt::format(" in `{}`", where);
  if (!j.is_object()) return Error(fmt::format("invalid type{}: expected a JSON object", in));
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (auto f : required) known = known || key == f;
    for (auto f : optional) known = known || key == f;
    if (!known) {
      std::string all;
      size_t n = 0;
      for (auto f : required) all += (n++ ? ", `" : "`") + std::string(f) + "`";
      for (auto f : optional) all += (n++ ? ", `" : "`") + std::string(f) + "`";
      return Error(fmt::format("unknown field `{}`{}, expected {}{}", key, in,
                               n > 1 ? "one of " : "", all));
    }
  }
  for (auto f : required)
    if (!j.contains(f)) return Error(fmt::format("missing field `{}`{}", f, in));
  return {};
}

Result<std::string> get_string(const json& j, const char* field, std::string_view where) {
  const json& v = j.at(field);
  if (!v.is_string())
    return Error(fmt::format("invalid type for {}: {}, expected a string", field_name(where, field), dump_json(v)));
  return v.get<std::string>();
}

Result<bool> get_bool(const json& j, const char* field, std::string_view where) {
  const json& v = j.at(field);
  if (!v.is_boolean())
    return Error(fmt::format("invalid type for {}: {}, expected a boolean", field_name(where, field), dump_json(v)));
  return v.get<bool>();
}

Result<uint64_t> get_u64(const json& j, const char* field, std::string_view where) {
  const json& v = j.at(field);
  if (!v.is_number_unsigned())
    return Error(fmt::format("invalid type for {}: {}, expected an unsigned integer",
                             field_name(where, field), dump_json(v)));
  return v.get<uint64_t>();
}

Result<std::string> one_of(const json& j, const char* field, std::string_view where,
                           std::initializer_list<std::string_view> values) {
  VIREO_ASSIGN_OR_RETURN(std::string s, get_string(j, field, where));
  for (auto allowed : values)
    if (s == allowed) return s;
  return Error(fmt::format("unknown variant `{}` for {}, expected {}", s, field_name(where, field),
                           expected_list(values)));
}

}  // namespace vireo::api
