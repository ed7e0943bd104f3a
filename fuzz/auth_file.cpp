// libFuzzer target: arbitrary bytes as an auth file (--auth-file). Parsing
// must never crash; a refusal names the file and a line the text has; a
// set it accepts holds at most one token a line. The text's first two
// lines, as a glob and a queue name, must match exactly when a plain
// dynamic-programming matcher says they do.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "auth.hpp"

namespace {

/// Whether `glob` matches `name`, by a table of suffix matches.
bool reference_match(std::string_view glob, std::string_view name) {
  // at[i][j]: glob[i:] matches name[j:].
  std::vector<std::vector<char>> at(glob.size() + 1,
                                    std::vector<char>(name.size() + 1, 0));
  at[glob.size()][name.size()] = 1;
  for (size_t i = glob.size(); i-- > 0;)
    for (size_t j = name.size() + 1; j-- > 0;) {
      if (glob[i] == '*')
        at[i][j] = at[i + 1][j] || (j < name.size() && at[i][j + 1]);
      else
        at[i][j] = j < name.size() && (glob[i] == '?' || glob[i] == name[j])
                   && at[i + 1][j + 1];
    }
  return at[0][0] != 0;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace actormq::http::auth;
  std::string_view text{reinterpret_cast<const char*>(data), size};
  auto lines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n'))
               + 1;
  auto parsed = token_set::parse(text, "f");
  if (auto err = std::get_if<load_error>(&parsed)) {
    char* end = nullptr;
    auto line = std::strtoul(err->text.c_str() + 2, &end, 10);
    if (err->text.rfind("f:", 0) != 0 || *end != ':' || line < 1
        || line > lines)
      std::abort();
  } else {
    auto& set = std::get<0>(parsed);
    if (set->size() > lines)
      std::abort();
    set->identify(text.substr(0, text.find('\n')));
  }
  auto first_end = std::min(text.find('\n'), text.size());
  auto glob = text.substr(0, std::min<size_t>(first_end, 100));
  auto rest = text.substr(std::min(first_end + 1, text.size()));
  auto name = rest.substr(0, std::min<size_t>(rest.find('\n'), 100));
  if (glob_matches(glob, name) != reference_match(glob, name))
    std::abort();
  return 0;
}
