#!/usr/bin/env bash
# Boots the test ISO in QEMU once and judges the kernel tests.
#   [KTEST_NAME=name] [KTEST_EXPECT=regex] tools/run-ktests.sh ISO MEMORY [extra QEMU arguments...]
# Passes only when QEMU exits with the kernel's pass code (33) AND the serial
# log ends its test run with "N passed, 0 failed" (and, when KTEST_EXPECT is
# set, has a line matching that extended regex: proof a boot-specific path ran). Anything else fails: the
# fail code (35: a test failed or the kernel panicked), 0 (a triple fault
# resets the machine, and -no-reboot turns that into exit 0), or the timeout.
#
# QEMU cannot map a guest larger than the host's RAM and swap: a boot whose
# MEMORY (with a GiB to spare) exceeds them is skipped, with a line that
# says so, instead of failing for the host's sake.
#
# With KTEST_REFUSE=regex the boot must instead be refused: QEMU exits with
# the fail code (35), the log has a line matching the regex, and no test ran
# and no exception was reported (a CPU the kernel cannot run on).
set -uo pipefail

iso=$1 mem=$2
shift 2
timeout_s=${KTEST_TIMEOUT:-180}
logdir=${KTEST_LOGDIR:-build/logs}
name=${KTEST_NAME:-} # tells apart boots of different ISOs with the same arguments
label="-m $mem${*:+ $*}${name:+ ($name)}"
log="$logdir/ktest-$mem$(printf '%s' "$*${name:+ $name}" | tr -c 'A-Za-z0-9' '_').log"
mkdir -p "$logdir"

case $mem in
*G) need_mib=$(( ${mem%G} * 1024 + 1024 )) ;;
*M) need_mib=$(( ${mem%M} + 1024 )) ;;
*) need_mib=0 ;;
esac
host_mib=$(awk '/^(MemTotal|SwapTotal):/ { kib += $2 } END { print int(kib / 1024) }' /proc/meminfo)
if [ "$host_mib" -lt "$need_mib" ]; then
	printf 'ktest %-28s SKIPPED: this host has %s MiB of RAM and swap, the boot needs %s\n' \
		"$label:" "$host_mib" "$need_mib"
	exit 0
fi

start_ms=$(($(date +%s%N) / 1000000))
timeout --kill-after=10 "$timeout_s" qemu-system-i386 \
	-cdrom "$iso" -boot d -m "$mem" "$@" \
	-display none -monitor none -serial "file:$log" -no-reboot \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 </dev/null
status=$?
elapsed_ms=$(($(date +%s%N) / 1000000 - start_ms))
elapsed=$((elapsed_ms / 1000)).$(printf '%03d' $((elapsed_ms % 1000)))

summary=$(tr -d '\r' <"$log" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)

verdict=
if [ -n "${KTEST_REFUSE:-}" ]; then
	refusal=$(tr -d '\r' <"$log" | grep -E "$KTEST_REFUSE" | head -n 1)
	if [ "$status" != 35 ]; then
		verdict="expected a refusal (exit 35), QEMU exited with status $status"
	elif [ -z "$refusal" ]; then
		verdict="exit 35, but the log has no line matching '$KTEST_REFUSE'"
	elif [ -n "$summary" ] || tr -d '\r' <"$log" | grep -E '^EXCEPTION' >/dev/null; then
		verdict="the log shows tests or an exception after all"
	else
		printf 'ktest %-28s refused: %s (%ss)\n' "$label:" "$refusal" "$elapsed"
		exit 0
	fi
	status=refused # the verdict is set: skip the cases below
fi
case $status in
refused) ;;
33) if [[ $summary =~ ^([0-9]+)\ passed,\ 0\ failed$ ]] && ((BASH_REMATCH[1] > 0)); then
	verdict=pass
	# Not grep -q: it would stop reading early and, under pipefail, tr's SIGPIPE
	# would fail the pipeline even though the line is there.
	if [ -n "${KTEST_EXPECT:-}" ] && ! tr -d '\r' <"$log" | grep -E "$KTEST_EXPECT" >/dev/null; then
		verdict="the log has no line matching '$KTEST_EXPECT'"
	fi
    else
	verdict="QEMU exited with the pass code but the log has no '<N> passed, 0 failed' line"
    fi ;;
35) verdict="the kernel reported failure (exit 35): a test failed or the kernel panicked" ;;
0) verdict="QEMU exited 0: the machine reset, most likely a triple fault" ;;
124|137) verdict="timed out after ${timeout_s}s (hung kernel, or GRUB waiting for input)" ;;
*) verdict="QEMU exited with status $status" ;;
esac

if [ "$verdict" = pass ]; then
	printf 'ktest %-28s %s (%ss)\n' "$label:" "$summary" "$elapsed"
	[ "${V:-0}" = 1 ] && tr -d '\r' <"$log"
	exit 0
fi
printf 'ktest %-28s FAILED: %s\n' "$label:" "$verdict"
echo "---- serial log ($log), last 60 lines ----"
tr -d '\r' <"$log" | tail -n 60
echo "----"
exit 1
