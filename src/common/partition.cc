// common/partition.cc — partition map codec, validation and proportional split.
#include "common/partition.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>

#include "common/error.h"
#include "common/json_fields.h"

namespace ringtrain {
namespace {

// Measured figures: finite and >= 0 (a NaN or negative figure in a znode is refused).
double FigureField(const nlohmann::json& j, const char* key) {
  if (!j.contains(key)) return 0;
  const nlohmann::json& v = j.at(key);
  if (!v.is_number()) throw nlohmann::json::type_error::create(302, "number expected", &v);
  const double d = v.get<double>();
  if (!std::isfinite(d) || d < 0)
    throw nlohmann::json::type_error::create(
        302, std::string("'") + key + "' must be a finite number >= 0", &v);
  return d;
}

}  // namespace

std::string ToJson(const PartitionMap& m) {
  nlohmann::json parts = nlohmann::json::array();
  for (std::size_t r = 0; r < m.parts.size(); ++r) {
    const Part& p = m.parts[r];
    parts.push_back({{"rank", r},
                     {"begin", p.begin},
                     {"end", p.end},
                     {"first_row", p.first_row},
                     {"rows", p.rows},
                     {"nonzeros", p.nonzeros},
                     {"compute_s", p.compute_s},
                     {"rows_per_s", p.rows_per_s}});
  }
  nlohmann::json j = {{"generation", m.generation},
                      {"ring_generation", m.ring_generation},
                      {"epoch", m.epoch},
                      {"source", m.source},
                      {"unit", m.unit},
                      {"source_size", m.source_size},
                      {"total_rows", m.total_rows},
                      {"reason", m.reason},
                      {"parts", parts}};
  return j.dump();
}

std::string PartitionMapFault(const PartitionMap& m) {
  if (m.generation < 1) return "generation must be >= 1";
  if (m.ring_generation < 0 || m.epoch < 0) return "ring_generation and epoch must be >= 0";
  if (m.unit != "bytes" && m.unit != "rows") return "unit must be \"bytes\" or \"rows\"";
  if (m.parts.empty()) return "no parts";
  if (m.total_rows < 0 || m.source_size < 0) return "total_rows and source_size must be >= 0";
  std::int64_t row = 0, pos = 0;
  for (std::size_t r = 0; r < m.parts.size(); ++r) {
    const Part& p = m.parts[r];
    const std::string at = "part " + std::to_string(r) + ": ";
    if (p.rows < 0 || p.nonzeros < 0) return at + "rows and nonzeros must be >= 0";
    if (p.first_row != row)
      return at + "first_row " + std::to_string(p.first_row) + " should be " + std::to_string(row) +
             " (parts must tile the rows)";
    if (p.begin != pos)
      return at + "begin " + std::to_string(p.begin) + " should be " + std::to_string(pos) +
             " (parts must tile the source)";
    if (p.end < p.begin) return at + "end before begin";
    if (m.unit == "rows" && p.end - p.begin != p.rows) return at + "a row range must hold its rows";
    if (p.rows > m.total_rows - row) return at + "more rows than the data holds";
    row += p.rows;
    pos = p.end;
  }
  if (row != m.total_rows)
    return "the parts hold " + std::to_string(row) + " rows, the data " +
           std::to_string(m.total_rows);
  if (pos != m.source_size)
    return "the parts end at " + std::to_string(pos) + ", the source at " +
           std::to_string(m.source_size);
  return "";
}

PartitionMap PartitionMapFromJson(const std::string& text, const std::string& where) {
  PartitionMap m;
  try {
    auto j = nlohmann::json::parse(text);
    m.generation = IntField<std::int64_t>(j, "generation");
    m.ring_generation = IntField<std::int64_t>(j, "ring_generation");
    m.epoch = IntField<std::int64_t>(j, "epoch");
    m.source = j.at("source").get<std::string>();
    m.unit = j.at("unit").get<std::string>();
    m.source_size = IntField<std::int64_t>(j, "source_size");
    m.total_rows = IntField<std::int64_t>(j, "total_rows");
    m.reason = j.value("reason", std::string{});
    const auto& parts = j.at("parts");
    if (!parts.is_array() || parts.size() > (std::size_t{1} << 20))
      throw nlohmann::json::type_error::create(302, "'parts' must be an array", &parts);
    for (std::size_t r = 0; r < parts.size(); ++r) {
      const auto& q = parts[r];
      if (IntField<std::int64_t>(q, "rank") != static_cast<std::int64_t>(r))
        throw nlohmann::json::type_error::create(302, "parts must be in rank order", &q);
      Part p;
      p.begin = IntField<std::int64_t>(q, "begin");
      p.end = IntField<std::int64_t>(q, "end");
      p.first_row = IntField<std::int64_t>(q, "first_row");
      p.rows = IntField<std::int64_t>(q, "rows");
      p.nonzeros = IntField<std::int64_t>(q, "nonzeros");
      p.compute_s = FigureField(q, "compute_s");
      p.rows_per_s = FigureField(q, "rows_per_s");
      m.parts.push_back(p);
    }
  } catch (const nlohmann::json::exception& e) {
    throw RendezvousError(std::string("malformed partition map: ") + e.what(), where,
                          "the map was not written by this version of ringtrain; delete it or "
                          "restart the job");
  }
  const std::string fault = PartitionMapFault(m);
  if (!fault.empty())
    throw RendezvousError("invalid partition map: " + fault, where,
                          "the map was not written by ringtrain; delete it or restart the job");
  return m;
}

std::vector<std::int64_t> ProportionalRows(std::int64_t total, std::span<const double> speeds,
                                           std::span<const double> fixed_s) {
  const std::size_t n = speeds.size();
  std::vector<std::int64_t> rows(n, 0);
  if (n == 0 || total <= 0) return rows;
  std::vector<double> s(speeds.begin(), speeds.end());
  double good_sum = 0;
  std::size_t good = 0;
  for (double v : s)
    if (std::isfinite(v) && v > 0) good_sum += v, ++good;
  const double fill = good > 0 ? good_sum / static_cast<double>(good) : 1.0;
  for (double& v : s)
    if (!(std::isfinite(v) && v > 0)) v = fill;
  // The share of each rank: its speed, or with fixed times s_r (T - fixed_r) over the ranks
  // whose fixed time is below T.
  std::vector<double> f(n, 0.0);
  bool any_fixed = false;
  for (std::size_t r = 0; r < n && r < fixed_s.size(); ++r)
    if (std::isfinite(fixed_s[r]) && fixed_s[r] > 0) f[r] = fixed_s[r], any_fixed = true;
  if (any_fixed) {
    std::vector<bool> out(n, false);
    for (bool changed = true; changed;) {
      changed = false;
      double num = static_cast<double>(total), den = 0;
      for (std::size_t r = 0; r < n; ++r)
        if (!out[r]) num += s[r] * f[r], den += s[r];
      const double t = num / den;
      for (std::size_t r = 0; r < n; ++r)
        if (!out[r] && f[r] >= t) out[r] = true, changed = true;
      if (!changed)
        for (std::size_t r = 0; r < n; ++r) s[r] = out[r] ? 0.0 : s[r] * (t - f[r]);
    }
  }
  const double sum = std::accumulate(s.begin(), s.end(), 0.0);
  std::vector<double> frac(n);
  std::int64_t given = 0;
  for (std::size_t r = 0; r < n; ++r) {
    const double quota = static_cast<double>(total) * (s[r] / sum);
    const double whole = std::floor(quota);
    rows[r] = std::min(total, static_cast<std::int64_t>(whole));
    frac[r] = quota - whole;
    given += rows[r];
  }
  // Rounding may leave a few rows (or, at the limit of double precision, give too many).
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return frac[a] > frac[b]; });
  for (std::size_t k = 0; given < total; k = (k + 1) % n) {
    ++rows[order[k]];
    ++given;
  }
  for (std::size_t k = n; given > total; k = (k + n - 1) % n) {
    const std::size_t r = order[(k + n - 1) % n];
    if (rows[r] > 0) --rows[r], --given;
  }
  return rows;
}

}  // namespace ringtrain
