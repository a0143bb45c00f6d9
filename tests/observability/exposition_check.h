#ifndef SEMAPHORED_TESTS_OBSERVABILITY_EXPOSITION_CHECK_H_
#define SEMAPHORED_TESTS_OBSERVABILITY_EXPOSITION_CHECK_H_

// A small checker of the Prometheus text format 0.0.4, for tests.

#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace semaphored::server {

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

inline bool IsNameChar(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
         (!first && c >= '0' && c <= '9');
}

// Parses `{a="x",b="y"}` starting at text[*i] == '{'; adds the label names.
inline bool ParseLabels(const std::string& text, size_t* i, std::set<std::string>* names) {
  ++*i;  // '{'
  while (true) {
    const size_t start = *i;
    while (*i < text.size() && IsNameChar(text[*i], *i == start) && text[*i] != ':') ++*i;
    if (*i == start || *i + 1 >= text.size() || text[*i] != '=' || text[*i + 1] != '"') {
      return false;
    }
    names->insert(text.substr(start, *i - start));
    *i += 2;
    while (*i < text.size() && text[*i] != '"') {
      if (text[*i] == '\\') {
        if (*i + 1 >= text.size() || std::string("\\\"n").find(text[*i + 1]) == std::string::npos) {
          return false;
        }
        ++*i;
      }
      ++*i;
    }
    if (*i >= text.size()) return false;
    ++*i;  // closing quote
    if (*i < text.size() && text[*i] == ',') {
      ++*i;
      continue;
    }
    if (*i < text.size() && text[*i] == '}') {
      ++*i;
      return true;
    }
    return false;
  }
}

inline Exposition ParseExposition(const std::string& text) {
  Exposition e;
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
    size_t i = 0;
    while (i < l.size() && IsNameChar(l[i], i == 0)) ++i;
    if (i == 0) { fail("no metric name"); continue; }
    const std::string name = l.substr(0, i);
    if (e.types.count(FamilyOf(name, e)) == 0) fail("sample without TYPE");
    if (i < l.size() && l[i] == '{' && !ParseLabels(l, &i, &e.label_names)) {
      fail("bad labels");
      continue;
    }
    const std::string series = l.substr(0, i);
    if (i >= l.size() || l[i] != ' ') { fail("no space before the value"); continue; }
    const std::string value = l.substr(i + 1);
    double v = 0;
    if (value == "+Inf" || value == "-Inf" || value == "NaN") {
      v = value == "-Inf" ? -1e308 : 1e308;
    } else if (value.find(' ') != std::string::npos || !absl::SimpleAtod(value, &v)) {
      fail("bad value");
    }
    if (e.samples.count(series) != 0) fail("duplicate series");
    e.samples[series] = v;
  }
  return e;
}

}  // namespace semaphored::server

#endif  // SEMAPHORED_TESTS_OBSERVABILITY_EXPOSITION_CHECK_H_
