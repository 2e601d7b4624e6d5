/*
 * vsock-tool: a small static AF_VSOCK stream tool for the vireo test guest (busybox has
 * none). The virtio-vsock integration test builds it and appends it to the guest's
 * initramfs as /bin/vsock-tool.
 *
 *   vsock-tool listen PORT        accept one connection, echo what it sends until EOF,
 *                                 then close
 *   vsock-tool connect CID PORT   copy stdin to the connection (then shut down its
 *                                 write side) and the connection to stdout, until EOF
 *
 * Exit status 0 on success, 1 with a message on stderr otherwise.
 */
#include <errno.h>
#include <linux/vm_sockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int fail(const char *what) {
	fprintf(stderr, "vsock-tool: %s: %s\n", what, strerror(errno));
	return 1;
}

static int write_all(int fd, const char *p, size_t n) {
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR) continue;
		if (w <= 0) return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Copies from -> to until EOF; -1 on an error. */
static int copy(int from, int to) {
	static char buf[65536];
	for (;;) {
		ssize_t n = read(from, buf, sizeof(buf));
		if (n < 0 && errno == EINTR) continue;
		if (n < 0) return -1;
		if (n == 0) return 0;
		if (write_all(to, buf, (size_t)n) != 0) return -1;
	}
}

static struct sockaddr_vm address(unsigned cid, unsigned port) {
	struct sockaddr_vm a;
	memset(&a, 0, sizeof(a));
	a.svm_family = AF_VSOCK;
	a.svm_cid = cid;
	a.svm_port = port;
	return a;
}

static int listen_echo(unsigned port) {
	int s = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (s < 0) return fail("socket");
	struct sockaddr_vm a = address(VMADDR_CID_ANY, port);
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) != 0) return fail("bind");
	if (listen(s, 1) != 0) return fail("listen");
	int c = accept(s, NULL, NULL);
	if (c < 0) return fail("accept");
	if (copy(c, c) != 0) return fail("echo");
	close(c);
	return 0;
}

static int connect_copy(unsigned cid, unsigned port) {
	int s = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (s < 0) return fail("socket");
	struct sockaddr_vm a = address(cid, port);
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) != 0) return fail("connect");
	/* Two processes, so that neither direction waits for the other. */
	pid_t child = fork();
	if (child < 0) return fail("fork");
	if (child == 0) {
		if (copy(0, s) != 0) _exit(fail("sending"));
		shutdown(s, SHUT_WR);
		_exit(0);
	}
	int rc = copy(s, 1) != 0 ? fail("receiving") : 0;
	int status = 0;
	waitpid(child, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) rc = 1;
	return rc;
}

int main(int argc, char **argv) {
	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && strcmp(argv[1], "listen") == 0) return listen_echo((unsigned)strtoul(argv[2], NULL, 10));
	if (argc == 4 && strcmp(argv[1], "connect") == 0)
		return connect_copy((unsigned)strtoul(argv[2], NULL, 10), (unsigned)strtoul(argv[3], NULL, 10));
	fprintf(stderr, "usage: vsock-tool listen PORT | connect CID PORT\n");
	return 1;
}
