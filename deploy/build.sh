#!/usr/bin/env bash
# Build the Lambda code: gtconsensus and its core dependencies only (numpy, Pillow,
# pydantic) plus its `fast` extra (zlib-ng, 0.4 MB: the PNGs inflate about 15 times
# faster; src/gtconsensus/zlibs.py), as manylinux wheels for the Lambda runtime (Python 3.12, x86_64), into
# one folder that deploy/template.yaml uses as CodeUri, plus a zip of it.
#
#   bash deploy/build.sh                  # -> deploy/build/package/ and deploy/build/gtconsensus-lambda.zip
#   bash deploy/build.sh OUT              # -> OUT/ (no zip)
#   bash deploy/build.sh OUT --local      # for this machine's Python and platform (tests, benchmarks)
#
# boto3 is not included: the Lambda runtime ships it. The python3.12 runtime runs on Amazon
# Linux 2023 (glibc 2.34), so manylinux_2_28 wheels (numpy >= 2.3 has no older ones) and
# manylinux2014 wheels both fit. For arm64 functions set GTCONSENSUS_LAMBDA_ARCH=aarch64
# (and Architectures: [arm64] in the template).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
out=${1:-$here/build/package}
mode=${2:-lambda}
python=${PYTHON:-python3}
arch=${GTCONSENSUS_LAMBDA_ARCH:-x86_64}
python_version=${GTCONSENSUS_LAMBDA_PYTHON:-3.12}

wheels=$(mktemp -d)
trap 'rm -rf "$wheels"' EXIT
rm -rf "$out"
mkdir -p "$out"

# gtconsensus itself is pure Python: one wheel from the source tree.
"$python" -m pip wheel --quiet --no-deps --wheel-dir "$wheels" "$root"
wheel=$(ls "$wheels"/gtconsensus-*.whl)

if [ "$mode" = "--local" ]; then
    "$python" -m pip install --quiet --no-compile --target "$out" "$wheel[fast]"
else
    "$python" -m pip install --quiet --no-compile --target "$out" \
        --platform "manylinux_2_28_$arch" --platform "manylinux2014_$arch" \
        --python-version "$python_version" \
        --implementation cp --only-binary=:all: "$wheel[fast]"
fi
rm -rf "$out/bin"  # console scripts are of no use in a Lambda

if [ "$#" -eq 0 ]; then
    archive="$here/build/gtconsensus-lambda.zip"
    rm -f "$archive"
    (cd "$out" && "$python" -c 'import shutil, sys; shutil.make_archive(sys.argv[1], "zip", ".")' "${archive%.zip}")
    echo "built $out and $archive"
else
    echo "built $out"
fi
