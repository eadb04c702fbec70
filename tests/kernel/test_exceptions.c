/* CPU exceptions raised on purpose are reported to the test and the test goes on. */
#include "arch/x86/trap.h"
#include "kernel/ktest.h"
#include "kernel/recover.h"
#include "lib/kprintf.h"
#include "lib/panic.h"
#include "lib/string.h"
#include "tests/kernel/kt_vmm.h"

extern char ud2_site[];

__attribute__((noinline)) static void execute_ud2(void *arg)
{
	(void)arg;
	__asm__ volatile(".global ud2_site\nud2_site: ud2");
}

KTEST(invalid_opcode_is_caught_at_its_eip)
{
	struct trap_record rec;
	KT_ASSERT_EQ(run_catching(execute_ud2, NULL, &rec), TRAP_FAULT);
	KT_EXPECT_EQ(rec.vector, X86_VEC_UD);
	KT_EXPECT_EQ(rec.eip, (uintptr_t)ud2_site);
	KT_EXPECT_EQ(rec.error_code, 0);
}

/* ud2 with %esp as it is at the fault stored in *arg first. */
__attribute__((noinline)) static void execute_ud2_noting_esp(void *arg)
{
	__asm__ volatile("mov %%esp, (%0)\n\tud2" : : "r"(arg) : "memory");
}

KTEST(a_fault_reports_the_stack_pointer_at_the_faulting_instruction)
{
	struct trap_record rec;
	uint32_t esp = 0;
	KT_ASSERT_EQ(run_catching(execute_ud2_noting_esp, &esp, &rec), TRAP_FAULT);
	KT_EXPECT(esp != 0);
	KT_EXPECT_EQ(rec.esp, esp);
}

static void divide_by_zero(void *arg)
{
	volatile uint32_t zero = *(uint32_t *)arg;
	volatile uint32_t result = 100 / zero;
	(void)result;
}

KTEST(divide_error_is_caught)
{
	uint32_t zero = 0;
	struct trap_record rec;
	KT_ASSERT_EQ(run_catching(divide_by_zero, &zero, &rec), TRAP_FAULT);
	KT_EXPECT_EQ(rec.vector, X86_VEC_DE);
}

static void load_bad_segment(void *arg)
{
	(void)arg;
	/* Selector 0x18 lies past the end of our three-entry GDT. */
	__asm__ volatile("mov $0x18, %%ax\n\tmov %%ax, %%fs" : : : "eax");
}

KTEST(general_protection_reports_selector_error_code)
{
	struct trap_record rec;
	KT_ASSERT_EQ(run_catching(load_bad_segment, NULL, &rec), TRAP_FAULT);
	KT_EXPECT_EQ(rec.vector, X86_VEC_GP);
	KT_EXPECT_EQ(rec.error_code, 0x18); /* the selector that faulted */
}

static void breakpoint(void *arg)
{
	(void)arg;
	__asm__ volatile("int3");
}

KTEST(breakpoint_is_caught)
{
	struct trap_record rec;
	KT_ASSERT_EQ(run_catching(breakpoint, NULL, &rec), TRAP_FAULT);
	KT_EXPECT_EQ(rec.vector, X86_VEC_BP);
}

static void return_normally(void *arg)
{
	*(int *)arg = 42;
}

KTEST(code_that_does_not_fault_returns_none)
{
	int value = 0;
	struct trap_record rec;
	KT_ASSERT_EQ(run_catching(return_normally, &value, &rec), TRAP_NONE);
	KT_EXPECT_EQ(value, 42);
}

static void panic_with_address(void *arg)
{
	panic("deliberate panic at %p", arg);
}

KTEST(panic_is_caught_with_its_message)
{
	struct trap_record rec;
	KT_ASSERT_EQ(run_catching(panic_with_address, (void *)0x1234, &rec), TRAP_PANIC);
	KT_EXPECT(strcmp(rec.message, "deliberate panic at 0x00001234") == 0);
}

static void fault_inside_catch(void *arg)
{
	struct trap_record inner;
	*(enum trap_kind *)arg = run_catching(execute_ud2, NULL, &inner);
	panic("outer");
}

KTEST(catches_nest_and_unwind_to_the_innermost)
{
	enum trap_kind inner_kind = TRAP_NONE;
	struct trap_record outer;
	KT_ASSERT_EQ(run_catching(fault_inside_catch, &inner_kind, &outer), TRAP_PANIC);
	KT_EXPECT_EQ(inner_kind, TRAP_FAULT);
	KT_EXPECT(strcmp(outer.message, "outer") == 0);
}

KTEST(every_exception_has_a_name)
{
	for (unsigned v = 0; v < X86_NUM_EXCEPTIONS; v++)
		KT_EXPECT(x86_exception_name(v) != NULL && x86_exception_name(v)[0] != '\0');
	KT_EXPECT(strcmp(x86_exception_name(X86_VEC_PF), "Page Fault (#PF)") == 0);
}

/* ---- the fatal path: what an exception nobody expects ends in ---- */

static void read_word_at(void *arg)
{
	volatile uint32_t v = *(volatile uint32_t *)arg;
	(void)v;
}

/*
 * Reported on the console (the EXCEPTION lines these tests leave in the
 * log), then a panic that names the exception, where it happened and, for
 * a page fault, the address.
 */
KTEST(an_unexpected_exception_panics_naming_it)
{
	struct trap_record rec;
	char want[96];

	KT_ASSERT_EQ(run_catching_fatal(execute_ud2, NULL, &rec), TRAP_PANIC);
	ksnprintf(want, sizeof(want), "unhandled Invalid Opcode (#UD) at EIP %p, error code 0x0",
		  (void *)ud2_site);
	KT_EXPECT(strcmp(rec.message, want) == 0);

	virt_addr_t va = free_va(PAGE_SIZE, PAGE_SIZE);
	KT_ASSERT(va != 0);
	KT_ASSERT_EQ(run_catching_fatal(read_word_at, (void *)(va + 0xff8), &rec), TRAP_PANIC);
	KT_EXPECT(strstr(rec.message, "unhandled Page Fault (#PF) at EIP 0x") == rec.message);
	ksnprintf(want, sizeof(want), ", address %p", (void *)(va + 0xff8));
	KT_EXPECT(strstr(rec.message, want) != NULL);

	/* Plain run_catching() still catches the fault itself. */
	KT_ASSERT_EQ(run_catching(execute_ud2, NULL, &rec), TRAP_FAULT);
	KT_EXPECT_EQ(rec.vector, X86_VEC_UD);
}

static void panic_naming_a_string_at(void *arg)
{
	panic("the string is %s", (const char *)arg);
}

/*
 * A panic whose own argument faults while it is formatted: the page fault's
 * panic is reported as nested in it, naming both places and formatting none
 * of its arguments, which could fault again. Panics after it are first
 * panics again, also when a fault was caught out of a panic's formatting.
 */
KTEST(a_panic_while_a_panic_is_reported_is_named_as_nested)
{
	struct trap_record rec;
	virt_addr_t va = free_va(PAGE_SIZE, PAGE_SIZE);
	KT_ASSERT(va != 0);

	KT_ASSERT_EQ(run_catching_fatal(panic_naming_a_string_at, (void *)va, &rec), TRAP_PANIC);
	KT_EXPECT(strstr(rec.message, "arch/x86/exceptions.c:") == rec.message);
	KT_EXPECT(strstr(rec.message, ", while reporting the panic from tests/kernel/test_exceptions.c:") !=
		  NULL);
	KT_EXPECT(strstr(rec.message, ": unhandled %s at EIP %p, address %p") != NULL);
	KT_ASSERT_EQ(run_catching(panic_with_address, (void *)0x1234, &rec), TRAP_PANIC);
	KT_EXPECT(strcmp(rec.message, "deliberate panic at 0x00001234") == 0);

	KT_ASSERT_EQ(run_catching(panic_naming_a_string_at, (void *)va, &rec), TRAP_FAULT);
	KT_EXPECT_EQ(rec.vector, X86_VEC_PF);
	KT_EXPECT_EQ(rec.cr2, va);
	KT_ASSERT_EQ(run_catching(panic_with_address, (void *)0x1234, &rec), TRAP_PANIC);
	KT_EXPECT(strcmp(rec.message, "deliberate panic at 0x00001234") == 0);
}
