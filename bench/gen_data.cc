// bench/gen_data.cc — seeded synthetic data for benchmarks: LIBSVM or CSV on stdout/--out.
//
//   gen_data --rows N --features F --density D --classes K --seed S --format libsvm|csv
//            [--out FILE]
// Each row draws its class uniformly, about D*F nonzero features (Bernoulli per feature),
// values ~ N(center[class][j], 1) so the classes are learnable. Same flags -> same bytes.
#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  CLI::App app{"seeded synthetic LIBSVM/CSV data"};
  long long rows = 1000, features = 100;
  double density = 0.1;
  int classes = 2;
  unsigned seed = 1;
  std::string format = "libsvm", out_path;
  app.add_option("--rows", rows)->check(CLI::PositiveNumber);
  app.add_option("--features", features)->check(CLI::PositiveNumber);
  app.add_option("--density", density)->check(CLI::Range(0.0, 1.0));
  app.add_option("--classes", classes)->check(CLI::Range(2, 1000));
  app.add_option("--seed", seed);
  app.add_option("--format", format)->check(CLI::IsMember({"libsvm", "csv"}));
  app.add_option("--out", out_path, "output file (default stdout)");
  CLI11_PARSE(app, argc, argv);

  std::FILE* out = out_path.empty() ? stdout : std::fopen(out_path.c_str(), "wb");
  if (out == nullptr) {
    std::fprintf(stderr, "gen_data: cannot open %s\n", out_path.c_str());
    return 2;
  }
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal(0, 1);
  std::uniform_real_distribution<double> uniform(0, 1);
  std::vector<double> centers(static_cast<std::size_t>(classes * features));
  for (double& c : centers) c = normal(gen);
  std::string line;
  char buf[64];
  auto put = [&](double v) {
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 6);
    line.append(buf, r.ptr);
  };
  if (format == "csv") {
    line = "label";
    for (long long j = 1; j <= features; ++j) line += ",f" + std::to_string(j);
    line += '\n';
    std::fputs(line.c_str(), out);
  }
  for (long long r = 0; r < rows; ++r) {
    const int c = static_cast<int>(gen() % static_cast<unsigned>(classes));
    line.clear();
    line += std::to_string(classes == 2 ? (c == 0 ? -1 : 1) : c);
    for (long long j = 0; j < features; ++j) {
      const bool nz = uniform(gen) < density;
      if (format == "libsvm") {
        if (!nz) continue;
        line += ' ';
        line += std::to_string(j + 1);
        line += ':';
        put(centers[static_cast<std::size_t>(c * features + j)] + normal(gen));
      } else {
        line += ',';
        if (nz) {
          put(centers[static_cast<std::size_t>(c * features + j)] + normal(gen));
        } else {
          line += '0';
        }
      }
    }
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), out);
  }
  if (out != stdout) std::fclose(out);
  return 0;
}
