#!/usr/bin/env bash
# make check: the package as an R user gets it. Builds the source tarball,
# checks that it carries no build leftovers, installs it with
# install.packages() into a library of its own and runs a flow from it, then
# runs R CMD check --no-manual on it. Fails on an ERROR or a WARNING; NOTEs
# are reported (the README's development section explains the ones expected).
#
#   tools/check-package.sh OUT_DIR [R CMD check options, e.g. --no-tests]
set -euo pipefail

out_dir=$1
shift
repo=$(pwd)
rm -rf "$out_dir"
mkdir -p "$out_dir/lib"
out_dir=$(cd "$out_dir" && pwd)

(cd "$out_dir" && R CMD build "$repo")
tarball=$(ls "$out_dir"/metaflow_*.tar.gz)

if tar -tzf "$tarball" | grep -E '__pycache__|\.pyc$|\.egg-info|(^|/)\.venv[^/]*/|(^|/)\.git$'; then
  echo "check-package: $(basename "$tarball") holds the build leftovers listed above" >&2
  exit 1
fi

echo "* installing $(basename "$tarball") with install.packages(repos = NULL)"
Rscript -e 'install.packages(commandArgs(TRUE)[1], repos = NULL, lib = commandArgs(TRUE)[2], quiet = TRUE)' \
  "$tarball" "$out_dir/lib"
flow_dir=$(mktemp -d)
trap 'rm -rf "$flow_dir"' EXIT
(
  cd "$flow_dir"
  export R_LIBS="$out_dir/lib"
  Rscript -e 'cat("  engine installed at", system.file("python", "metaflow_core", package = "metaflow"), "\n")'
  Rscript "$repo/inst/examples/hello_flow.R" run 2>&1 | grep -F 'HelloFlow total: 30' ||
    { echo "check-package: the installed package did not run inst/examples/hello_flow.R" >&2; exit 1; }
)

status=0
R CMD check --no-manual "$@" --output="$out_dir" "$tarball" || status=$?
summary=$(grep '^Status:' "$out_dir/metaflow.Rcheck/00check.log" || echo "Status: none (R CMD check stopped early)")
if [[ $status -ne 0 || $summary == *ERROR* || $summary == *WARNING* || $summary == *none* ]]; then
  echo "check-package: R CMD check failed: $summary" >&2
  exit 1
fi
echo "check-package: $summary"
