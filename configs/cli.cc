#include "configs/cli.h"

#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace sam2::config {
namespace {

const FlagSpec* FindSpec(const std::vector<FlagSpec>& specs,
                         const std::string& name) {
  for (const FlagSpec& spec : specs) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

std::vector<FlagSpec> CommonFlags() {
  return {
      {"config", "NAME|FILE",
       "experiment: configs/NAME.pbtxt, or a path to a .pbtxt file", ""},
      {"set", "TEXT",
       "text-format override merged on top of the config, e.g. "
       "--set='trainer { max_epochs: 2 }' (repeatable, applied in order)",
       ""},
      {"print_config", "",
       "print the resolved config (defaults filled in) and exit", ""},
      {"help", "", "show this help", ""},
  };
}

}  // namespace

std::string CommandLine::Get(const std::string& name) const {
  auto it = values.find(name);
  return it == values.end() ? "" : it->second;
}

absl::StatusOr<int64_t> CommandLine::GetInt(const std::string& name) const {
  int64_t value = 0;
  if (!absl::SimpleAtoi(Get(name), &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " must be an integer, got '", Get(name), "'"));
  }
  return value;
}

absl::StatusOr<CommandLine> ParseCommandLine(
    int argc, char** argv, const std::vector<FlagSpec>& job_flags) {
  CommandLine cl;
  for (const FlagSpec& spec : job_flags) {
    if (!spec.default_value.empty()) cl.values[spec.name] = spec.default_value;
  }
  const std::vector<FlagSpec> common = CommonFlags();
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-h" || arg == "--help" || arg == "-help") {
      cl.help = true;
      continue;
    }
    if (!absl::StartsWith(arg, "--")) {
      cl.positional.push_back(arg);
      continue;
    }
    const size_t eq = arg.find('=');
    const std::string name =
        arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    const FlagSpec* spec = FindSpec(common, name);
    if (spec == nullptr) spec = FindSpec(job_flags, name);
    if (spec == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag ", arg, " (see --help)"));
    }
    std::string value;
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
    } else if (spec->value_name.empty()) {
      value = "true";
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("flag --", name, " needs a value ", spec->value_name));
    }
    if (name == "config") {
      cl.config = value;
    } else if (name == "set") {
      cl.sets.push_back(value);
    } else if (name == "print_config") {
      cl.print_config = value != "false";
    } else {
      cl.values[name] = value;
    }
  }
  return cl;
}

std::string HelpText(const std::string& usage,
                     const std::vector<FlagSpec>& job_flags) {
  std::string text = usage + "\n\nFlags:\n";
  auto add = [&text](const FlagSpec& spec) {
    std::string head = "  --" + spec.name;
    if (!spec.value_name.empty()) head += "=" + spec.value_name;
    absl::StrAppend(&text, head, "\n      ", spec.help);
    if (!spec.default_value.empty()) {
      absl::StrAppend(&text, " (default: ", spec.default_value, ")");
    }
    text += "\n";
  };
  for (const FlagSpec& spec : CommonFlags()) add(spec);
  for (const FlagSpec& spec : job_flags) add(spec);
  return text;
}

std::optional<CommandLine> ParseJobCommandLine(
    const std::string& program, const std::string& usage, int argc, char** argv,
    const std::vector<FlagSpec>& job_flags, bool allow_positional,
    int* exit_code) {
  absl::StatusOr<CommandLine> cl = ParseCommandLine(argc, argv, job_flags);
  if (!cl.ok()) {
    std::cerr << program << ": " << cl.status().message() << "\n";
    *exit_code = 2;
    return std::nullopt;
  }
  if (cl->help) {
    std::cout << HelpText(usage, job_flags);
    *exit_code = 0;
    return std::nullopt;
  }
  if (!allow_positional && !cl->positional.empty()) {
    std::cerr << program << ": unexpected argument '" << cl->positional[0]
              << "' (see --help)\n";
    *exit_code = 2;
    return std::nullopt;
  }
  return *std::move(cl);
}

}  // namespace sam2::config
