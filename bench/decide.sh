#!/usr/bin/env bash
# Policy decision time, 100 vs 10,000 rules (criterion; crates/policy/benches/decide.rs).
#
#   bash bench/decide.sh
#
# Runs the criterion bench and prints, per path, the median (and mean) time for 100 and 10,000
# rules and their ratio (issue 6 target: 10,000 ÷ 100 ≤ 1.5).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
cargo bench --locked -p support-access-policy --bench decide >&2
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps --locked |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
python3 - "$TARGET_DIR/criterion" <<'PY'
import json, pathlib, sys
root = pathlib.Path(sys.argv[1])
print("| path | 100 rules: median ns (mean) | 10,000 rules: median ns (mean) | ratio of medians |")
print("|---|---:|---:|---:|")
for group in sorted(root.glob("decide_*")):
    def estimates(n):
        data = json.loads((group / str(n) / "new" / "estimates.json").read_text())
        return data["median"]["point_estimate"], data["mean"]["point_estimate"]
    (small, small_mean), (large, large_mean) = estimates(100), estimates(10000)
    print(f"| {group.name.removeprefix('decide_')} | {small:.1f} ({small_mean:.1f}) "
          f"| {large:.1f} ({large_mean:.1f}) | {large / small:.2f} |")
PY
