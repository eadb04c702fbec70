/*
 * Drives the kernel's serial console from the host, the way a person would,
 * and checks its answers.
 *
 *   driver [-D NAME=VALUE]... SCRIPT -- qemu-system-i386 ARGS... -serial stdio ...
 *
 * -D defines ${NAME} before the script starts: the build's memory layout,
 * which the kernel's answers name (the Makefile passes it).
 *
 * The driver starts QEMU with the serial port on a pair of pipes, waits for
 * the "mio> " prompt, then follows SCRIPT line by line:
 *
 *   > TEXT              type TEXT and Enter, collect the answer up to the next prompt
 *   ^ TEXT              (only at the top of the script) type TEXT and Enter as soon as
 *                       QEMU starts, before the kernel is up, as a piped script does;
 *                       the answer is that of the last such line
 *   < BYTES             type raw bytes (\r \x7f \e escapes allowed); when they hold a
 *                       \r, collect the answer up to the next prompt or QEMU's exit
 *   ~ REGEX             the last answer must match REGEX (POSIX extended, per line)
 *   ~ REGEX => NAME     ... and group 1 is remembered as ${NAME} for later lines
 *   ! REGEX             the last answer must not match REGEX
 *   = exit N            QEMU must now exit with status N (no prompt follows)
 *   # comment, or a blank line
 *
 * Exits 0 when every expectation holds, 1 otherwise, printing the last answer.
 * With CONSOLE_TRANSCRIPT=1 in the environment it prints every command and
 * answer as it goes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROMPT "mio> "
#define ANSWER_MAX (256 * 1024)
#define VARS_MAX 32

static pid_t qemu_pid;
static int to_qemu = -1, from_qemu = -1;
static char answer[ANSWER_MAX];
static size_t answer_len;
static int timeout_s = 60;
static bool transcript;
static const char *script_name;
static int script_line;

static struct { char name[32]; char value[128]; } vars[VARS_MAX];
static int nvars;

static void fail(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "console test: %s:%d: ", script_name, script_line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n---- last answer ----\n%.*s\n----\n", (int)answer_len, answer);
	if (qemu_pid > 0)
		kill(qemu_pid, SIGKILL);
	exit(1);
}

static void start_qemu(char **argv)
{
	int in[2], out[2];
	if (pipe(in) || pipe(out)) {
		perror("pipe");
		exit(1);
	}
	qemu_pid = fork();
	if (qemu_pid < 0) {
		perror("fork");
		exit(1);
	}
	if (qemu_pid == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		close(in[0]); close(in[1]); close(out[0]); close(out[1]);
		execvp(argv[0], argv);
		perror(argv[0]);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	to_qemu = in[1];
	from_qemu = out[0];
}

/* Drops CRs and ANSI escape sequences so answers compare as plain lines. */
static void append_clean(const char *buf, size_t n)
{
	static int esc; /* 0 none, 1 saw ESC, 2 inside CSI */
	for (size_t i = 0; i < n; i++) {
		char c = buf[i];
		if (esc == 1) { esc = (c == '[') ? 2 : 0; continue; }
		if (esc == 2) { if ((c >= '@' && c <= '~')) esc = 0; continue; }
		if (c == 0x1b) { esc = 1; continue; }
		if (c == '\r')
			continue;
		if (answer_len + 1 >= ANSWER_MAX)
			fail("answer longer than %d bytes", ANSWER_MAX);
		answer[answer_len++] = c;
		answer[answer_len] = '\0';
	}
}

static bool ends_with_prompt(void)
{
	size_t p = strlen(PROMPT);
	return answer_len >= p && memcmp(answer + answer_len - p, PROMPT, p) == 0;
}

static int count_prompts(void)
{
	int n = 0;
	for (const char *p = answer; (p = strstr(p, PROMPT)); p += strlen(PROMPT))
		n++;
	return n;
}

/*
 * Reads until `prompts` prompts have come, the output ending with the last
 * (returns true), or until QEMU closes its end (false). The answer is what
 * came between the last two, or before the only one.
 */
static bool read_until_prompts(int prompts)
{
	time_t deadline = time(NULL) + timeout_s;
	answer_len = 0;
	answer[0] = '\0';
	while (!ends_with_prompt() || count_prompts() < prompts) {
		int left = (int)(deadline - time(NULL));
		if (left <= 0)
			fail("no prompt within %d s", timeout_s);
		struct pollfd pfd = { .fd = from_qemu, .events = POLLIN };
		int r = poll(&pfd, 1, left * 1000);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;
		char buf[4096];
		ssize_t n = read(from_qemu, buf, sizeof(buf));
		if (n <= 0)
			return false;
		append_clean(buf, (size_t)n);
	}
	answer_len -= strlen(PROMPT);
	answer[answer_len] = '\0';
	char *start = answer, *p;
	while ((p = strstr(start, PROMPT)))
		start = p + strlen(PROMPT);
	answer_len -= (size_t)(start - answer);
	memmove(answer, start, answer_len + 1);
	return true;
}

static bool read_until_prompt(void)
{
	return read_until_prompts(1);
}

static void substitute(const char *in, char *out, size_t size)
{
	size_t o = 0;
	while (*in && o + 1 < size) {
		const char *end;
		if (in[0] == '$' && in[1] == '{' && (end = strchr(in, '}'))) {
			size_t len = (size_t)(end - in - 2);
			int i;
			for (i = 0; i < nvars; i++)
				if (strlen(vars[i].name) == len && !strncmp(vars[i].name, in + 2, len))
					break;
			if (i == nvars)
				fail("unknown variable %.*s", (int)len, in + 2);
			o += (size_t)snprintf(out + o, size - o, "%s", vars[i].value);
			in = end + 1;
			continue;
		}
		out[o++] = *in++;
	}
	out[o] = '\0';
}

static void send_bytes(const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(to_qemu, s, n);
		if (w <= 0)
			fail("QEMU stopped reading its serial input");
		s += w;
		n -= (size_t)w;
	}
}

/* Types text, turning the escapes \r \n \e \xHH into bytes. */
static void type_raw(const char *text)
{
	for (const char *p = text; *p; p++) {
		char c = *p;
		if (c == '\\' && p[1]) {
			p++;
			if (*p == 'r') c = '\r';
			else if (*p == 'n') c = '\n';
			else if (*p == 'e') c = 0x1b;
			else if (*p == 'x' && p[1] && p[2]) {
				char hex[3] = { p[1], p[2], 0 };
				c = (char)strtol(hex, NULL, 16);
				p += 2;
			} else c = *p;
		}
		send_bytes(&c, 1);
		usleep(2000); /* a 16550 FIFO holds 16 bytes: type at a human-ish pace */
	}
}

static void check_match(const char *pattern, bool want)
{
	char expr[512], var[32] = "";
	const char *arrow = strstr(pattern, " => ");
	if (arrow) {
		snprintf(expr, sizeof(expr), "%.*s", (int)(arrow - pattern), pattern);
		snprintf(var, sizeof(var), "%s", arrow + 4);
	} else {
		snprintf(expr, sizeof(expr), "%s", pattern);
	}
	regex_t re;
	if (regcomp(&re, expr, REG_EXTENDED | REG_NEWLINE))
		fail("bad regex '%s'", expr);
	regmatch_t m[2];
	bool matched = regexec(&re, answer, 2, m, 0) == 0;
	if (matched != want)
		fail("answer %s /%s/", want ? "does not match" : "matches", expr);
	if (want && var[0]) {
		if (m[1].rm_so < 0 || nvars == VARS_MAX)
			fail("regex '%s' captured nothing for %s", expr, var);
		snprintf(vars[nvars].name, sizeof(vars[nvars].name), "%s", var);
		snprintf(vars[nvars].value, sizeof(vars[nvars].value), "%.*s",
			 (int)(m[1].rm_eo - m[1].rm_so), answer + m[1].rm_so);
		nvars++;
	}
	regfree(&re);
}

static void expect_exit(int status_wanted)
{
	time_t deadline = time(NULL) + timeout_s;
	int status;
	for (;;) {
		pid_t r = waitpid(qemu_pid, &status, WNOHANG);
		if (r == qemu_pid)
			break;
		if (time(NULL) > deadline)
			fail("QEMU did not exit within %d s", timeout_s);
		usleep(20000);
	}
	qemu_pid = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != status_wanted)
		fail("QEMU exited with status %d, expected %d",
		     WIFEXITED(status) ? WEXITSTATUS(status) : -1, status_wanted);
}

static bool define_var(const char *def)
{
	const char *eq = strchr(def, '=');
	if (!eq || eq == def || (size_t)(eq - def) >= sizeof(vars[0].name) ||
	    strlen(eq + 1) >= sizeof(vars[0].value) || nvars == VARS_MAX)
		return false;
	snprintf(vars[nvars].name, sizeof(vars[nvars].name), "%.*s", (int)(eq - def), def);
	snprintf(vars[nvars].value, sizeof(vars[nvars].value), "%s", eq + 1);
	nvars++;
	return true;
}

int main(int argc, char **argv)
{
	for (; argc > 2 && strcmp(argv[1], "-D") == 0; argc -= 2, argv += 2) {
		if (!define_var(argv[2])) {
			fprintf(stderr, "%s: -D wants NAME=VALUE, not '%s'\n", argv[0], argv[2]);
			return 2;
		}
	}
	if (argc < 4 || strcmp(argv[2], "--") != 0) {
		fprintf(stderr, "usage: %s [-D NAME=VALUE]... SCRIPT -- QEMU-COMMAND...\n", argv[0]);
		return 2;
	}
	transcript = getenv("CONSOLE_TRANSCRIPT") && *getenv("CONSOLE_TRANSCRIPT") == '1';
	if (getenv("CONSOLE_TIMEOUT"))
		timeout_s = atoi(getenv("CONSOLE_TIMEOUT"));
	script_name = argv[1];
	FILE *script = fopen(script_name, "r");
	if (!script) {
		perror(script_name);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	start_qemu(argv + 3);

	char line[1024], text[1024];
	int commands = 0, checks = 0, typed_ahead = 0;
	long at = ftell(script);
	while (fgets(line, sizeof(line), script)) {
		script_line++;
		if (strncmp(line, "^ ", 2) == 0) {
			line[strcspn(line, "\n")] = '\0';
			substitute(line + 2, text, sizeof(text));
			type_raw(text);
			type_raw("\\r");
			typed_ahead++;
		} else if (line[0] != '#' && line[0] != '\n') {
			fseek(script, at, SEEK_SET); /* the rest runs below */
			script_line--;
			break;
		}
		at = ftell(script);
	}
	/* The boot log and the first prompt, then an answer and a prompt for each line typed ahead. */
	if (!read_until_prompts(1 + typed_ahead))
		fail("QEMU exited before the first prompt");
	if (transcript && typed_ahead)
		printf("%s%s", PROMPT, answer);
	commands += typed_ahead;
	while (fgets(line, sizeof(line), script)) {
		script_line++;
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if (strlen(line) < 2 || line[1] != ' ')
			fail("malformed script line '%s'", line);
		substitute(line + 2, text, sizeof(text));
		switch (line[0]) {
		case '>':
			type_raw(text);
			type_raw("\\r");
			if (!read_until_prompt())
				fail("QEMU exited after '%s'", text);
			if (transcript)
				printf("%s%s", PROMPT, answer);
			commands++;
			break;
		case '<':
			type_raw(text);
			if (strstr(text, "\\r"))
				read_until_prompt(); /* false when QEMU exited, as after halt */
			break;
		case '~':
			check_match(text, true);
			checks++;
			break;
		case '!':
			check_match(text, false);
			checks++;
			break;
		case '=':
			if (strncmp(text, "exit ", 5) != 0)
				fail("unknown '=' line");
			expect_exit(atoi(text + 5));
			checks++;
			break;
		default:
			fail("malformed script line '%s'", line);
		}
	}
	if (qemu_pid > 0) {
		kill(qemu_pid, SIGKILL);
		waitpid(qemu_pid, NULL, 0);
	}
	printf("console: %d commands, %d checks passed (%s)\n", commands, checks, script_name);
	return 0;
}
