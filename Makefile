# MioOS-C: a 32-bit x86 kernel built around its memory managers.
#
#   make            the kernel ELF and the GRUB ISOs
#   make run        boot the kernel in QEMU, serial console on this terminal
#   make test       host unit tests, then the kernel tests under QEMU at several memory sizes
#   make bench      host benchmarks (release build)
#   make fuzz       every libFuzzer harness for FUZZ_SECONDS each
#   make debug      QEMU waiting for gdb (then: gdb -x tools/kernel.gdb)
#   make clean      remove build/
#
# run, test, bench and fuzz install the Debian packages they need first
# (tools/ensure-deps.sh).

.DEFAULT_GOAL := all
SHELL := /bin/bash
.DELETE_ON_ERROR:
.SECONDARY:
MAKEFLAGS += --no-builtin-rules

# ---- configuration (override on the command line: make KHEAP_SIZE=0x400000) ----
KERNEL_PHYS_BASE ?= 0x100000  # where GRUB loads the kernel
KHEAP_OFFSET     ?= 0x100000  # the heap starts at KERNEL_PHYS_BASE + KHEAP_OFFSET
KHEAP_SIZE       ?= 0x300000  # 3 MiB
KHEAP_DEBUG      ?= 1         # the heap's red zones and poison in the kernel make run and the tests boot
KTEST_MEMS       ?= $(SMALLEST_RAM) 32M 128M 3G 5G
FUZZ_SECONDS     ?= 60

# The layout in decimal bytes (kernel base, heap start, heap end), worked
# out once, and the RAM sizes it implies: the least the kernel runs in, a
# MiB past the heap for the PMM's metadata and some frames (6M with the
# defaults); and the whole MiBs below the heap's end, which a boot must
# refuse (4M with the defaults).
LAYOUT := $(shell b=$$(( $(KERNEL_PHYS_BASE) )); h=$$(( b + $(KHEAP_OFFSET) )); \
	e=$$(( h + $(KHEAP_SIZE) )); echo $$b $$h $$e $$(( (e + (2 << 20) - 1) >> 20 )) $$(( (e - 1) >> 20 )))
KERNEL_BASE_BYTES := $(word 1,$(LAYOUT))
HEAP_START_BYTES := $(word 2,$(LAYOUT))
HEAP_END := $(word 3,$(LAYOUT))
SMALLEST_RAM := $(word 4,$(LAYOUT))M
SHORT_RAM_MIB := $(word 5,$(LAYOUT))

B := build
# Quiet by default; `make V=1` shows every command.
Q := $(if $(filter 1,$(V)),,@)
CONFIG_DEFS := -DKERNEL_PHYS_BASE=$(strip $(KERNEL_PHYS_BASE)) \
	-DKHEAP_OFFSET=$(strip $(KHEAP_OFFSET)) -DKHEAP_SIZE=$(strip $(KHEAP_SIZE))
WARNINGS := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes

# ---- the kernel: clang for i686-elf, freestanding, linked by ld.lld ----
KCC := clang --target=i686-elf
KLD := ld.lld
KCFLAGS := -std=gnu11 -O2 -g $(WARNINGS) -ffreestanding -fno-builtin -nostdlib \
	-fno-stack-protector -fno-pic -mno-sse -mno-sse2 -mno-mmx -mno-80387 \
	-fno-strict-aliasing -fno-asynchronous-unwind-tables -fno-omit-frame-pointer \
	-I. $(CONFIG_DEFS)
# 64-bit division on i386 calls __udivdi3 and friends from clang's runtime.
KBUILTINS = $(shell clang --target=i386-linux-gnu -print-libgcc-file-name -rtlib=compiler-rt 2>/dev/null)

PORTABLE_SRCS := $(wildcard lib/*.c mm/*.c)
KERNEL_SRCS := $(PORTABLE_SRCS) $(wildcard kernel/*.c arch/x86/*.c arch/x86/*.S tests/kernel/*.c)
ISO_RUN := $(B)/mioos.iso
ISO_TEST := $(B)/mioos-test.iso
ISO_TEST_MB2 := $(B)/mioos-test-mb2.iso
ISO_TEST_RELEASE := $(B)/mioos-test-release.iso
TEST_MODULE := $(B)/test-module.txt

# A stamp whose content is the flags and the object list: it changes (and
# forces a rebuild or relink) when a flag is overridden or a source file is
# added or removed, which timestamps alone would miss.
stamp = @mkdir -p $(@D); printf '%s\n' $(1) | cmp -s - $@ || printf '%s\n' $(1) >$@
.PHONY: FORCE

# kernel_build DIR, ELF, KHEAP_DEBUG: the kernel's objects in $(B)/DIR, linked into ELF.
define kernel_build
$(1)_OBJS := $$(patsubst %,$$(B)/$(1)/%.o,$$(KERNEL_SRCS))
$(1)_CFLAGS := $$(KCFLAGS) -DKHEAP_DEBUG=$$(strip $(3))
$$(B)/$(1)/config.stamp: FORCE
	$$(call stamp,$$($(1)_CFLAGS) $$($(1)_OBJS))
$$($(1)_OBJS): $$(B)/$(1)/config.stamp
$$(B)/$(1)/%.c.o: %.c
	@mkdir -p $$(@D)
	@echo "  CC      $$@"
	$$(Q)$$(KCC) $$($(1)_CFLAGS) -MMD -MP -c $$< -o $$@
$$(B)/$(1)/%.S.o: %.S
	@mkdir -p $$(@D)
	@echo "  CC      $$@"
	$$(Q)$$(KCC) $$($(1)_CFLAGS) -MMD -MP -c $$< -o $$@
$(2): $$($(1)_OBJS) $$(B)/$(1)/config.stamp arch/x86/linker.ld
	@echo "  LD      $$@"
	$$(Q)$$(KLD) -m elf_i386 -T arch/x86/linker.ld --build-id=none -nostdlib \
		--defsym=KERNEL_PHYS_BASE=$$(strip $$(KERNEL_PHYS_BASE)) \
		--defsym=KHEAP_OFFSET=$$(strip $$(KHEAP_OFFSET)) \
		-o $$@ $$($(1)_OBJS) $$(KBUILTINS)
endef

# The kernel `make run` boots and the tests boot: the heap's red zones and
# poison on (KHEAP_DEBUG=1; `make KHEAP_DEBUG=0 run` boots the release heap).
KERNEL := $(B)/kernel.elf
$(eval $(call kernel_build,kernel,$(KERNEL),$(KHEAP_DEBUG)))
# The same kernel with the release heap (no header, red zones or poison):
# what the benchmarks measure, proven by one test boot at its real address.
KERNEL_RELEASE := $(B)/kernel-release.elf
$(eval $(call kernel_build,kernel-release,$(KERNEL_RELEASE),0))

# A small file GRUB loads as a module in test boots; its frames must never be handed out.
$(TEST_MODULE):
	@mkdir -p $(@D)
	$(Q){ echo MIOOS-TEST-MODULE; for i in $$(seq 1 400); do echo "test module line $$i"; done; } >$@

# make_iso ISO, GRUB_CFG, EXTRA_FILES[, KERNEL_ELF]
define make_iso
	@rm -rf $@.dir && mkdir -p $@.dir/boot/grub
	$(Q)cp $(or $(4),$(KERNEL)) $@.dir/boot/kernel.elf
	$(Q)$(if $(3),cp $(3) $@.dir/boot/)
	$(Q)cp $(2) $@.dir/boot/grub/grub.cfg
	@echo "  ISO     $@"
	$(Q)grub-mkrescue -o $@ $@.dir >$@.log 2>&1 || { cat $@.log; exit 1; }
endef

$(ISO_RUN): $(KERNEL) tools/grub/run.cfg
	$(call make_iso,$@,tools/grub/run.cfg,)

$(ISO_TEST): $(KERNEL) tools/grub/test.cfg $(TEST_MODULE)
	$(call make_iso,$@,tools/grub/test.cfg,$(TEST_MODULE))

$(ISO_TEST_MB2): $(KERNEL) tools/grub/test-mb2.cfg $(TEST_MODULE)
	$(call make_iso,$@,tools/grub/test-mb2.cfg,$(TEST_MODULE))

$(ISO_TEST_RELEASE): $(KERNEL_RELEASE) tools/grub/test.cfg $(TEST_MODULE)
	$(call make_iso,$@,tools/grub/test.cfg,$(TEST_MODULE),$(KERNEL_RELEASE))

.PHONY: all kernel iso
all: kernel iso
kernel: $(KERNEL)
iso: $(ISO_RUN) $(ISO_TEST) $(ISO_TEST_MB2) $(ISO_TEST_RELEASE)

# ---- host builds of the portable code (tests, fuzzers, benchmarks) ----
HOST_CC := clang
HOST_BASE_CFLAGS := -std=gnu11 -g $(WARNINGS) -I. -DMIO_HOSTED $(CONFIG_DEFS) \
	-fno-strict-aliasing -fno-omit-frame-pointer
SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=all
HOST_CFLAGS := $(HOST_BASE_CFLAGS) -O1 $(SANITIZE) -DKHEAP_DEBUG=1
FUZZ_CFLAGS := $(HOST_BASE_CFLAGS) -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -DKHEAP_DEBUG=1 \
	-fsanitize-coverage-ignorelist=fuzz/coverage-ignore.txt
# The heap's unit tests and fuzzer once more against its release build.
release_heap = $(patsubst -DKHEAP_DEBUG=1,-DKHEAP_DEBUG=0,$(1))
HOST_RELEASE_CFLAGS := $(call release_heap,$(HOST_CFLAGS))
FUZZ_RELEASE_CFLAGS := $(call release_heap,$(FUZZ_CFLAGS))
BENCH_CFLAGS := $(HOST_BASE_CFLAGS) -O2 -DNDEBUG -DKHEAP_DEBUG=0

# lib/string.c is the kernel's libc; hosted code uses the C library's.
HOST_PORTABLE_SRCS := $(filter-out lib/string.c,$(PORTABLE_SRCS))
HOST_SUPPORT_SRCS := $(wildcard tests/host/support/*.c)

# Each flavour compiles the portable code with its own flags into its own tree.
# host_flavour DIR, CFLAGS_VARIABLE[, EXTRA_PREREQUISITES]
define host_flavour
$$(B)/$(1)/config.stamp: FORCE
	$$(call stamp,$$($(2)) $$(call host_objs,$(1)))
$$(B)/$(1)/obj/%.c.o: %.c $$(B)/$(1)/config.stamp $(3)
	@mkdir -p $$(@D)
	@echo "  CC      $$@"
	$$(Q)$$(HOST_CC) $$($(2)) -MMD -MP -c $$< -o $$@
endef
$(eval $(call host_flavour,host,HOST_CFLAGS))
$(eval $(call host_flavour,host-release,HOST_RELEASE_CFLAGS))
$(eval $(call host_flavour,fuzz,FUZZ_CFLAGS,fuzz/coverage-ignore.txt))
$(eval $(call host_flavour,fuzz-release,FUZZ_RELEASE_CFLAGS,fuzz/coverage-ignore.txt))
$(eval $(call host_flavour,bench,BENCH_CFLAGS))

# lib/string.c under test, renamed (mio_memcpy, ...) so it can share a binary with libc.
$(B)/host/obj/string_under_test.o: lib/string.c tests/host/string_rename.h $(B)/host/config.stamp
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(HOST_CC) $(HOST_CFLAGS) -fno-builtin -DMIO_STRING_UNDER_TEST \
		-include tests/host/string_rename.h -MMD -MP -c $< -o $@

# Reference models (plain, obviously-correct allocators) live with the tests and
# are linked into every host test, fuzzer and benchmark, never into the kernel.
MODEL_SRCS := $(wildcard tests/model/*.c)
host_objs = $(patsubst %,$(B)/$(1)/obj/%.o,$(HOST_PORTABLE_SRCS) $(HOST_SUPPORT_SRCS) $(MODEL_SRCS))

HOST_TESTS := $(patsubst tests/host/%.c,$(B)/host/%,$(wildcard tests/host/test_*.c))
$(B)/host/test_string: $(B)/host/obj/string_under_test.o
$(B)/host/test_%: $(B)/host/obj/tests/host/test_%.c.o $(call host_objs,host) $(B)/host/config.stamp
	@echo "  LINK    $@"
	$(Q)$(HOST_CC) $(HOST_CFLAGS) -o $@ $(filter %.o,$^) -lcriterion
HOST_RELEASE_TESTS := $(B)/host-release/test_heap
$(B)/host-release/test_%: $(B)/host-release/obj/tests/host/test_%.c.o $(call host_objs,host-release) \
		$(B)/host-release/config.stamp
	@echo "  LINK    $@"
	$(Q)$(HOST_CC) $(HOST_RELEASE_CFLAGS) -o $@ $(filter %.o,$^) -lcriterion

# The heap's harness once more against its release build: fuzz_heap_release,
# seeded from fuzz/corpus/fuzz_heap_release (a link to fuzz_heap's seeds).
FUZZERS := $(patsubst fuzz/%.c,$(B)/fuzz/%,$(wildcard fuzz/fuzz_*.c)) $(B)/fuzz/fuzz_heap_release
$(B)/fuzz/fuzz_heap_release: $(B)/fuzz-release/obj/fuzz/fuzz_heap.c.o $(call host_objs,fuzz-release) \
		$(B)/fuzz-release/config.stamp
	@echo "  LINK    $@"
	$(Q)$(HOST_CC) $(FUZZ_RELEASE_CFLAGS) -o $@ $(filter %.o,$^)
$(B)/fuzz/fuzz_%: $(B)/fuzz/obj/fuzz/fuzz_%.c.o $(call host_objs,fuzz) $(B)/fuzz/config.stamp
	@echo "  LINK    $@"
	$(Q)$(HOST_CC) $(FUZZ_CFLAGS) -o $@ $(filter %.o,$^)

BENCHES := $(patsubst bench/%.c,$(B)/bench/%,$(wildcard bench/bench_*.c))
BENCH_SUPPORT_SRCS := $(wildcard bench/support/*.c)
$(B)/bench/bench_%: $(B)/bench/obj/bench/bench_%.c.o $(call host_objs,bench) \
		$(patsubst %,$(B)/bench/obj/%.o,$(BENCH_SUPPORT_SRCS)) $(B)/bench/config.stamp
	@echo "  LINK    $@"
	$(Q)$(HOST_CC) $(BENCH_CFLAGS) -o $@ $(filter %.o,$^) -lm

# The heap benchmark once more for i686, the heap compiled with the kernel's
# code generation (no SSE, freestanding, not position-independent), against
# the i386 C library's malloc: what the kernel's heap costs.
BENCH_I686_CFLAGS := $(BENCH_CFLAGS) -m32 -msse2 -fno-pic # the harness may use SSE2; the heap not
BENCH_I686_HEAP_CFLAGS := -mno-sse -mno-sse2 -mno-mmx -ffreestanding -fno-builtin
BENCH_I686_SRCS := bench/bench_heap.c bench/support/tlsf.c mm/heap.c lib/format.c $(wildcard tests/model/heap_*.c) \
	tests/host/support/host_panic.c tests/host/support/host_console.c
BENCH_I686 := $(B)/bench-i686/bench_heap
$(B)/bench-i686/config.stamp: FORCE
	$(call stamp,$(BENCH_I686_CFLAGS) $(BENCH_I686_HEAP_CFLAGS) $(BENCH_I686_SRCS))
$(B)/bench-i686/obj/%.c.o: %.c $(B)/bench-i686/config.stamp
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(HOST_CC) $(BENCH_I686_CFLAGS) $(if $(filter mm/heap.c,$<),$(BENCH_I686_HEAP_CFLAGS)) \
		-MMD -MP -c $< -o $@
$(BENCH_I686): $(patsubst %,$(B)/bench-i686/obj/%.o,$(BENCH_I686_SRCS)) $(B)/bench-i686/config.stamp
	@echo "  LINK    $@"
	$(Q)$(HOST_CC) $(BENCH_I686_CFLAGS) -no-pie -o $@ $(filter %.o,$^) -lm

# The host program that types at the kernel's serial console (tests/console/).
CONSOLE_DRIVER := $(B)/tools/console-driver
$(CONSOLE_DRIVER): tests/console/driver.c
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(HOST_CC) -std=gnu11 -O1 -g $(WARNINGS) -o $@ $<

# ---- the commands the README names ----
QEMU_RUN_FLAGS := -m 128M -display none -no-reboot \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04

.PHONY: run test host-test kernel-test console-test bench pictures fuzz debug clean deps-kernel deps-test

deps-kernel:
	@tools/ensure-deps.sh kernel iso qemu

deps-test:
	@tools/ensure-deps.sh kernel iso qemu host-test bench-i686

run: deps-kernel
	@$(MAKE) --no-print-directory $(ISO_RUN)
	@# The console's `halt` leaves through isa-debug-exit with the pass code (33): a clean exit.
	qemu-system-i386 -cdrom $(ISO_RUN) -boot d $(QEMU_RUN_FLAGS) -serial mon:stdio || [ $$? -eq 33 ]

debug: deps-kernel
	@$(MAKE) --no-print-directory $(ISO_RUN)
	@echo "QEMU waits for gdb on localhost:1234. In another terminal: gdb -x tools/kernel.gdb"
	qemu-system-i386 -cdrom $(ISO_RUN) -boot d $(QEMU_RUN_FLAGS) -serial mon:stdio -s -S

test: deps-test
	@$(MAKE) --no-print-directory host-test
	@$(MAKE) --no-print-directory kernel-test
	@$(MAKE) --no-print-directory console-test

# The benchmarks are built too, so a change that breaks one fails here; the
# heap's release build (no red zones or headers: what the benchmarks measure
# and what a KHEAP_DEBUG=0 kernel runs) passes its unit tests and proves
# itself against the reference, on the host and as the kernel compiles it for i686.
host-test: $(HOST_TESTS) $(HOST_RELEASE_TESTS) $(BENCHES) $(BENCH_I686)
	@tools/check-layering.sh
	@set -e; for t in $(HOST_TESTS) $(HOST_RELEASE_TESTS); do echo "== $$t"; $$t --jobs 2; done
	@set -e; for b in $(B)/bench/bench_heap $(BENCH_I686); do echo "== $$b check"; $$b check; done

# The last boot proves a frame above 4 GiB can be reached through a 4 MiB
# page on a CPU with PSE-36 (the default qemu32 has none).
PSE36_PROOF := pattern written and read back at phys 0x1[0-9a-f]{8} through a 4 MiB page
# And the whole suite once more, loaded through GRUB's Multiboot2 protocol.
MB2_PROOF := ^boot: loader "GRUB [^"]*", Multiboot2 info at 0x
# And once with the release heap, whose boot line names no debug header.
RELEASE_PROOF := ^kheap: .*, 0-byte block headers$$
# On a CPU without PSE the VMM maps with 4 KiB pages only and refuses 4 MiB
# ones; the tests assert that, and the boot log must show CR4.PSE left off.
NO_PSE_PROOF := ^vmm: paging on \(CR0\.PG, CR0\.WP, CR4\.PGE\)
# A CPU older than i686 (no CMOV) is refused before any C runs, by name.
PRE_I686_REFUSAL := ^MioOS-C needs an i686 .* no CMOV
# A machine whose RAM ends inside the heap's range is refused at boot, naming
# it: SHORT_RAM_MIB, when that leaves GRUB the 4 MiB it needs to load the kernel.
SMALL_RAM_REFUSAL := ^PANIC: kheap: heap \[0x[0-9a-f]+-0x[0-9a-f]+\) is not inside available RAM
kernel-test: $(ISO_TEST) $(ISO_TEST_MB2) $(ISO_TEST_RELEASE)
	@KLD=$(KLD) tools/check-portable.sh $(patsubst %,$(B)/kernel/%.o,$(PORTABLE_SRCS))
	@set -e; for m in $(KTEST_MEMS); do tools/run-ktests.sh $(ISO_TEST) $$m; done
	@# 8G puts 5 GiB above 4 GiB: more 4 MiB runs than the PMM's exhaustion test once had room for.
	@tools/run-ktests.sh $(ISO_TEST) 8G
	@KTEST_EXPECT='$(PSE36_PROOF)' tools/run-ktests.sh $(ISO_TEST) 5G -cpu qemu32,+pse36
	@KTEST_NAME=multiboot2 KTEST_EXPECT='$(MB2_PROOF)' tools/run-ktests.sh $(ISO_TEST_MB2) 5G
	@KTEST_NAME=release-heap KTEST_EXPECT='$(RELEASE_PROOF)' tools/run-ktests.sh $(ISO_TEST_RELEASE) 128M
	@KTEST_EXPECT='$(NO_PSE_PROOF)' tools/run-ktests.sh $(ISO_TEST) 128M -cpu qemu32,-pse
	@KTEST_REFUSE='$(PRE_I686_REFUSAL)' tools/run-ktests.sh $(ISO_TEST) 32M -cpu pentium
	@if [ $(SHORT_RAM_MIB) -ge 4 ]; then KTEST_TIMEOUT=60 KTEST_REFUSE='$(SMALL_RAM_REFUSAL)' \
		tools/run-ktests.sh $(ISO_TEST) $(SHORT_RAM_MIB)M; fi

# The layout the console's answers name, as the session expects it printed
# (FRAMES_128M: the PMM's frames from the kernel's base to the top of the
# RAM QEMU's 128 MiB map reports, 0x7fe0000).
CONSOLE_LAYOUT = $(shell b=$(KERNEL_BASE_BYTES); \
	printf -- '-D KERNEL_BASE=0x%x -D KERNEL_BASE_9=0x%09x -D KERNEL_BASE_16=%016x ' $$b $$b $$b; \
	printf -- '-D HEAP_START=0x%x -D HEAP_END=0x%x ' $(HEAP_START_BYTES) $(HEAP_END); \
	printf -- '-D FRAMES_128M=%d' $$(( (0x7fe0000 - b) / 4096 )))
console-test: $(ISO_RUN) $(CONSOLE_DRIVER)
	@$(CONSOLE_DRIVER) $(CONSOLE_LAYOUT) tests/console/session.txt -- qemu-system-i386 \
		-cdrom $(ISO_RUN) -boot d $(QEMU_RUN_FLAGS) -monitor none -serial stdio

MKSVG := $(B)/tools/mksvg
$(MKSVG): tools/mksvg.c
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(HOST_CC) -std=gnu11 -O1 -g $(WARNINGS) -o $@ $< -lm

# Every benchmark, its output kept in build/bench/results.txt and charted in
# build/bench/bench.svg (make pictures copies the chart into docs/).
bench:
	@tools/ensure-deps.sh host-test bench-i686
	@$(MAKE) --no-print-directory $(BENCHES) $(BENCH_I686) $(MKSVG)
	@set -eo pipefail; { for b in $(BENCHES); do $$b; done; $(BENCH_I686) speed; } | \
		tee $(B)/bench/results.txt
	@$(MKSVG) bench $(B)/bench/results.txt $(B)/bench/bench.svg

# The pictures the README shows: a 5 GiB boot driven through the console,
# its memdump turned into SVG; plus the latest benchmark chart, if any.
pictures: deps-kernel
	@$(MAKE) --no-print-directory $(ISO_RUN) $(CONSOLE_DRIVER) $(MKSVG)
	@mkdir -p docs/pictures $(B)/logs
	CONSOLE_TRANSCRIPT=1 $(CONSOLE_DRIVER) tests/console/pictures.txt -- qemu-system-i386 \
		-cdrom $(ISO_RUN) -boot d -m 5G -display none -no-reboot -monitor none \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 -serial stdio >$(B)/logs/pictures.log
	$(MKSVG) memdump $(B)/logs/pictures.log docs/pictures
	@if [ -f $(B)/bench/bench.svg ]; then cp $(B)/bench/bench.svg docs/pictures/bench.svg; \
		echo "copied $(B)/bench/bench.svg"; else echo "no $(B)/bench/bench.svg: run make bench first"; fi

fuzz:
	@tools/ensure-deps.sh fuzz
	@$(MAKE) --no-print-directory $(FUZZERS)
	@tools/run-fuzzers.sh $(FUZZ_SECONDS) $(FUZZERS)

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
