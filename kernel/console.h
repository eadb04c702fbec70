/*
 * The interactive memory console on the serial port: a `mio> ` prompt from
 * which a person can watch and drive the memory managers.
 */
#ifndef MIO_KERNEL_CONSOLE_H
#define MIO_KERNEL_CONSOLE_H

/* Reads and runs commands forever (until `halt`). */
__attribute__((noreturn)) void console_run(void);

/*
 * Runs one command line (modified in place) as if typed at the prompt.
 * Returns 0 on success, a negative -MIO_E* code when the command failed
 * (after printing why).
 */
int console_execute(char *line);

#endif
