#!/usr/bin/env bash
# Start-up overhead of `brig run`: median wall time of a trivial command bare, under brig in each
# mode, and under bubblewrap with the peers' "typical agent" configuration, all from one run.
#
#   bench/startup.sh                 # install what is missing, build, make the workspace, measure
#   RUNS=100 bench/startup.sh        # more runs per point (default 50, 5 warm-ups)
#   WS=/srv/ws bench/startup.sh      # another workspace path (regenerated if it is not ours)
#
# Prints a Markdown table (median, and +ms over bare) and writes hyperfine's JSON to
# bench/results/ (gitignored). Installing packages needs root or sudo; measuring does not.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
WS=${WS:-/tmp/brig-bench-ws}       # the workspace: a scratch git repo like the peers' /tmp/bench-ws
RUNS=${RUNS:-50}
WARMUP=${WARMUP:-5}
RES=${RES:-$HERE/results}

log() { printf '### %s\n' "$*" >&2; }

# ---------------------------------------------------------------- install
need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v git >/dev/null || need+=(git)
command -v python3 >/dev/null || need+=(python3)
if ((${#need[@]})); then
  log "installing ${need[*]} (apt)"
  SUDO=; [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi

# ---------------------------------------------------------------- build
log "cargo build --release -p brig"
(cd "$ROOT" && cargo build --release -p brig --quiet)
BRIG=${CARGO_TARGET_DIR:-$ROOT/target}/release/brig
case $BRIG in /*) ;; *) BRIG=$ROOT/$BRIG ;; esac

# ---------------------------------------------------------------- workspace
# Same recipe as the peers' workspace (shared/bench/peers/run.sh): 3000 text files in 100
# directories, a 13-file C project, 301 commits. Size matters for brig: it walks every writable
# root at start to find protected names (.git, .envrc, ...) at any depth.
MARK=brig-bench-ws-v1
if [[ $(git -C "$WS" log -1 --format=%s 2>/dev/null || true) != "$MARK" ]]; then
  log "generating workspace $WS"
  rm -rf "$WS"; mkdir -p "$WS"
  (
    cd "$WS"
    git init -q .
    git config user.email bench@example.invalid; git config user.name bench
    awk 'BEGIN{ for(d=1;d<=100;d++){ dir=sprintf("src/d%03d",d); system("mkdir -p " dir);
          for(f=1;f<=30;f++){ fn=sprintf("%s/f%02d.txt",dir,f);
            for(l=1;l<=24;l++) printf("line %d of file %d in dir %d: lorem ipsum dolor sit amet\n",l,f,d) > fn;
            close(fn) } } }'
    mkdir -p cproj
    for i in $(seq 1 12); do
      printf '#include <stdint.h>\nuint64_t f%d(uint64_t x){ x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; return x + %d; }\n' "$i" "$i" > "cproj/m$i.c"
    done
    { echo '#include <stdio.h>'; echo '#include <stdint.h>'
      for i in $(seq 1 12); do echo "uint64_t f$i(uint64_t);"; done
      echo 'int main(void){ uint64_t h=1;'
      for i in $(seq 1 12); do echo "  h ^= f$i(h);"; done
      echo '  printf("%llu\n",(unsigned long long)h); return 0; }'; } > cproj/main.c
    printf 'app: *.c\n\t$(CC) -O2 -o $@ $^\n' > cproj/Makefile
    echo 'cproj/app' > .gitignore
    git add -A && git commit -qm "initial import"
    for i in $(seq 1 299); do
      echo "change $i" >> "src/d$(printf %03d $(( (i % 100) + 1 )))/f01.txt"
      git commit -qam "change $i"
    done
    git commit -q --allow-empty -m "$MARK"
    git gc -q
  )
fi
WS=$(cd "$WS" && pwd -P)
ws_info="$(git -C "$WS" ls-files | wc -l) files, $(git -C "$WS" rev-list --count HEAD) commits, $(du -sh "$WS" | cut -f1)"

# ---------------------------------------------------------------- runners
# bubblewrap: shared/bench/peers/configs/bwrap-args.txt with /tmp/bench-ws replaced by $WS
# (--tmpfs /tmp must come before the workspace bind).
BWRAP="bwrap --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp --bind $WS $WS --ro-bind $WS/.git $WS/.git --unshare-all --die-with-parent --new-session --chdir $WS"
declare -A PREFIX=(
  [bare]=""
  ["brig read-only"]="$BRIG run --mode read-only --workspace $WS --"
  ["brig workspace-write"]="$BRIG run --workspace $WS --"
  ["brig danger-full-access"]="$BRIG run --mode danger-full-access --acknowledge-danger --workspace $WS --"
  [bwrap]="$BWRAP --"
)
RUNNERS=(bare "brig read-only" "brig workspace-write" "brig danger-full-access" bwrap)
WORKLOADS=(true "sh -c 'echo hi'" "git status")
SLUGS=(true echo git-status)

mkdir -p "$RES"
cd "$WS"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
declare -A FAILED=()
for i in "${!WORKLOADS[@]}"; do
  w=${WORKLOADS[$i]}
  args=()
  for r in "${RUNNERS[@]}"; do
    cmd="${PREFIX[$r]:+${PREFIX[$r]} }$w"
    # One plain run first: a runner that fails is reported, not timed.
    rc=0; err=$(eval "$cmd" 2>&1 >/dev/null </dev/null) || rc=$?
    if ((rc != 0)); then
      FAILED["$r|$w"]="exit $rc: $(printf '%s' "$err" | tail -1)"
      continue
    fi
    args+=(-n "$r" "$cmd")
  done
  log "timing: $w (${RUNS} runs, ${WARMUP} warm-ups each)"
  hyperfine -N --style none --warmup "$WARMUP" --runs "$RUNS" \
    --export-json "$RES/startup-$stamp-${SLUGS[$i]}.json" "${args[@]}" >/dev/null
done

# ---------------------------------------------------------------- report
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)
virt=$(systemd-detect-virt 2>/dev/null || true)
[[ $virt == none ]] && virt=
echo
echo "Measured $(date -u '+%Y-%m-%d %H:%M') UTC by \`bench/startup.sh\` (RUNS=$RUNS, WARMUP=$WARMUP):"
echo "$(nproc) CPU \"$cpu\", $mem RAM, kernel $(uname -r), running as $(id -un) (uid $(id -u))${virt:+, systemd-detect-virt: $virt},"
echo "$("$BRIG" --version), $(bwrap --version), $(hyperfine --version); workspace $WS: $ws_info."
echo "Median wall time (hyperfine -N); in brackets: difference to bare."
echo
export RES stamp
printf '%s\n' "${RUNNERS[@]}" > "$RES/.runners"
printf '%s\n' "${WORKLOADS[@]}" > "$RES/.workloads"
printf '%s\n' "${SLUGS[@]}" > "$RES/.slugs"
for k in "${!FAILED[@]}"; do printf '%s\t%s\n' "$k" "${FAILED[$k]}"; done > "$RES/.failed"
python3 - <<'PY'
import json, os
res, stamp = os.environ["RES"], os.environ["stamp"]
read = lambda n: [l.rstrip("\n") for l in open(os.path.join(res, n)) if l.strip()]
runners, workloads, slugs = read(".runners"), read(".workloads"), read(".slugs")
failed = dict(l.split("\t", 1) for l in read(".failed"))
med = {}
for w, s in zip(workloads, slugs):
    for r in json.load(open(os.path.join(res, f"startup-{stamp}-{s}.json")))["results"]:
        med[(r["command"], w)] = r["median"] * 1000
notes = []
print("| runner | " + " | ".join(f"`{w}`" for w in workloads) + " |")
print("|---|" + "---:|" * len(workloads))
for r in runners:
    cells = []
    for w in workloads:
        if (r, w) in med:
            m, b = med[(r, w)], med.get(("bare", w))
            cells.append(f"{m:.1f} ms" if r == "bare" or b is None else f"{m:.1f} ms (+{m - b:.1f})")
        else:
            why = failed.get(f"{r}|{w}", "?")
            if why not in notes:
                notes.append(why)
            cells.append(f"failed [{notes.index(why) + 1}]")
    print(f"| {r} | " + " | ".join(cells) + " |")
for i, why in enumerate(notes, 1):
    print(f"\n[{i}] {why}")
for n in (".runners", ".workloads", ".slugs", ".failed"):
    os.remove(os.path.join(res, n))
PY
echo
echo "JSON: $RES/startup-$stamp-*.json"
