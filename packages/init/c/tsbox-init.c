/*
 * tsbox-init: the last mile of a tsbox container, in C because Node cannot run
 * code between fork and exec.
 *
 * Two processes come from this binary:
 *
 *   host side ("keeper")  started by Node with the wire config on fd 3 (a unix
 *                         socket). It joins the container's cgroups, clones the
 *                         container init into new namespaces, reports its pid,
 *                         relays "go" and signals from the host, and exits with
 *                         the container's status.
 *   container side (PID 1) builds the root filesystem and the rest of the
 *                         environment, waits for "go", then runs the workload as
 *                         its child, forwards signals to the workload's process
 *                         group, reaps every zombie and exits with the
 *                         workload's status, killing whatever is left.
 *
 * There is no policy here: the host decides every mount, limit and capability
 * and sends them as a list of records. Every failure is reported to the host
 * as "error <stage> <errno> <detail>" on the sync socket.
 *
 * Wire config (host -> keeper, fd 3): u32 little-endian length, then records.
 * A record is a key and a fixed number of arguments (see record_arity), each a
 * NUL-terminated string.
 *
 * Messages (keeper/PID 1 -> host, fd 3), one per line:
 *   pid <host pid of PID 1>   ready   started   exit <wait status>
 *   error <stage> <errno> <detail>
 * Messages (host -> keeper, fd 3): "go", "signal <n>"; EOF means the host is gone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define SYNC_FD 3
#define MAX_CONFIG (4u << 20)
#define MAX_RECORDS 4096
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct record {
	const char *key;
	const char *arg[4];
};

struct config {
	unsigned long clone_flags;
	const char *hostname;
	const char *cwd;
	uid_t uid;
	gid_t gid;
	const char *groups; /* comma-separated, may be empty */
	uint64_t caps;      /* capabilities the workload keeps */
	int no_new_privs;
	int wait_for_go;
	const char *staging; /* where the new root is assembled before pivot_root */
	const char **argv;
	const char **envp;
	struct record *rec;
	size_t nrec;
};

static struct config cfg;

/* ---- reporting ---------------------------------------------------------- */

static void send_line(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof buf - 2)
		n = sizeof buf - 2;
	/* Newlines inside a detail would break the line framing. */
	for (int i = 0; i < n; i++)
		if (buf[i] == '\n')
			buf[i] = ' ';
	buf[n++] = '\n';
	/* One write per message: lines from keeper and PID 1 never interleave. */
	/* MSG_NOSIGNAL: a vanished host must not raise SIGPIPE, which PID 1
	 * would otherwise forward to the workload. */
	while (send(SYNC_FD, buf, (size_t)n, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

static void __attribute__((noreturn)) fail(const char *stage, const char *detail)
{
	int e = errno;
	send_line("error %s %d %s", stage, e, detail ? detail : "");
	_exit(126);
}

/* ---- config ------------------------------------------------------------- */

static int record_arity(const char *key)
{
	static const struct {
		const char *key;
		int n;
	} table[] = {
		{"flags", 1},     {"cgroup", 1},   {"hostname", 1}, {"cwd", 1},
		{"uid", 1},       {"gid", 1},      {"groups", 1},   {"caps", 1},
		{"nonewprivs", 1}, {"wait", 1},    {"staging", 1},  {"arg", 1},
		{"env", 1},       {"rlimit", 3},   {"root-tmpfs", 0}, {"root-bind", 1},
		{"mkdir", 2},     {"bind", 3},     {"symlink", 2},  {"file", 3},
		{"tmpfs", 4},     {"mknod", 4},    {"proc", 1},     {"sysfs", 1},
		{"devpts", 1},    {"pivot", 0},    {"mask", 1},     {"readonly", 1},
		{"root-readonly", 0}, {"root-overlay", 1},
	};
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if (strcmp(table[i].key, key) == 0)
			return table[i].n;
	return -1;
}

static void read_exact(int fd, void *buf, size_t len)
{
	size_t off = 0;
	while (off < len) {
		ssize_t n = read(fd, (char *)buf + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EPIPE;
			fail("config", "short read of the wire config");
		}
		off += (size_t)n;
	}
}

static unsigned long long parse_num(const char *s, const char *what)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || *end || end == s) {
		errno = EINVAL;
		fail("config", what);
	}
	return v;
}

static void load_config(void)
{
	uint32_t len;
	read_exact(SYNC_FD, &len, sizeof len);
	if (len == 0 || len > MAX_CONFIG) {
		errno = EINVAL;
		fail("config", "config length out of range");
	}
	char *buf = malloc(len + 1);
	if (!buf)
		fail("config", "malloc");
	read_exact(SYNC_FD, buf, len);
	buf[len] = '\0';

	cfg.rec = calloc(MAX_RECORDS, sizeof *cfg.rec);
	cfg.argv = calloc(MAX_RECORDS + 1, sizeof *cfg.argv);
	cfg.envp = calloc(MAX_RECORDS + 1, sizeof *cfg.envp);
	if (!cfg.rec || !cfg.argv || !cfg.envp)
		fail("config", "calloc");
	size_t nargv = 0, nenv = 0;
	cfg.wait_for_go = 1;
	cfg.no_new_privs = 1;
	cfg.groups = "";

	char *p = buf, *end = buf + len;
	while (p < end) {
		if (cfg.nrec == MAX_RECORDS) {
			errno = E2BIG;
			fail("config", "too many records");
		}
		struct record *r = &cfg.rec[cfg.nrec];
		r->key = p;
		p += strlen(p) + 1;
		int arity = record_arity(r->key);
		if (arity < 0) {
			errno = EINVAL;
			fail("config", r->key);
		}
		for (int i = 0; i < arity; i++) {
			if (p >= end) {
				errno = EINVAL;
				fail("config", "record truncated");
			}
			r->arg[i] = p;
			p += strlen(p) + 1;
		}
		const char *k = r->key, *a = r->arg[0];
		if (!strcmp(k, "flags"))
			cfg.clone_flags = parse_num(a, "flags");
		else if (!strcmp(k, "hostname"))
			cfg.hostname = a;
		else if (!strcmp(k, "cwd"))
			cfg.cwd = a;
		else if (!strcmp(k, "uid"))
			cfg.uid = (uid_t)parse_num(a, "uid");
		else if (!strcmp(k, "gid"))
			cfg.gid = (gid_t)parse_num(a, "gid");
		else if (!strcmp(k, "groups"))
			cfg.groups = a;
		else if (!strcmp(k, "caps"))
			cfg.caps = parse_num(a, "caps");
		else if (!strcmp(k, "nonewprivs"))
			cfg.no_new_privs = (int)parse_num(a, "nonewprivs");
		else if (!strcmp(k, "wait"))
			cfg.wait_for_go = (int)parse_num(a, "wait");
		else if (!strcmp(k, "staging"))
			cfg.staging = a;
		else if (!strcmp(k, "arg"))
			cfg.argv[nargv++] = a;
		else if (!strcmp(k, "env"))
			cfg.envp[nenv++] = a;
		cfg.nrec++;
	}
	if (nargv == 0) {
		errno = EINVAL;
		fail("config", "no command");
	}
}

/* ---- host side: cgroups ------------------------------------------------- */

static void join_cgroups(void)
{
	for (size_t i = 0; i < cfg.nrec; i++) {
		if (strcmp(cfg.rec[i].key, "cgroup"))
			continue;
		const char *path = cfg.rec[i].arg[0];
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			fail("cgroup", path);
		/* "0" moves the writer itself; the clone below inherits it. */
		if (write(fd, "0", 1) != 1)
			fail("cgroup", path);
		close(fd);
	}
}

/* ---- container side: filesystem ----------------------------------------- */

/*
 * Every container path is resolved inside the new root, never against the
 * host's: before pivot_root the root is the staging directory, and an image
 * (or a directory rootfs) may hold absolute or ".." symlinks. Following one
 * with a plain mkdir/open/mount would create files or mount over directories
 * of the host. So paths are opened with openat2(RESOLVE_IN_ROOT) relative to
 * root_fd, which treats root_fd as "/" for every symlink on the way, and
 * mounts target the opened directory through its /proc/self/fd magic link
 * (as runc does with securejoin). After pivot_root, root_fd is the new "/".
 */
static int root_fd = -1;

static int open_in_root(const char *path, int flags, mode_t mode)
{
	struct open_how how;
	memset(&how, 0, sizeof how);
	how.flags = (uint64_t)(flags | O_CLOEXEC);
	how.mode = (flags & O_CREAT) ? mode : 0;
	how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
	while (*path == '/')
		path++;
	return (int)syscall(SYS_openat2, root_fd, *path ? path : ".", &how, sizeof how);
}

static void set_root(const char *path)
{
	if (root_fd >= 0)
		close(root_fd);
	root_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		fail("mount.root", path);
}

/* The magic link naming an open fd, for syscalls that take a path (mount). */
static char fd_paths[2][32];
static const char *fd_path(int slot, int fd)
{
	snprintf(fd_paths[slot], sizeof fd_paths[slot], "/proc/self/fd/%d", fd);
	return fd_paths[slot];
}

/* mkdir -p inside the root: each missing component is made with mkdirat in
 * its parent as resolved inside the root. Parents get 0755, the last `mode`.
 * Returns an O_PATH fd of the directory, or -1 with errno set. */
static int mkdir_in_root(const char *path, mode_t mode)
{
	int fd = open_in_root(path, O_PATH | O_DIRECTORY, 0);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	char parent[4096];
	if (snprintf(parent, sizeof parent, "%s", path) >= (int)sizeof parent) {
		errno = ENAMETOOLONG;
		return -1;
	}
	size_t len = strlen(parent);
	while (len > 1 && parent[len - 1] == '/')
		parent[--len] = '\0';
	char *slash = strrchr(parent, '/');
	if (!slash) {
		errno = EINVAL;
		return -1;
	}
	char name[256];
	if (snprintf(name, sizeof name, "%s", slash + 1) >= (int)sizeof name) {
		errno = ENAMETOOLONG;
		return -1;
	}
	slash[slash == parent ? 1 : 0] = '\0';
	int dir = mkdir_in_root(parent, 0755);
	if (dir < 0)
		return -1;
	int made = mkdirat(dir, name, mode);
	int saved = errno;
	close(dir);
	if (made < 0 && saved != EEXIST) {
		errno = saved;
		return -1;
	}
	return open_in_root(path, O_PATH | O_DIRECTORY, 0);
}

/* The parent directory of `path` inside the root (made if missing), as an
 * O_PATH fd; *name points at the last component, inside `buf`. */
static int parent_in_root(const char *path, char *buf, size_t size, const char **name)
{
	if (snprintf(buf, size, "%s", path) >= (int)size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	char *slash = strrchr(buf, '/');
	if (!slash || !slash[1]) {
		errno = EINVAL;
		return -1;
	}
	*name = slash + 1;
	/* The parent's path ends where the name begins; "/x" has parent "/". */
	char parent[4096];
	size_t plen = (size_t)(slash - buf);
	memcpy(parent, buf, plen);
	parent[plen ? plen : 1] = '\0';
	if (!plen)
		parent[0] = '/';
	return mkdir_in_root(parent, 0755);
}

/* A bind target must exist and be of the source's kind: a directory or a
 * file. Returns an O_PATH fd of it. A new file is made with O_EXCL|O_NOFOLLOW,
 * so a dangling symlink at the target is refused rather than followed. */
static int bind_target(const char *src, const char *dst)
{
	int fd = open_in_root(dst, O_PATH, 0);
	if (fd >= 0)
		return fd;
	if (errno != ENOENT)
		fail("mount.bind", dst);
	struct stat st;
	if (stat(src, &st) < 0)
		fail("mount.bind", src);
	if (S_ISDIR(st.st_mode)) {
		fd = mkdir_in_root(dst, 0755);
		if (fd < 0)
			fail("mount.mkdir", dst);
		return fd;
	}
	char buf[4096];
	const char *name;
	int dir = parent_in_root(dst, buf, sizeof buf, &name);
	if (dir < 0)
		fail("mount.mkdir", dst);
	int f = openat(dir, name, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0644);
	if (f < 0)
		fail("mount.bind", dst);
	close(f);
	close(dir);
	fd = open_in_root(dst, O_PATH, 0);
	if (fd < 0)
		fail("mount.bind", dst);
	return fd;
}

/* A read-only bind remount must restate the flags the mount already has. */
static unsigned long locked_flags(const char *path)
{
	struct statvfs sv;
	unsigned long f = 0;
	if (statvfs(path, &sv) < 0)
		return 0;
	if (sv.f_flag & ST_NOSUID)
		f |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV)
		f |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC)
		f |= MS_NOEXEC;
	if (sv.f_flag & ST_NOATIME)
		f |= MS_NOATIME;
	if (sv.f_flag & ST_NODIRATIME)
		f |= MS_NODIRATIME;
	if (sv.f_flag & ST_RELATIME)
		f |= MS_RELATIME;
	return f;
}

static void remount_readonly(const char *path, const char *name)
{
	if (mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | locked_flags(path), NULL) < 0)
		fail("mount.readonly", name);
}

/* `src` is a host path (chosen by the host, trusted) or, with src_in_root, a
 * path inside the root (remounting part of it read-only). */
static void do_bind(const char *src, int src_in_root, const char *dst, int readonly)
{
	int from = -1;
	if (src_in_root) {
		from = open_in_root(src, O_PATH, 0);
		if (from < 0)
			fail("mount.bind", src);
	}
	int to = bind_target(from >= 0 ? fd_path(1, from) : src, dst);
	if (mount(from >= 0 ? fd_path(1, from) : src, fd_path(0, to), NULL, MS_BIND | MS_REC, NULL) < 0)
		fail("mount.bind", dst);
	close(to);
	if (from >= 0)
		close(from);
	if (readonly) {
		/* The fd from before names what the bind now covers: reopen to reach the
		 * new mount itself, or the remount would hit the mount below it. */
		to = open_in_root(dst, O_PATH, 0);
		if (to < 0)
			fail("mount.readonly", dst);
		remount_readonly(fd_path(0, to), dst);
		close(to);
	}
}

/* Makes the directory `dst` inside the root and mounts a file system on it. */
static void mount_on_dir(const char *stage, const char *dst, mode_t mode, const char *source,
			 const char *fstype, unsigned long flags, const char *data)
{
	int fd = mkdir_in_root(dst, mode);
	if (fd < 0)
		fail("mount.mkdir", dst);
	if (mount(source, fd_path(0, fd), fstype, flags, data) < 0)
		fail(stage, dst);
	close(fd);
}

static void do_tmpfs(const char *dst, const char *size, const char *mode, int devices)
{
	char opts[64];
	snprintf(opts, sizeof opts, "size=%s,mode=%s", size, mode);
	/* Only the tmpfs that becomes /dev may hold usable device nodes. */
	mount_on_dir("mount.tmpfs", dst, 0755, "tmpfs", "tmpfs", MS_NOSUID | (devices ? 0 : MS_NODEV), opts);
}

static void write_file(const char *path, const char *mode, const char *content)
{
	char buf[4096];
	const char *name;
	int dir = parent_in_root(path, buf, sizeof buf, &name);
	if (dir < 0)
		fail("mount.mkdir", path);
	close(dir);
	int fd = open_in_root(path, O_CREAT | O_TRUNC | O_WRONLY, (mode_t)parse_num(mode, "file mode"));
	if (fd < 0)
		fail("mount.file", path);
	size_t len = strlen(content), off = 0;
	while (off < len) {
		ssize_t n = write(fd, content + off, len - off);
		if (n < 0)
			fail("mount.file", path);
		off += (size_t)n;
	}
	close(fd);
}

/* Makes the last component of `path` with one of the *at calls, in its parent
 * as resolved inside the root. An existing entry is left as it is. */
static void make_node(const char *stage, const char *path, const char *link_target, mode_t mode, dev_t dev)
{
	char buf[4096];
	const char *name;
	int dir = parent_in_root(path, buf, sizeof buf, &name);
	if (dir < 0)
		fail("mount.mkdir", path);
	int r = link_target ? symlinkat(link_target, dir, name) : mknodat(dir, name, mode, dev);
	if (r < 0 && errno != EEXIST)
		fail(stage, path);
	close(dir);
}

static void mask_path(const char *path)
{
	int fd = open_in_root(path, O_PATH, 0);
	if (fd < 0) {
		if (errno == ENOENT)
			return; /* nothing to hide */
		fail("mount.mask", path);
	}
	struct stat st;
	if (fstat(fd, &st) < 0)
		fail("mount.mask", path);
	if (S_ISDIR(st.st_mode)) {
		if (mount("tmpfs", fd_path(0, fd), "tmpfs", MS_RDONLY, NULL) < 0)
			fail("mount.mask", path);
	} else if (mount("/dev/null", fd_path(0, fd), NULL, MS_BIND, NULL) < 0) {
		fail("mount.mask", path);
	}
	close(fd);
}

static void pivot_into_staging(void)
{
	if (chdir(cfg.staging) < 0)
		fail("pivot_root", cfg.staging);
	/* pivot_root(".", ".") stacks the old root on the new one; detaching it
	 * leaves only the new root. */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		fail("pivot_root", cfg.staging);
	if (umount2(".", MNT_DETACH) < 0)
		fail("pivot_root", "detach old root");
	if (chdir("/") < 0)
		fail("pivot_root", "/");
	set_root("/");
}

static void build_root(void)
{
	if (!cfg.staging) {
		errno = EINVAL;
		fail("config", "no staging directory");
	}
	/* Nothing we mount may propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		fail("mount.private", "/");

	int pivoted = 0;
	umask(0);
	for (size_t i = 0; i < cfg.nrec; i++) {
		struct record *r = &cfg.rec[i];
		const char *k = r->key;
		/* Records before a root record (if any) act on the staging dir itself. */
		if (root_fd < 0 && strncmp(k, "root-", 5) != 0)
			set_root(cfg.staging);
		if (!strcmp(k, "root-tmpfs")) {
			if (mount("tmpfs", cfg.staging, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") < 0)
				fail("mount.root", cfg.staging);
			set_root(cfg.staging);
		} else if (!strcmp(k, "root-overlay")) {
			/* Mounted here, in the container's own mount namespace, the overlay
			 * never enters the host's mount table and dies with the namespace.
			 * Its option string names host paths (layers, upper, work), resolved
			 * now, before the overlay covers the staging directory. No nosuid:
			 * images carry setuid tools (su, ping) and Docker allows them;
			 * no_new_privs is what stops them by default. */
			if (mount("overlay", cfg.staging, "overlay", 0, r->arg[0]) < 0)
				fail("mount.root", "overlay");
			set_root(cfg.staging);
		} else if (!strcmp(k, "root-bind")) {
			if (mount(r->arg[0], cfg.staging, NULL, MS_BIND | MS_REC, NULL) < 0)
				fail("mount.root", r->arg[0]);
			set_root(cfg.staging);
		} else if (!strcmp(k, "mkdir")) {
			int fd = mkdir_in_root(r->arg[0], (mode_t)parse_num(r->arg[1], "mkdir mode"));
			if (fd < 0)
				fail("mount.mkdir", r->arg[0]);
			close(fd);
		} else if (!strcmp(k, "bind")) {
			do_bind(r->arg[0], pivoted, r->arg[1], r->arg[2][0] == '1');
		} else if (!strcmp(k, "symlink")) {
			make_node("mount.symlink", r->arg[1], r->arg[0], 0, 0);
		} else if (!strcmp(k, "file")) {
			write_file(r->arg[0], r->arg[1], r->arg[2]);
		} else if (!strcmp(k, "tmpfs")) {
			do_tmpfs(r->arg[0], r->arg[1], r->arg[2], r->arg[3][0] == '1');
		} else if (!strcmp(k, "mknod")) {
			dev_t dev = makedev((unsigned)parse_num(r->arg[1], "major"), (unsigned)parse_num(r->arg[2], "minor"));
			make_node("mount.mknod", r->arg[0], NULL, S_IFCHR | (mode_t)parse_num(r->arg[3], "mknod mode"), dev);
		} else if (!strcmp(k, "proc")) {
			mount_on_dir("mount.proc", r->arg[0], 0555, "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
		} else if (!strcmp(k, "sysfs")) {
			mount_on_dir("mount.sysfs", r->arg[0], 0555, "sysfs", "sysfs",
				     MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
		} else if (!strcmp(k, "devpts")) {
			mount_on_dir("mount.devpts", r->arg[0], 0755, "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
				     "newinstance,ptmxmode=0666,mode=0620");
		} else if (!strcmp(k, "pivot")) {
			pivot_into_staging();
			pivoted = 1;
		} else if (!strcmp(k, "mask")) {
			mask_path(r->arg[0]);
		} else if (!strcmp(k, "readonly")) {
			int fd = open_in_root(r->arg[0], O_PATH, 0);
			if (fd < 0 && errno == ENOENT)
				continue;
			if (fd < 0)
				fail("mount.readonly", r->arg[0]);
			close(fd);
			do_bind(r->arg[0], 1, r->arg[0], 1);
		} else if (!strcmp(k, "root-readonly")) {
			remount_readonly(pivoted ? "/" : cfg.staging, "/");
		}
	}
	umask(022);
	if (!pivoted) {
		errno = EINVAL;
		fail("config", "no pivot record");
	}
	close(root_fd);
	root_fd = -1;
}

static void loopback_up(void)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		fail("network.lo", "socket");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		fail("network.lo", "SIOCGIFFLAGS");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		fail("network.lo", "SIOCSIFFLAGS");
	close(s);
}

/* ---- container side: the workload --------------------------------------- */

static int exec_err_fd = -1;

/* Failures after fork are sent to PID 1 over a close-on-exec pipe: EOF there
 * means execve succeeded. */
static void __attribute__((noreturn)) child_fail(const char *stage, const char *detail)
{
	char buf[512];
	int n = snprintf(buf, sizeof buf, "%s %d %s", stage, errno, detail ? detail : "");
	if (n > 0)
		(void)!write(exec_err_fd, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
	_exit(127);
}

static void apply_rlimits(void)
{
	for (size_t i = 0; i < cfg.nrec; i++) {
		struct record *r = &cfg.rec[i];
		if (strcmp(r->key, "rlimit"))
			continue;
		struct rlimit rl;
		int res = (int)strtol(r->arg[0], NULL, 10);
		rl.rlim_cur = strcmp(r->arg[1], "inf") ? strtoull(r->arg[1], NULL, 10) : RLIM_INFINITY;
		rl.rlim_max = strcmp(r->arg[2], "inf") ? strtoull(r->arg[2], NULL, 10) : RLIM_INFINITY;
		if (setrlimit(res, &rl) < 0)
			child_fail("rlimit", r->arg[0]);
	}
}

static void set_identity(void)
{
	gid_t groups[64];
	size_t ng = 0;
	const char *s = cfg.groups;
	while (*s && ng < 64) {
		char *end;
		groups[ng++] = (gid_t)strtoul(s, &end, 10);
		s = *end == ',' ? end + 1 : end;
		if (end == s && *s)
			break;
	}
	if (setgroups(ng, groups) < 0)
		child_fail("setgroups", cfg.groups);
	if (setresgid(cfg.gid, cfg.gid, cfg.gid) < 0)
		child_fail("setgid", NULL);
	if (setresuid(cfg.uid, cfg.uid, cfg.uid) < 0)
		child_fail("setuid", NULL);
}

static void drop_bounding_set(void)
{
	for (int cap = 0; cap <= 63; cap++) {
		if (cfg.caps & (1ULL << cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break; /* past the kernel's last capability */
			child_fail("capabilities", "PR_CAPBSET_DROP");
		}
	}
}

static void set_capabilities(void)
{
	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	/* setresuid to a non-zero uid has already cleared every set. */
	if (cfg.uid != 0)
		return;
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof data);
	if (syscall(SYS_capget, &hdr, data) < 0)
		child_fail("capabilities", "capget");
	/* A host that runs us without some capability cannot grant it: keep the
	 * intersection rather than fail every container on such hosts. */
	uint32_t lo = (uint32_t)cfg.caps & data[0].permitted;
	uint32_t hi = (uint32_t)(cfg.caps >> 32) & data[1].permitted;
	data[0].effective = data[0].permitted = data[0].inheritable = lo;
	data[1].effective = data[1].permitted = data[1].inheritable = hi;
	if (syscall(SYS_capset, &hdr, data) < 0)
		child_fail("capabilities", "capset");
}

static const char *env_path(void)
{
	for (const char **e = cfg.envp; *e; e++)
		if (!strncmp(*e, "PATH=", 5))
			return *e + 5;
	return DEFAULT_PATH;
}

/* execvpe would search the PATH of this process, not the workload's. */
static void exec_workload(void)
{
	const char *file = cfg.argv[0];
	char *const *argv = (char *const *)cfg.argv;
	char *const *envp = (char *const *)cfg.envp;
	if (strchr(file, '/')) {
		execve(file, argv, envp);
		child_fail("exec", file);
	}
	const char *path = env_path();
	int saw_eacces = 0;
	char full[4096];
	while (*path) {
		const char *colon = strchr(path, ':');
		size_t dlen = colon ? (size_t)(colon - path) : strlen(path);
		if (dlen == 0)
			snprintf(full, sizeof full, "./%s", file);
		else
			snprintf(full, sizeof full, "%.*s/%s", (int)dlen, path, file);
		execve(full, argv, envp);
		if (errno == EACCES)
			saw_eacces = 1;
		else if (errno != ENOENT && errno != ENOTDIR)
			child_fail("exec", full);
		if (!colon)
			break;
		path = colon + 1;
	}
	errno = saw_eacces ? EACCES : ENOENT;
	child_fail("exec", file);
}

static void __attribute__((noreturn)) run_workload(const sigset_t *orig_mask)
{
	/* Its own process group, so PID 1 can signal the whole job at once. */
	setpgid(0, 0);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigprocmask(SIG_SETMASK, orig_mask, NULL);
	close(SYNC_FD);

	apply_rlimits();
	drop_bounding_set();
	set_identity();
	set_capabilities();
	if (cfg.no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail("no_new_privs", NULL);
	if (cfg.cwd && chdir(cfg.cwd) < 0)
		child_fail("cwd", cfg.cwd);
	exec_workload();
	_exit(127);
}

static void noop_handler(int sig)
{
	(void)sig;
}

/* PID 1 drops signals it has no handler for, so install one for each. */
static void trap_all_signals(sigset_t *all, sigset_t *orig)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = noop_handler;
	sigfillset(all);
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		(void)sigaction(sig, &sa, NULL);
	}
	sigprocmask(SIG_BLOCK, all, orig);
}

static int status_to_code(int ws)
{
	if (WIFEXITED(ws))
		return WEXITSTATUS(ws);
	if (WIFSIGNALED(ws))
		return 128 + WTERMSIG(ws);
	return 255;
}

static void __attribute__((noreturn)) be_pid1(void)
{
	sigset_t all, orig;
	trap_all_signals(&all, &orig);

	int errpipe[2];
	if (pipe2(errpipe, O_CLOEXEC) < 0)
		fail("exec", "pipe");
	/* vfork: the child only sets up and execs, and copying the address space is
	 * the dearest part of a fork on some hosts (1.6 ms against 0.04 ms measured
	 * on a PVM guest). The parent sleeps until the execve or the failure report. */
	pid_t wpid = vfork();
	if (wpid < 0)
		fail("exec", "fork");
	if (wpid == 0) {
		close(errpipe[0]);
		exec_err_fd = errpipe[1];
		run_workload(&orig);
	}
	close(errpipe[1]);
	/* The workload is in its own group before anyone can signal it. */
	setpgid(wpid, wpid);

	char ebuf[512];
	ssize_t n;
	while ((n = read(errpipe[0], ebuf, sizeof ebuf - 1)) < 0 && errno == EINTR)
		;
	close(errpipe[0]);
	if (n > 0) {
		ebuf[n] = '\0';
		/* ebuf is "<stage> <errno> <detail>" from the workload child. */
		send_line("error %s", ebuf);
		waitpid(wpid, NULL, 0);
		_exit(127);
	}
	send_line("started");

	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&all, &si);
		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			if (kill(-wpid, sig) < 0 && errno == ESRCH)
				kill(wpid, sig);
			continue;
		}
		int ws;
		pid_t p;
		while ((p = waitpid(-1, &ws, WNOHANG)) > 0) {
			if (p != wpid)
				continue; /* an orphan we adopted: reaped, nothing else to do */
			send_line("exit %d", ws);
			/* Leave nothing behind: whatever the workload started dies with it. */
			kill(-1, SIGKILL);
			while (waitpid(-1, NULL, 0) > 0)
				;
			_exit(status_to_code(ws));
		}
	}
}

static void __attribute__((noreturn)) container_main(int go_fd)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		fail("init", "PR_SET_PDEATHSIG");
	if (cfg.hostname && sethostname(cfg.hostname, strlen(cfg.hostname)) < 0)
		fail("hostname", cfg.hostname);
	if (cfg.clone_flags & CLONE_NEWNET)
		loopback_up();
	build_root();

	send_line("ready");
	if (cfg.wait_for_go) {
		char c;
		ssize_t n;
		while ((n = read(go_fd, &c, 1)) < 0 && errno == EINTR)
			;
		if (n != 1) /* the keeper died or the host gave up */
			_exit(125);
	}
	close(go_fd);
	be_pid1();
}

/* ---- host side: the keeper ---------------------------------------------- */

static void handle_host_line(const char *line, pid_t child, int go_fd)
{
	if (!strcmp(line, "go")) {
		(void)!write(go_fd, "g", 1);
	} else if (!strncmp(line, "signal ", 7)) {
		/* The keeper signals PID 1 only until it reaps it: no pid reuse race. */
		kill(child, atoi(line + 7));
	}
}

static int keeper_main(void)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		fail("init", "PR_SET_PDEATHSIG");
	/* "go" to a container that already failed writes to a closed pipe: that is
	 * EPIPE to ignore, not a reason for the keeper to die. */
	signal(SIGPIPE, SIG_IGN);
	load_config();
	join_cgroups();

	int go[2];
	if (pipe2(go, O_CLOEXEC) < 0)
		fail("init", "pipe");

	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);

	pid_t child = (pid_t)syscall(SYS_clone, cfg.clone_flags | SIGCHLD, NULL, NULL, NULL, 0);
	if (child < 0)
		fail("clone", "namespaces");
	if (child == 0) {
		sigprocmask(SIG_UNBLOCK, &chld, NULL);
		close(go[1]);
		container_main(go[0]);
	}
	close(go[0]);
	send_line("pid %d", child);

	int sfd = signalfd(-1, &chld, SFD_CLOEXEC);
	if (sfd < 0) {
		kill(child, SIGKILL);
		fail("init", "signalfd");
	}
	struct pollfd pfd[2] = {{SYNC_FD, POLLIN, 0}, {sfd, POLLIN, 0}};
	char line[256];
	size_t used = 0;
	int host_open = 1;
	for (;;) {
		pfd[0].fd = host_open ? SYNC_FD : -1;
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			kill(child, SIGKILL);
			fail("init", "poll");
		}
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			(void)!read(sfd, &si, sizeof si);
			int ws;
			if (waitpid(child, &ws, WNOHANG) == child)
				return status_to_code(ws);
		}
		if (host_open && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t n = read(SYNC_FD, line + used, sizeof line - 1 - used);
			if (n <= 0) {
				if (n < 0 && errno == EINTR)
					continue;
				/* The host is gone: nobody will ever collect this container. */
				host_open = 0;
				kill(child, SIGKILL);
				continue;
			}
			used += (size_t)n;
			char *nl;
			while ((nl = memchr(line, '\n', used))) {
				*nl = '\0';
				handle_host_line(line, child, go[1]);
				size_t rest = used - (size_t)(nl + 1 - line);
				memmove(line, nl + 1, rest);
				used = rest;
			}
			if (used == sizeof line - 1)
				used = 0; /* an overlong line is garbage: drop it */
		}
	}
}

/* ---- the launcher ---------------------------------------------------------
 *
 * Node forking itself to spawn each keeper costs far more than the keeper's own
 * work (≈ 9.5 ms of a ≈ 19 ms run on a PVM guest, where copying an address space
 * is dear): a Node process has a large one, this program a tiny one. So Node
 * starts one launcher (`tsbox-init --launcher`) and asks it, one line each, to
 * fork keepers:
 *
 *   Node -> launcher (stdin):  spawn <n> <socket> <with stdin 0|1>
 *   launcher -> Node (stdout): started <n> <pid>   exit <pid> <code> <signal>
 *
 * The new keeper connects to Node's unix socket <socket> ('@' = abstract) once
 * for each of its streams, saying "<n> <sync|out|err|in>\n" first, makes them
 * fds 3, 1, 2 and 0, and is from then on exactly the keeper Node used to spawn.
 */

static int connect_stream(const char *addr, const char *n, const char *name)
{
	struct sockaddr_un sa;
	size_t len = strlen(addr);
	if (len == 0 || len >= sizeof sa.sun_path)
		_exit(124);
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, addr, len);
	if (addr[0] == '@')
		sa.sun_path[0] = '\0';
	/* Node (libuv) binds an abstract name padded with NULs to the whole sun_path,
	 * so the address length must be the full structure's to match it. */
	socklen_t salen = addr[0] == '@' ? (socklen_t)sizeof sa
					 : (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, salen) < 0)
		_exit(124);
	char hello[64];
	int m = snprintf(hello, sizeof hello, "%s %s\n", n, name);
	if (m <= 0 || write(s, hello, (size_t)m) != m)
		_exit(124);
	/* Far above 0-3, so the dup2 calls below never overwrite one another. */
	int high = fcntl(s, F_DUPFD, 64);
	if (high < 0)
		_exit(124);
	close(s);
	return high;
}

static int __attribute__((noreturn)) become_keeper(char *n, char *addr, int with_input)
{
	int sync = connect_stream(addr, n, "sync");
	int out = connect_stream(addr, n, "out");
	int err = connect_stream(addr, n, "err");
	int in = with_input ? connect_stream(addr, n, "in") : open("/dev/null", O_RDONLY);
	if (in < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0 || dup2(sync, SYNC_FD) < 0)
		_exit(124);
	/* Nothing of the launcher's (its pipes to Node, other keepers' sockets) stays. */
	if (syscall(SYS_close_range, 4U, ~0U, 0U) < 0)
		for (int fd = 4; fd < 1024; fd++)
			close(fd);
	exit(keeper_main());
}

static void launcher_report(const char *fmt, ...)
{
	char buf[128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < sizeof buf)
		(void)!write(1, buf, (size_t)n);
}

static void launcher_request(char *line, const sigset_t *chld)
{
	char *save = NULL;
	char *verb = strtok_r(line, " ", &save);
	char *n = strtok_r(NULL, " ", &save);
	char *addr = strtok_r(NULL, " ", &save);
	char *input = strtok_r(NULL, " ", &save);
	if (!verb || strcmp(verb, "spawn") || !n || !addr || !input)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		sigprocmask(SIG_UNBLOCK, chld, NULL);
		become_keeper(n, addr, input[0] == '1');
	}
	if (pid < 0)
		launcher_report("failed %s %d\n", n, errno);
	else
		launcher_report("started %s %d\n", n, pid);
}

static int launcher_main(void)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	int sfd = signalfd(-1, &chld, SFD_CLOEXEC);
	if (sfd < 0)
		return 1;
	struct pollfd pfd[2] = {{0, POLLIN, 0}, {sfd, POLLIN, 0}};
	char line[1024];
	size_t used = 0;
	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			(void)!read(sfd, &si, sizeof si);
			int ws;
			pid_t p;
			while ((p = waitpid(-1, &ws, WNOHANG)) > 0)
				launcher_report("exit %d %d %d\n", p, WIFEXITED(ws) ? WEXITSTATUS(ws) : -1,
						WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = read(0, line + used, sizeof line - 1 - used);
			if (r <= 0) {
				if (r < 0 && errno == EINTR)
					continue;
				return 0; /* Node is gone; keepers die with us (PR_SET_PDEATHSIG) */
			}
			used += (size_t)r;
			char *nl;
			while ((nl = memchr(line, '\n', used))) {
				*nl = '\0';
				launcher_request(line, &chld);
				size_t rest = used - (size_t)(nl + 1 - line);
				memmove(line, nl + 1, rest);
				used = rest;
			}
			if (used == sizeof line - 1)
				used = 0;
		}
	}
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--launcher") == 0)
		return launcher_main();
	return keeper_main();
}
