#!/usr/bin/env bash
# scripts/fashion_to_libsvm.sh — Fashion-MNIST (IDX, gzip) to LIBSVM text, for liblinear and
# the benchmarks. Pixels scaled to [0,1] like the IDX reader (value/255, %.6g), zero pixels
# omitted, 1-based feature index = pixel index + 1.
#   scripts/fashion_to_libsvm.sh OUT_DIR [--binary]   (--binary: label 1 for class 0, else -1)
# Writes OUT_DIR/fashion-train.svm and OUT_DIR/fashion-test.svm (or *-0vr.svm with --binary).
set -euo pipefail
src=${FASHION_DIR:-/usr/share/datasets/fashion-mnist}
out=${1:?usage: fashion_to_libsvm.sh OUT_DIR [--binary]}
binary=${2:-}
mkdir -p "$out"
convert() {  # images.gz labels.gz output
  python3 - "$1" "$2" "$3" "$binary" <<'PY'
import gzip, struct, sys
images, labels, out, binary = sys.argv[1:5]
with gzip.open(images, 'rb') as f:
    magic, n, rows, cols = struct.unpack('>IIII', f.read(16))
    if magic != 0x803: sys.exit(f'{images}: bad IDX magic {magic:#x}')
    pix = f.read()
with gzip.open(labels, 'rb') as f:
    magic, m = struct.unpack('>II', f.read(8))
    if magic != 0x801 or m != n: sys.exit(f'{labels}: bad magic or count {m} != {n}')
    lab = f.read()
d = rows * cols
with open(out, 'w') as o:
    for i in range(n):
        y = lab[i]
        if binary: y = 1 if y == 0 else -1
        row = pix[i * d:(i + 1) * d]
        o.write(str(y) + ''.join(f' {j + 1}:{v / 255:.6g}' for j, v in enumerate(row) if v) + '\n')
PY
}
suffix=$([[ "$binary" == --binary ]] && echo -0vr || echo "")
convert "$src/train-images-idx3-ubyte.gz" "$src/train-labels-idx1-ubyte.gz" "$out/fashion-train$suffix.svm"
convert "$src/t10k-images-idx3-ubyte.gz" "$src/t10k-labels-idx1-ubyte.gz" "$out/fashion-test$suffix.svm"
echo "$out/fashion-train$suffix.svm $out/fashion-test$suffix.svm"
