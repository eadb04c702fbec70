/*
 * For kernel tests that need a large aligned run of free frames, which a
 * small machine may not have (the kernel runs from 6 MiB, and `make test`
 * boots that small). When the PMM refuses such a run, the test checks
 * the refusal against the free runs walked one by one, never through the
 * allocator's own search, and ends there, saying so on the serial log.
 */
#ifndef MIO_TESTS_KERNEL_KT_PMM_H
#define MIO_TESTS_KERNEL_KT_PMM_H

#include "kernel/pmm_boot.h"
#include "lib/kprintf.h"
#include "mm/pmm.h"

struct kt_window {
	phys_addr_t bytes, align, limit;
	bool found;
};

static void kt_window_in_run(phys_addr_t start, phys_addr_t end, enum pmm_frame_state st, void *arg)
{
	struct kt_window *w = arg;
	if (st != PMM_FRAME_FREE)
		return;
	phys_addr_t a = (start + w->align - 1) & ~(w->align - 1);
	end = end < w->limit ? end : w->limit;
	if (a < end && end - a >= w->bytes)
		w->found = true;
}

/* Whether some align-aligned stretch of frames bytes of free frames ends at or below limit. */
static inline bool kt_free_window_exists(size_t frames, phys_addr_t align, phys_addr_t limit)
{
	struct kt_window w = { (phys_addr_t)frames * PAGE_SIZE, align, limit, false };
	pmm_walk_runs(&kernel_pmm, kt_window_in_run, &w);
	return w.found;
}

/*
 * rc is what pmm_alloc_phys() said to (frames, align, limit). True when it
 * rightly found no room: the caller's test has then nothing more to do.
 */
static inline bool kt_rightly_out_of_room(int rc, size_t frames, phys_addr_t align, phys_addr_t limit)
{
	if (rc != -MIO_ENOMEM || kt_free_window_exists(frames, align, limit))
		return false;
	kprintf("note: no %zu free frames %llu KiB-aligned below 0x%llx on this machine: "
		"-MIO_ENOMEM is right, and the rest of the test needs them\n",
		frames, (unsigned long long)(align >> 10), (unsigned long long)limit);
	return true;
}

#endif
