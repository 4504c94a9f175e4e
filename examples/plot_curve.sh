#!/bin/sh
# The learning curve of a training run as a PNG: the mean episode return of the last 100 episodes against
# frames, and below it the loss when the metrics have one.
#
#   plot_curve.sh METRICS.jsonl [OUT.png] [TITLE]
#
# METRICS.jsonl is attn-train's metrics file: one JSON object per line with at least "frames" and "return_mean"
# and optionally "loss" (numbers; a line whose return_mean is null or missing, e.g. before the first episode
# ends, adds no point to the return curve). OUT.png defaults to METRICS with .png for .jsonl; TITLE to the
# metrics file's name. Needs gnuplot (Debian: gnuplot-nox) and a POSIX awk; no JSON library.
#
# REFS="DQN=10 AC(λ)=17.5" in the environment draws each NAME=VALUE as a dashed horizontal line on the return
# plot, labelled (published results to compare with, docs/results.md).
set -eu

usage() { echo "usage: $0 METRICS.jsonl [OUT.png] [TITLE]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 3 ] || usage
metrics=$1
out=${2:-${metrics%.jsonl}.png}
title=${3:-$(basename "$metrics")}
[ -r "$metrics" ] || { echo "$0: cannot read $metrics" >&2; exit 1; }
command -v gnuplot >/dev/null 2>&1 || { echo "$0: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 1; }

data=$(mktemp "${TMPDIR:-/tmp}/plot_curve.XXXXXX")
trap 'rm -f "$data"' EXIT
trap 'exit 130' INT TERM

# One row per metrics line: frames, return_mean, loss, with "?" where a value is missing. The keys are matched
# with their quotes, so "loss" does not pick up e.g. "value_loss". Prints: rows, rows with a return, rows with a
# loss, the largest frame count.
stats=$(awk '
    function value(key,    rest) {
        if (!match($0, "\"" key "\"[ \t]*:[ \t]*")) return "?"
        rest = substr($0, RSTART + RLENGTH)
        if (!match(rest, /^-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?/)) return "?"
        return substr(rest, 1, RLENGTH)
    }
    {
        f = value("frames")
        if (f == "?") next
        r = value("return_mean"); l = value("loss")
        print f, r, l > data
        rows++; returns += (r != "?"); losses += (l != "?")
        if (f + 0 > max) max = f + 0
    }
    END { printf "%d %d %d %.0f\n", rows, returns, losses, max }
' data="$data" "$metrics")
set -- $stats
rows=$1 returns=$2 losses=$3 max_frames=$4
[ "$returns" -gt 0 ] || { echo "$0: no line of $metrics has both \"frames\" and a numeric \"return_mean\"" >&2; exit 1; }

# Frames in millions once a run passes a million.
if [ "$max_frames" -ge 1000000 ]; then xscale=1e6 xlabel='frames (millions)'; else xscale=1 xlabel='frames'; fi
if echo 'set terminal pngcairo' | gnuplot >/dev/null 2>&1; then terminal='pngcairo font "sans,10"'; else terminal=png; fi
if [ "$losses" -gt 0 ]; then height=640; else height=400; fi

# Reference levels: each NAME=VALUE becomes a constant plotted after the curve (so the y range includes it),
# dashed and named in the key.
refs_gp= has_refs=0
for ref in ${REFS:-}; do
    name=${ref%%=*} value=${ref#*=}
    case $value in ''|*[!0-9.]*) echo "$0: REFS entry \"$ref\" is not NAME=NUMBER" >&2; exit 2 ;; esac
    refs_gp="$refs_gp, $value with lines dashtype 2 linewidth 1.5 title '$(printf '%s' "$name" | sed "s/'/''/g") $value'"
    has_refs=1
done

# gnuplot takes the strings as variables so quotes in file names and titles need no escaping.
gnuplot \
    -e "data='$(printf '%s' "$data" | sed "s/'/''/g")'" \
    -e "out='$(printf '%s' "$out" | sed "s/'/''/g")'" \
    -e "plot_title='$(printf '%s' "$title" | sed "s/'/''/g")'" \
    -e "xscale=$xscale; xlabel='$xlabel'; has_loss=$([ "$losses" -gt 0 ] && echo 1 || echo 0)" \
    -e "set terminal $terminal size 900,$height" \
    -e "refs='$(printf '%s' "$refs_gp" | sed "s/'/''/g")'; has_refs=$has_refs" \
    - <<'GNUPLOT'
set output out
set datafile missing '?'
set grid back linecolor rgb '#dddddd'
set key off
set xlabel xlabel
set xrange [0:*]
if (has_loss) { set multiplot layout 2,1 title plot_title noenhanced }
if (!has_loss) { set title plot_title noenhanced }
set ylabel 'mean return (last 100 episodes)'
if (has_refs) { set key top left noenhanced }
eval "plot data using ($1/xscale):2 with lines linewidth 2 linecolor rgb '#1f77b4' title 'ours'" . refs
set key off
# One-line blocks: gnuplot reading a script from stdin cannot skip a multi-line block whose condition is false.
if (has_loss) { set ylabel 'loss'; plot data using ($1/xscale):3 with lines linewidth 1 linecolor rgb '#d62728'; unset multiplot }
GNUPLOT
echo "$out: $returns points of the return curve from $rows lines of $metrics"
