#!/bin/sh
# Rebuild the .tgz sub-chart archives of the corpus from archive-src/.
#   archive-src/<case>/<sub>/  ->  charts/<case>/charts/<sub>-<version>.tgz
# The archives are committed; run this only after changing archive-src/.
# The tar is made reproducible (sorted names, fixed owner and mtime, gzip -n).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
for src in "$here"/archive-src/*/*/; do
  src=${src%/}
  sub=$(basename "$src")
  case_name=$(basename "$(dirname "$src")")
  version=$(sed -n 's/^version: *//p' "$src/Chart.yaml" | tr -d '"')
  out="$here/charts/$case_name/charts/$sub-$version.tgz"
  mkdir -p "$(dirname "$out")"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 \
      -C "$(dirname "$src")" -cf - "$sub" | gzip -n -9 > "$out"
  echo "wrote ${out#"$here"/}"
done
