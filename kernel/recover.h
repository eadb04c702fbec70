/*
 * Expected trouble: lets a kernel test run code that is meant to fault or
 * panic ("this write raises #PF at 0x400000"), record what happened and go
 * on. Outside run_catching() every exception and panic is fatal as usual.
 */
#ifndef MIO_KERNEL_RECOVER_H
#define MIO_KERNEL_RECOVER_H

#include <stdbool.h>
#include <stdint.h>

enum trap_kind {
	TRAP_NONE = 0, /* the code returned normally */
	TRAP_FAULT,    /* it raised a CPU exception */
	TRAP_PANIC,    /* it called panic() */
};

struct trap_record {
	enum trap_kind kind;
	/* TRAP_FAULT */
	unsigned vector;
	uint32_t error_code;
	uint32_t eip;
	uint32_t cr2; /* the faulting address, for page faults */
	uint32_t esp; /* the stack pointer of the code that faulted */
	/* TRAP_PANIC */
	char message[192];
};

/*
 * Runs fn(arg). If it raises a CPU exception or panics, execution unwinds
 * back here: *rec describes what happened and its kind is returned. Returns
 * TRAP_NONE (and sets rec->kind so) if fn returns normally. Calls may nest.
 * The unwound code gets no chance to clean up, so fn should hold no locks
 * and leave nothing half-built that later code relies on.
 */
enum trap_kind run_catching(void (*fn)(void *), void *arg, struct trap_record *rec);

/*
 * run_catching(), except that a CPU exception is not caught as such: it
 * takes the fatal path (the exception report on the console, then panic),
 * and it is that panic which comes back, as TRAP_PANIC. For tests of the
 * fatal path itself; not for double faults, whose report runs on another
 * task and cannot be unwound from.
 */
enum trap_kind run_catching_fatal(void (*fn)(void *), void *arg, struct trap_record *rec);

/*
 * Called by the exception handler and by panic(): when a run_catching() is
 * active, completes *rec into it and unwinds there (never returns);
 * otherwise returns so the caller reports the trouble as fatal. (Under
 * run_catching_fatal(), recover_from_fault() returns.)
 */
void recover_from_fault(unsigned vector, uint32_t error_code, uint32_t eip, uint32_t cr2,
			uint32_t esp);
void recover_from_panic(const char *message);

/*
 * Implemented by kernel/panic.c, called on every unwind: a panic that was
 * being reported (or formatted, when a fault in that unwinds) is over, and
 * the next one is a first panic again, not a nested one.
 */
void panic_abandoned(void);

/* Whether a run_catching() is active: recover_from_*() would unwind to it. */
bool recover_active(void);

#endif
