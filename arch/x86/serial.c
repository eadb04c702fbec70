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
	UART_SCR = 7,        /* scratch: a byte for software, nothing else */
};

#define LCR_8N1 0x03
#define LCR_DLAB 0x80
#define MCR_DTR_RTS_OUT2 0x0b
#define LSR_DATA_READY 0x01
#define LSR_THR_EMPTY 0x20

#define BAUD_DIVISOR_115200 1

static bool serial_present;

/*
 * Whether a UART answers at COM1. An absent one reads 0xff from every
 * port, so its scratch register cannot hold another value; without this
 * test every putc would wait forever for a transmitter. (A loopback test
 * would mix its byte with input already waiting.)
 */
static bool uart_answers(void)
{
	outb(COM1 + UART_SCR, 0x5a);
	if (inb(COM1 + UART_SCR) != 0x5a)
		return false;
	outb(COM1 + UART_SCR, 0xa5);
	return inb(COM1 + UART_SCR) == 0xa5;
}

/*
 * The FIFO control register is left as the firmware or loader set it:
 * turning the FIFOs on or off, or clearing them, drops the bytes already
 * received, and input typed or piped while the machine boots must reach
 * the console whole. Polled input needs no FIFO.
 */
bool serial_init(void)
{
	serial_present = uart_answers();
	if (!serial_present)
		return false;
	outb(COM1 + UART_IER, 0x00);
	outb(COM1 + UART_LCR, LCR_DLAB);
	outb(COM1 + UART_DATA, BAUD_DIVISOR_115200 & 0xff);
	outb(COM1 + UART_IER, BAUD_DIVISOR_115200 >> 8);
	outb(COM1 + UART_LCR, LCR_8N1);
	outb(COM1 + UART_MCR, MCR_DTR_RTS_OUT2);
	return true;
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
