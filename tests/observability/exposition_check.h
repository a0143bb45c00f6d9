#ifndef SEMAPHORED_TESTS_OBSERVABILITY_EXPOSITION_CHECK_H_
#define SEMAPHORED_TESTS_OBSERVABILITY_EXPOSITION_CHECK_H_

// A small checker of the Prometheus text format 0.0.4, for tests.

#include <cstdlib>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace semaphored::internal {

struct Exposition {
  std::string error;                          // empty when the text is well formed
  std::map<std::string, std::string> types;   // family -> counter|gauge|histogram
  std::map<std::string, std::string> helps;   // family -> help text
  std::map<std::string, double> samples;      // "name{labels}" -> value
  std::set<std::string> label_names;
};

// The family a sample belongs to: histogram series drop their suffix.
inline std::string FamilyOf(const std::string& name, const Exposition& e) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    if (absl::EndsWith(name, suffix)) {
      const std::string base = name.substr(0, name.size() - std::string(suffix).size());
      auto it = e.types.find(base);
      if (it != e.types.end() && it->second == "histogram") return base;
    }
  }
  return name;
}

inline Exposition ParseExposition(const std::string& text) {
  Exposition e;
  static const std::regex kSample(
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ([^ ]+)$)");
  static const std::regex kLabel(R"(^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)\"$)");
  if (text.empty() || text.back() != '\n') e.error = "does not end with a newline";
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    ++line_number;
    const std::string l(line);
    auto fail = [&](const std::string& why) {
      if (e.error.empty()) e.error = "line " + std::to_string(line_number) + ": " + why + ": " + l;
    };
    if (absl::StartsWith(l, "# HELP ")) {
      const std::string rest = l.substr(7);
      const size_t space = rest.find(' ');
      if (space == std::string::npos) fail("HELP without text");
      else e.helps[rest.substr(0, space)] = rest.substr(space + 1);
      continue;
    }
    if (absl::StartsWith(l, "# TYPE ")) {
      std::vector<std::string> parts = absl::StrSplit(l.substr(7), ' ');
      if (parts.size() != 2) { fail("bad TYPE"); continue; }
      if (e.helps.count(parts[0]) == 0) fail("TYPE before HELP");
      if (e.types.count(parts[0]) != 0) fail("TYPE twice");
      e.types[parts[0]] = parts[1];
      continue;
    }
    if (absl::StartsWith(l, "#")) continue;
    std::smatch m;
    if (!std::regex_match(l, m, kSample)) { fail("not a sample"); continue; }
    const std::string name = m[1];
    if (e.types.count(FamilyOf(name, e)) == 0) fail("sample without TYPE");
    if (m[2].matched) {
      // Split on commas outside quotes.
      std::string labels = m[3];
      std::string current;
      bool quoted = false, escaped = false;
      std::vector<std::string> pairs;
      for (char c : labels) {
        if (escaped) { escaped = false; current += c; continue; }
        if (c == '\\') { escaped = true; current += c; continue; }
        if (c == '"') quoted = !quoted;
        if (c == ',' && !quoted) { pairs.push_back(current); current.clear(); continue; }
        current += c;
      }
      pairs.push_back(current);
      for (const std::string& p : pairs) {
        std::smatch lm;
        if (!std::regex_match(p, lm, kLabel)) fail("bad label " + p);
        else e.label_names.insert(lm[1]);
      }
    }
    const std::string value = m[4];
    double v = 0;
    if (value == "+Inf" || value == "-Inf" || value == "NaN") {
      v = value == "-Inf" ? -1e308 : 1e308;
    } else if (!absl::SimpleAtod(value, &v)) {
      fail("bad value");
    }
    const std::string series = m[2].matched ? name + m[2].str() : name;
    if (e.samples.count(series) != 0) fail("duplicate series");
    e.samples[series] = v;
  }
  return e;
}

}  // namespace semaphored::internal

#endif  // SEMAPHORED_TESTS_OBSERVABILITY_EXPOSITION_CHECK_H_
