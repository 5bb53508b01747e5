# Shared by the demo scripts (sourced, not run): colours when the output is
# a terminal, and the helpers that print each step and command.
# A script sets `shown_dirs` (directories stripped from printed commands)
# before calling `run`.

bold=$'\e[1m'; green=$'\e[32m'; red=$'\e[31m'; reset=$'\e[0m'
[ -t 1 ] || { bold=; green=; red=; reset=; }
shown_dirs=()

# step TITLE...: a section heading.
step() { echo; echo "${bold}== $*${reset}"; }

# run CMD...: prints the command (without the directories in shown_dirs) to stderr, then runs it.
run() {
  local line="\$ $*" dir
  for dir in "${shown_dirs[@]}"; do line=${line//"$dir/"/}; done
  echo "$line" >&2
  "$@"
}

# fail MESSAGE: says what went wrong and ends the demo.
fail() { echo "${red}demo: $*${reset}"; exit 1; }
