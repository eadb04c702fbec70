#!/usr/bin/env bash
# Runs each libFuzzer harness for SECONDS from its committed seeds
# (fuzz/corpus/NAME) plus what earlier runs found (build/fuzz/corpus/NAME).
#   tools/run-fuzzers.sh SECONDS FUZZER...
# Prints one summary line per harness; on a finding, the end of its log
# (build/fuzz/NAME.log) and the input that triggered it, and exits 1.
set -uo pipefail
seconds=$1
shift
failed=0
for f in "$@"; do
	name=$(basename "$f")
	log=build/fuzz/$name.log
	mkdir -p "build/fuzz/corpus/$name" build/fuzz/artifacts
	seeds=()
	[ -d "fuzz/corpus/$name" ] && seeds=("fuzz/corpus/$name")
	"$f" -max_total_time="$seconds" -print_final_stats=1 \
		-artifact_prefix=build/fuzz/artifacts/"$name"- \
		"build/fuzz/corpus/$name" "${seeds[@]}" >"$log" 2>&1
	status=$?
	runs=$(grep -m1 '^stat::number_of_executed_units' "$log" | awk '{print $2}')
	secs=$(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$log" | awk '{print $5}')
	if [ $status -eq 0 ] && [ -n "$runs" ]; then
		rate=$(( runs / (secs > 0 ? secs : 1) ))
		printf 'fuzz %-18s %9s runs in %ss (%s exec/s), no findings\n' "$name" "$runs" "$secs" "$rate"
	else
		printf 'fuzz %-18s FAILED (exit %s); end of %s:\n' "$name" "$status" "$log"
		tail -n 40 "$log"
		failed=1
	fi
done
exit $failed
