#!/usr/bin/env bash
# A fresh Debian machine to a trained agent and pictures of where it looks: installs the packages, builds,
# trains on minatar:breakout for a few minutes, plays the trained agent and draws its attention (a GIF, PNGs and
# an interactive page of one episode).
#   FRAMES=N   how long to train (default 300000 environment steps: about 6 minutes on 2 idle cores)
#   OUT=DIR    where the run goes (default runs/breakout)
set -euo pipefail
cd "$(dirname "$0")/.."
frames=${FRAMES:-300000}
out=${OUT:-runs/breakout}
bash scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build -Dwerror=true
meson compile -C build
./build/examples/attn-train --env minatar:breakout --frames "$frames" --out "$out"
./build/examples/attn-play --run "$out" --env minatar:breakout --episodes 10 --html "$out/viewer"
bash examples/plot_curve.sh "$out/metrics.jsonl" "$out/curve.png" "minatar:breakout" >/dev/null
cat <<MSG

Done. Everything is in $out/:
  checkpoint:      $out/checkpoint.safetensors
  learning curve:  $out/curve.png
  attention GIF:   $out/attention.gif   (the frame, then each query's map over it, step by step)
  attention PNGs:  $out/step_*.png
  viewer:          file://$(cd "$out/viewer" && pwd)/index.html   (the first episode, step by step; docs/viewer.md)
Train longer:      ./build/examples/attn-train --env minatar:breakout --frames 2000000 --out $out --resume
MSG
