/* The COM1 serial port: the kernel's console. Polled, no interrupts. */
#ifndef MIO_ARCH_X86_SERIAL_H
#define MIO_ARCH_X86_SERIAL_H

#include <stdbool.h>

/*
 * Programs COM1 for 115200 baud, 8N1, keeping any input already received.
 * Returns false if no UART answers.
 */
bool serial_init(void);

/* Sends one byte, waiting for the transmitter; '\n' goes out as "\r\n". */
void serial_putc(char c);

/* Returns the next received byte, or -1 when none is waiting. */
int serial_getc_nonblock(void);

/* Waits for and returns the next received byte. */
char serial_getc(void);

#endif
