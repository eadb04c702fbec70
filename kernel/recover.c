#include "kernel/recover.h"

#include "arch/x86/setjmp.h"
#include "lib/string.h"

struct catch_point {
	kjmp_buf env;
	struct trap_record *rec;
	struct catch_point *outer;
	bool faults_are_fatal; /* run_catching_fatal(): only the panic they end in is caught */
};

static struct catch_point *innermost;

static enum trap_kind catch_in(void (*fn)(void *), void *arg, struct trap_record *rec,
			       bool faults_are_fatal)
{
	struct catch_point cp = { .rec = rec, .outer = innermost, .faults_are_fatal = faults_are_fatal };

	memset(rec, 0, sizeof(*rec));
	if (ksetjmp(cp.env) == 0) {
		innermost = &cp;
		fn(arg);
		innermost = cp.outer;
		rec->kind = TRAP_NONE;
		return TRAP_NONE;
	}
	/* Unwound by recover_from_*(), which already popped cp. */
	return rec->kind;
}

enum trap_kind run_catching(void (*fn)(void *), void *arg, struct trap_record *rec)
{
	return catch_in(fn, arg, rec, false);
}

enum trap_kind run_catching_fatal(void (*fn)(void *), void *arg, struct trap_record *rec)
{
	return catch_in(fn, arg, rec, true);
}

static __attribute__((noreturn)) void unwind_innermost(void)
{
	struct catch_point *cp = innermost;
	innermost = cp->outer;
	panic_abandoned();
	klongjmp(cp->env, 1);
}

bool recover_active(void)
{
	return innermost != NULL;
}

void recover_from_fault(unsigned vector, uint32_t error_code, uint32_t eip, uint32_t cr2,
			uint32_t esp)
{
	if (!innermost || innermost->faults_are_fatal)
		return;
	struct trap_record *rec = innermost->rec;
	rec->kind = TRAP_FAULT;
	rec->vector = vector;
	rec->error_code = error_code;
	rec->eip = eip;
	rec->cr2 = cr2;
	rec->esp = esp;
	unwind_innermost();
}

void recover_from_panic(const char *message)
{
	if (!innermost)
		return;
	struct trap_record *rec = innermost->rec;
	rec->kind = TRAP_PANIC;
	strlcpy(rec->message, message, sizeof(rec->message));
	unwind_innermost();
}
