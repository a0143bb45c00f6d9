#ifndef SEMAPHORED_TESTS_OBSERVABILITY_JSON_CHECK_H_
#define SEMAPHORED_TESTS_OBSERVABILITY_JSON_CHECK_H_

// A strict parser for the flat JSON objects log lines are, for tests: an object whose
// values are strings, numbers or booleans. Strings are decoded (escapes, \uXXXX to
// UTF-8); numbers and booleans are kept as written.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace semaphored::server {

struct JsonValue {
  enum Kind { kString, kNumber, kBool } kind;
  std::string text;
};

class FlatJsonParser {
 public:
  // nullopt (and error()) when `text` is not one flat JSON object, or repeats a key.
  std::optional<std::vector<std::pair<std::string, JsonValue>>> Parse(absl::string_view text) {
    s_ = text;
    i_ = 0;
    std::vector<std::pair<std::string, JsonValue>> members;
    std::map<std::string, int> seen;
    if (!Eat('{')) return Fail("expected {");
    if (!Eat('}')) {
      do {
        std::string key;
        if (!String(&key)) return std::nullopt;
        if (seen[key]++) return Fail("duplicate key " + key);
        if (!Eat(':')) return Fail("expected :");
        JsonValue v;
        if (!Value(&v)) return std::nullopt;
        members.emplace_back(key, v);
      } while (Eat(','));
      if (!Eat('}')) return Fail("expected } or ,");
    }
    if (i_ != s_.size()) return Fail("trailing characters");
    return members;
  }
  const std::string& error() const { return error_; }

 private:
  std::nullopt_t Fail(const std::string& why) {
    error_ = why + " at " + std::to_string(i_);
    return std::nullopt;
  }
  bool Err(const std::string& why) {
    Fail(why);
    return false;
  }
  bool Eat(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  bool String(std::string* out) {
    if (!Eat('"')) return Err("expected string");
    while (i_ < s_.size()) {
      const auto c = static_cast<unsigned char>(s_[i_++]);
      if (c == '"') return true;
      if (c < 0x20) return Err("raw control character");
      if (c != '\\') {
        out->push_back(static_cast<char>(c));
        continue;
      }
      if (i_ >= s_.size()) break;
      const char e = s_[i_++];
      switch (e) {
        case '"': case '\\': case '/': out->push_back(e); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'u': {
          if (i_ + 4 > s_.size()) return Err("short \\u");
          uint32_t cp = 0;
          for (int k = 0; k < 4; ++k) {
            const char h = s_[i_++];
            cp <<= 4;
            if (h >= '0' && h <= '9') cp |= static_cast<uint32_t>(h - '0');
            else if (h >= 'a' && h <= 'f') cp |= static_cast<uint32_t>(h - 'a' + 10);
            else if (h >= 'A' && h <= 'F') cp |= static_cast<uint32_t>(h - 'A' + 10);
            else return Err("bad \\u digit");
          }
          AppendUtf8(cp, out);
          break;
        }
        default: return Err("bad escape");
      }
    }
    return Err("unterminated string");
  }
  bool Value(JsonValue* v) {
    if (i_ < s_.size() && s_[i_] == '"') {
      v->kind = JsonValue::kString;
      return String(&v->text);
    }
    for (const char* word : {"true", "false"}) {
      if (s_.substr(i_, std::string(word).size()) == word) {
        i_ += std::string(word).size();
        *v = {JsonValue::kBool, word};
        return true;
      }
    }
    const size_t start = i_;
    Eat('-');
    if (i_ >= s_.size() || s_[i_] < '0' || s_[i_] > '9') return Err("bad value");
    if (s_[i_] == '0' && i_ + 1 < s_.size() && s_[i_ + 1] >= '0' && s_[i_ + 1] <= '9') {
      return Err("leading zero");
    }
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    *v = {JsonValue::kNumber, std::string(s_.substr(start, i_ - start))};
    return true;
  }

  absl::string_view s_;
  size_t i_ = 0;
  std::string error_;
};

}  // namespace semaphored::server

#endif  // SEMAPHORED_TESTS_OBSERVABILITY_JSON_CHECK_H_
