#!/usr/bin/env bash
# Policy decision time, 100 vs 10,000 rules (criterion; crates/policy/benches/decide.rs).
#
#   bash bench/decide.sh
#
# Runs the criterion bench and prints, per path, the mean time for 100 and for 10,000
# rules and their ratio (issue 6 target: 10,000 ÷ 100 ≤ 1.5).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
cargo bench --locked -p support-access-policy --bench decide >&2
python3 - "$ROOT/target/criterion" <<'PY'
import json, pathlib, sys
root = pathlib.Path(sys.argv[1])
print("| path | 100 rules ns | 10,000 rules ns | ratio |")
print("|---|---:|---:|---:|")
for group in sorted(root.glob("decide_*")):
    def mean(n):
        data = json.loads((group / str(n) / "new" / "estimates.json").read_text())
        return data["mean"]["point_estimate"]
    small, large = mean(100), mean(10000)
    print(f"| {group.name.removeprefix('decide_')} | {small:.1f} | {large:.1f} | {large / small:.2f} |")
PY
