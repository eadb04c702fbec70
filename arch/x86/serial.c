#include "arch/x86/serial.h"

#include "arch/x86/io.h"

#define COM1 0x3f8

/* 16550 UART registers, as offsets from the base port. */
enum uart_reg {
	UART_DATA = 0,       /* RBR/THR; divisor low byte when DLAB=1 */
	UART_IER = 1,        /* interrupt enable; divisor high byte when DLAB=1 */
	UART_FCR = 2,        /* FIFO control */
	UART_LCR = 3,        /* line control */
	UART_MCR = 4,        /* modem control */
	UART_LSR = 5,        /* line status */
};

#define LCR_8N1 0x03
#define LCR_DLAB 0x80
#define FCR_ENABLE_CLEAR_14 0xc7 /* enable and clear FIFOs, 14-byte threshold */
#define MCR_DTR_RTS_OUT2 0x0b
#define MCR_LOOPBACK 0x10
#define LSR_DATA_READY 0x01
#define LSR_THR_EMPTY 0x20

#define BAUD_DIVISOR_115200 1

static bool serial_present;

bool serial_init(void)
{
	outb(COM1 + UART_IER, 0x00);
	outb(COM1 + UART_LCR, LCR_DLAB);
	outb(COM1 + UART_DATA, BAUD_DIVISOR_115200 & 0xff);
	outb(COM1 + UART_IER, BAUD_DIVISOR_115200 >> 8);
	outb(COM1 + UART_LCR, LCR_8N1);
	outb(COM1 + UART_FCR, FCR_ENABLE_CLEAR_14);

	/* Loopback self-test: a missing UART would make every putc spin forever. */
	outb(COM1 + UART_MCR, MCR_LOOPBACK | MCR_DTR_RTS_OUT2);
	outb(COM1 + UART_DATA, 0xae);
	serial_present = inb(COM1 + UART_DATA) == 0xae;
	outb(COM1 + UART_MCR, MCR_DTR_RTS_OUT2);
	return serial_present;
}

static void serial_put_raw(char c)
{
	if (!serial_present)
		return;
	while (!(inb(COM1 + UART_LSR) & LSR_THR_EMPTY))
		;
	outb(COM1 + UART_DATA, (unsigned char)c);
}

void serial_putc(char c)
{
	if (c == '\n')
		serial_put_raw('\r');
	serial_put_raw(c);
}

int serial_getc_nonblock(void)
{
	if (!serial_present || !(inb(COM1 + UART_LSR) & LSR_DATA_READY))
		return -1;
	return inb(COM1 + UART_DATA);
}

char serial_getc(void)
{
	int c;
	while ((c = serial_getc_nonblock()) < 0)
		__asm__ volatile("pause");
	return (char)c;
}
