// The benchmark's latency samples and results: percentiles, the printed table, the JSON file.

#include "report.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace semaphored::bench {

PairStats PairStats::Sum(const std::vector<PairStats>& per, absl::Time start) {
  PairStats total;
  total.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  for (const PairStats& p : per) {
    total.latency.Merge(p.latency);
    total.pairs += p.pairs;
    total.failures += p.failures;
  }
  return total;
}

void Samples::Merge(const Samples& other) {
  ns_.insert(ns_.end(), other.ns_.begin(), other.ns_.end());
  sorted_ = false;
}

double Samples::PercentileUs(double p) {
  if (ns_.empty()) return 0;
  if (!sorted_) {
    std::sort(ns_.begin(), ns_.end());
    sorted_ = true;
  }
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * ns_.size()));
  rank = std::clamp<size_t>(rank, 1, ns_.size());
  return ns_[rank - 1] / 1e3;
}

double Samples::MeanUs() const {
  if (ns_.empty()) return 0;
  long double sum = std::accumulate(ns_.begin(), ns_.end(), 0.0L);
  return static_cast<double>(sum / ns_.size() / 1e3);
}

namespace {

std::string FormatValue(double v) {
  if (v >= 100000) return absl::StrFormat("%.0f", v);
  if (v >= 100) return absl::StrFormat("%.1f", v);
  return absl::StrFormat("%.3g", v);
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += absl::StrFormat("\\u%04x", c);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string JsonNumber(double v) {
  if (!std::isfinite(v)) return "null";
  return absl::StrFormat("%.6g", v);
}

}  // namespace

void Report::PrintTable(std::ostream& out) const {
  out << absl::StrFormat("%-13s %-44s %12s %-3s %9s  %-32s %s\n", "workload", "metric",
                         "value", "", "x floor", "target", "result");
  out << std::string(123, '-') << "\n";
  for (const Result& r : results_) {
    std::string ratio = r.floor_ratio ? absl::StrFormat("%.3f", *r.floor_ratio) : "-";
    std::string mark = !r.pass ? "" : (*r.pass ? "PASS" : "MISS");
    out << absl::StrFormat("%-13s %-44s %12s %-3s %9s  %-32s %s\n", r.workload, r.metric,
                           FormatValue(r.value), r.unit, ratio, r.target, mark);
  }
  for (const std::string& note : notes_) out << "note: " << note << "\n";
}

bool Report::WriteJson(const std::string& path, double elapsed_s) const {
  std::ofstream out(path);
  if (!out) return false;
  out << "{\n  \"elapsed_s\": " << JsonNumber(elapsed_s) << ",\n  \"results\": [\n";
  for (size_t i = 0; i < results_.size(); ++i) {
    const Result& r = results_[i];
    out << "    {\"workload\": " << JsonString(r.workload)
        << ", \"metric\": " << JsonString(r.metric) << ", \"value\": " << JsonNumber(r.value)
        << ", \"unit\": " << JsonString(r.unit) << ", \"floor_ratio\": "
        << (r.floor_ratio ? JsonNumber(*r.floor_ratio) : "null")
        << ", \"target\": " << JsonString(r.target) << ", \"pass\": "
        << (!r.pass ? "null" : (*r.pass ? "true" : "false")) << "}"
        << (i + 1 < results_.size() ? "," : "") << "\n";
  }
  out << "  ],\n  \"notes\": [";
  for (size_t i = 0; i < notes_.size(); ++i) {
    out << (i ? ", " : "") << JsonString(notes_[i]);
  }
  out << "]\n}\n";
  return static_cast<bool>(out);
}

}  // namespace semaphored::bench
