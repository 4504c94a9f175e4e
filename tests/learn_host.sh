#!/usr/bin/env bash
# The learning regression test, through the installed-library path a host takes: install into a scratch root,
# build examples/host_games.c with pkg-config only, and train its "cue" game with the library's defaults
# (docs/training.md, "The learning regression test"). The cue is one lit cell anywhere on a 6×6 board, then
# three blank frames, then "go": the agent must see the cue, find where it is (the position exists only in the
# image) and remember it. Greedy success must be near perfect (a mean return of 0.8 of a possible 1; random
# play scores about −0.5). The same run with the planes declared as pixels, the observation-contract bug this
# project once shipped, must stay below the threshold: the test fails when the contract breaks, not only
# when learning does.
#   learn_host.sh BUILD_DIR HOST_GAMES_SOURCE SCRATCH
set -euo pipefail
build=$1 src=$2 scratch=$3
source "$(dirname "$0")/install_scratch.sh"
install_scratch "$build" "$scratch"
cc -std=c11 -O2 -Wall -Wextra -Werror -pedantic "$src" $(pkg-config --cflags --libs attnagent) -lm \
   -o "$scratch/host_games"
export LD_LIBRARY_PATH=$(pkg-config --variable=libdir attnagent)
common=(--game cue --side 6 --frames 40000 --threads 2 --seed 1)
echo "+ host_games ${common[*]} --expect 0.8"
"$scratch/host_games" "${common[@]}" --expect 0.8
echo "+ host_games ${common[*]} --pixels --expect-below 0.8"
"$scratch/host_games" "${common[@]}" --pixels --expect-below 0.8
