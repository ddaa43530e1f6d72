/*
 * harden.c: least privilege for the commands seedfork-ns runs inside a sandbox, in the order
 * container runtimes apply it (runc's init, Bazel's linux-sandbox):
 *
 * 1. A user namespace of its own, mapping every id of the parent's namespace to itself. Files
 *    keep their owners (the project stays writable, Postgres keeps its data directory), but the
 *    command's capabilities now count only inside that namespace: the sandbox's mount, network,
 *    UTS, IPC, PID and time namespaces and the host's clock, sysctls, modules and devices all
 *    belong to the initial user namespace, where it has none (user_namespaces(7),
 *    "Capabilities"). So `umount /proc/sys`, `clock_settime`, `mknod` of a device, `sethostname`
 *    and network configuration all fail with EPERM even before the filter below.
 * 2. no_new_privs (prctl(2) PR_SET_NO_NEW_PRIVS): setuid binaries and file capabilities grant
 *    nothing.
 * 3. Capabilities: Docker's default set (moby, oci/caps/defaults.go) minus CAP_MKNOD, dropped
 *    from the bounding, ambient, inheritable, permitted and effective sets.
 * 4. A seccomp filter (seccomp(2), Documentation/userspace-api/seccomp_filter.rst) refusing
 *    the calls of REFUSED below. The list follows Docker's default profile (moby,
 *    profiles/seccomp/default.json: calls allowed only with CAP_SYS_ADMIN, CAP_SYS_TIME,
 *    CAP_SYS_MODULE, CAP_SYS_BOOT, CAP_SYS_PTRACE, CAP_SYSLOG and the like) plus the new mount
 *    API. clone(2) with namespace flags is refused; clone3(2), whose flags a classic BPF filter
 *    cannot read, answers ENOSYS so that libc falls back to clone(2), as Docker does.
 *    Refused calls go to the supervising seedfork-ns process (SECCOMP_RET_USER_NOTIF), which
 *    answers EPERM and prints "seedfork: <call> refused in the sandbox" once per call, so a
 *    test that fails on it says why.
 */
#define _GNU_SOURCE
#include "harden.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/syscall.h>
/* the kernel's own call numbers too: a C library's list can lag the kernel's (musl 1.2.3 has no
 * quotactl_fd), and a call this file cannot name is a call the filter lets through */
#include <asm/unistd.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#else
#error "seedfork-ns: add this architecture's AUDIT_ARCH_ value"
#endif

struct syscall_entry {
  const char *name;
  int nr;
};

/* Refused in every sandbox unless config `sandbox.allowSyscalls` names them. */
static const struct syscall_entry REFUSED[] = {
#ifdef __NR_mount
    {"mount", __NR_mount},
#endif
#ifdef __NR_umount2
    {"umount2", __NR_umount2},
#endif
#ifdef __NR_pivot_root
    {"pivot_root", __NR_pivot_root},
#endif
#ifdef __NR_move_mount
    {"move_mount", __NR_move_mount},
#endif
#ifdef __NR_open_tree
    {"open_tree", __NR_open_tree},
#endif
#ifdef __NR_fsopen
    {"fsopen", __NR_fsopen},
#endif
#ifdef __NR_fsconfig
    {"fsconfig", __NR_fsconfig},
#endif
#ifdef __NR_fsmount
    {"fsmount", __NR_fsmount},
#endif
#ifdef __NR_fspick
    {"fspick", __NR_fspick},
#endif
#ifdef __NR_mount_setattr
    {"mount_setattr", __NR_mount_setattr},
#endif
#ifdef __NR_clock_settime
    {"clock_settime", __NR_clock_settime},
#endif
#ifdef __NR_clock_adjtime
    {"clock_adjtime", __NR_clock_adjtime},
#endif
#ifdef __NR_settimeofday
    {"settimeofday", __NR_settimeofday},
#endif
#ifdef __NR_adjtimex
    {"adjtimex", __NR_adjtimex},
#endif
#ifdef __NR_stime
    {"stime", __NR_stime},
#endif
#ifdef __NR_init_module
    {"init_module", __NR_init_module},
#endif
#ifdef __NR_finit_module
    {"finit_module", __NR_finit_module},
#endif
#ifdef __NR_delete_module
    {"delete_module", __NR_delete_module},
#endif
#ifdef __NR_create_module
    {"create_module", __NR_create_module},
#endif
#ifdef __NR_get_kernel_syms
    {"get_kernel_syms", __NR_get_kernel_syms},
#endif
#ifdef __NR_query_module
    {"query_module", __NR_query_module},
#endif
#ifdef __NR_kexec_load
    {"kexec_load", __NR_kexec_load},
#endif
#ifdef __NR_kexec_file_load
    {"kexec_file_load", __NR_kexec_file_load},
#endif
#ifdef __NR_keyctl
    {"keyctl", __NR_keyctl},
#endif
#ifdef __NR_add_key
    {"add_key", __NR_add_key},
#endif
#ifdef __NR_request_key
    {"request_key", __NR_request_key},
#endif
#ifdef __NR_bpf
    {"bpf", __NR_bpf},
#endif
#ifdef __NR_perf_event_open
    {"perf_event_open", __NR_perf_event_open},
#endif
#ifdef __NR_lookup_dcookie
    {"lookup_dcookie", __NR_lookup_dcookie},
#endif
#ifdef __NR_reboot
    {"reboot", __NR_reboot},
#endif
#ifdef __NR_swapon
    {"swapon", __NR_swapon},
#endif
#ifdef __NR_swapoff
    {"swapoff", __NR_swapoff},
#endif
#ifdef __NR_acct
    {"acct", __NR_acct},
#endif
#ifdef __NR_syslog
    {"syslog", __NR_syslog},
#endif
#ifdef __NR_quotactl
    {"quotactl", __NR_quotactl},
#endif
#ifdef __NR_quotactl_fd
    {"quotactl_fd", __NR_quotactl_fd},
#endif
#ifdef __NR_iopl
    {"iopl", __NR_iopl},
#endif
#ifdef __NR_ioperm
    {"ioperm", __NR_ioperm},
#endif
#ifdef __NR_nfsservctl
    {"nfsservctl", __NR_nfsservctl},
#endif
#ifdef __NR__sysctl
    {"_sysctl", __NR__sysctl},
#endif
#ifdef __NR_uselib
    {"uselib", __NR_uselib},
#endif
#ifdef __NR_ustat
    {"ustat", __NR_ustat},
#endif
#ifdef __NR_sysfs
    {"sysfs", __NR_sysfs},
#endif
#ifdef __NR_vhangup
    {"vhangup", __NR_vhangup},
#endif
#ifdef __NR_setns
    {"setns", __NR_setns},
#endif
#ifdef __NR_unshare
    {"unshare", __NR_unshare},
#endif
#ifdef __NR_ptrace
    {"ptrace", __NR_ptrace},
#endif
#ifdef __NR_process_vm_readv
    {"process_vm_readv", __NR_process_vm_readv},
#endif
#ifdef __NR_process_vm_writev
    {"process_vm_writev", __NR_process_vm_writev},
#endif
#ifdef __NR_pidfd_getfd
    {"pidfd_getfd", __NR_pidfd_getfd},
#endif
#ifdef __NR_kcmp
    {"kcmp", __NR_kcmp},
#endif
#ifdef __NR_userfaultfd
    {"userfaultfd", __NR_userfaultfd},
#endif
#ifdef __NR_open_by_handle_at
    {"open_by_handle_at", __NR_open_by_handle_at},
#endif
#ifdef __NR_name_to_handle_at
    {"name_to_handle_at", __NR_name_to_handle_at},
#endif
/* io_uring: refused by Docker's default profile since 2023 (its submissions bypass this filter,
 * and it has been a steady source of kernel exploits). Node's libuv (Node >= 22) asks for a ring
 * when each event loop starts and falls back to epoll when refused, so that call is refused
 * quietly: a line for it would be in every Node process's output. The other two need a ring. */
#ifdef __NR_io_uring_setup
    {"io_uring_setup", __NR_io_uring_setup},
#endif
#ifdef __NR_io_uring_enter
    {"io_uring_enter", __NR_io_uring_enter},
#endif
#ifdef __NR_io_uring_register
    {"io_uring_register", __NR_io_uring_register},
#endif
};
#define N_REFUSED (sizeof REFUSED / sizeof *REFUSED)

/* Refused with EPERM but not reported: calls runtimes make routinely and do without (above). */
static int refused_quietly(const char *name) { return !strcmp(name, "io_uring_setup"); }

/* clone(2) flags that make namespaces (linux/sched.h). */
#define NAMESPACE_FLAGS                                                                     \
  (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | \
   CLONE_NEWCGROUP | 0x00000080 /* CLONE_NEWTIME */)

/* Docker's default capabilities (moby oci/caps/defaults.go) without CAP_MKNOD. */
static const int KEPT_CAPS[] = {
    CAP_CHOWN,  CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,      CAP_NET_RAW,
    CAP_SETGID, CAP_SETUID,       CAP_SETFCAP,          CAP_SETPCAP,     CAP_NET_BIND_SERVICE,
    CAP_KILL,   CAP_AUDIT_WRITE,  CAP_SYS_CHROOT,
};

int harden_known_syscall(const char *name) {
  if (!strcmp(name, "clone")) return 1;
  for (size_t i = 0; i < N_REFUSED; i++)
    if (!strcmp(REFUSED[i].name, name)) return 1;
  return 0;
}

void harden_list_syscalls(FILE *out) {
  fputs("clone\n", out);
  for (size_t i = 0; i < N_REFUSED; i++) fprintf(out, "%s\n", REFUSED[i].name);
}

static const char *syscall_name(int nr) {
  if (nr == __NR_clone) return "clone with namespace flags";
  for (size_t i = 0; i < N_REFUSED; i++)
    if (REFUSED[i].nr == nr) return REFUSED[i].name;
  return "a system call";
}

static int allowed(const struct harden_opts *o, const char *name) {
  for (int i = 0; i < o->n_allowed; i++)
    if (!strcmp(o->allowed[i], name)) return 1;
  return 0;
}

int harden_enter_userns(int sock) {
  if (unshare(CLONE_NEWUSER) < 0) return -1;
  char c = 'u';
  if (write(sock, &c, 1) != 1) return -1;
  if (read(sock, &c, 1) != 1 || c != 'm') {
    errno = EPROTO;
    return -1;
  }
  return 0;
}

/* "a a n" for every "a b n" line of our own map: identity over what our namespace maps.
 * `proc` is a directory fd of the host's /proc (our own root is the sandbox's by now). */
static int write_identity_map(int proc, pid_t child, const char *kind) {
  char path[64], map[4096] = "";
  snprintf(path, sizeof path, "self/%s", kind);
  int in = openat(proc, path, O_RDONLY | O_CLOEXEC);
  FILE *f = in >= 0 ? fdopen(in, "re") : NULL;
  if (!f) return -1;
  unsigned long inside, outside, count;
  size_t len = 0;
  while (fscanf(f, "%lu %lu %lu", &inside, &outside, &count) == 3 && len < sizeof map - 64)
    len += snprintf(map + len, sizeof map - len, "%lu %lu %lu\n", inside, inside, count);
  fclose(f);
  snprintf(path, sizeof path, "%d/%s", child, kind);
  int fd = openat(proc, path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t w = write(fd, map, len);
  int saved = errno;
  close(fd);
  errno = saved;
  return w == (ssize_t)len ? 0 : -1;
}

int harden_map_user(int sock, int proc, pid_t child) {
  char c;
  if (read(sock, &c, 1) != 1 || c != 'u') return -1;
  if (write_identity_map(proc, child, "uid_map") < 0) return -1;
  if (write_identity_map(proc, child, "gid_map") < 0) return -1;
  c = 'm';
  return write(sock, &c, 1) == 1 ? 0 : -1;
}

static unsigned long long kept_mask(void) {
  unsigned long long keep = 0;
  for (size_t i = 0; i < sizeof KEPT_CAPS / sizeof *KEPT_CAPS; i++) keep |= 1ULL << KEPT_CAPS[i];
  return keep;
}

int harden_drop_bounding(char *err, size_t err_len) {
  int last = 40;
  FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
  if (f) {
    if (fscanf(f, "%d", &last) != 1) last = 40;
    fclose(f);
  }
  unsigned long long keep = kept_mask();
  for (int cap = 0; cap <= last; cap++) {
    if (keep & (1ULL << cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) {
      snprintf(err, err_len, "drop capability %d from the bounding set: %s", cap, strerror(errno));
      return -1;
    }
  }
  return 0;
}

/* The effective, permitted and inheritable sets reduced to KEPT_CAPS; no ambient ones. */
static int reduce_capabilities(char *err, size_t err_len) {
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  unsigned long long keep = kept_mask();
  struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &header, data) < 0) {
    snprintf(err, err_len, "capget: %s", strerror(errno));
    return -1;
  }
  for (int w = 0; w < 2; w++) {
    unsigned int mask = (unsigned int)(keep >> (32 * w));
    data[w].effective &= mask;
    data[w].permitted &= mask;
    data[w].inheritable &= mask;
  }
  if (syscall(SYS_capset, &header, data) < 0) {
    snprintf(err, err_len, "capset: %s", strerror(errno));
    return -1;
  }
  return 0;
}

#define ADD(...) prog[n++] = (struct sock_filter)__VA_ARGS__

static int install_filter(const struct harden_opts *o, char *err, size_t err_len) {
  struct sock_filter prog[2 * N_REFUSED + 32];
  size_t n = 0;
  const unsigned int deny = SECCOMP_RET_USER_NOTIF;
  ADD(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)));
  ADD(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0));
  ADD(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM)); /* another ABI (i386): refused */
  ADD(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)));
#ifdef __x86_64__
  ADD(BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000 /* __X32_SYSCALL_BIT */, 0, 1));
  ADD(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM));
#endif
  for (size_t i = 0; i < N_REFUSED; i++) {
    if (allowed(o, REFUSED[i].name)) continue;
    ADD(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, REFUSED[i].nr, 0, 1));
    ADD(BPF_STMT(BPF_RET | BPF_K, refused_quietly(REFUSED[i].name) ? SECCOMP_RET_ERRNO | EPERM : deny));
  }
  if (o->trace_binds) {
    ADD(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_bind, 0, 1));
    ADD(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF));
  }
#ifdef __NR_clone3
  if (!allowed(o, "clone")) {
    ADD(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1));
    ADD(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS));
  }
#endif
  if (!allowed(o, "clone")) {
    /* clone(flags, ...): flags are the first argument on x86_64 and aarch64 (low 32 bits) */
    ADD(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 3));
    ADD(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])));
    ADD(BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, NAMESPACE_FLAGS, 0, 1));
    ADD(BPF_STMT(BPF_RET | BPF_K, deny));
  }
  ADD(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  struct sock_fprog fprog = {.len = (unsigned short)n, .filter = prog};
  int fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &fprog);
  if (fd < 0) {
    snprintf(err, err_len, "install the seccomp filter: %s", strerror(errno));
    return -1;
  }
  return fd;
}

/* A one-byte message with room for one SCM_RIGHTS file descriptor (unix(7)). */
struct fd_message {
  char byte;
  struct iovec iov;
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  struct msghdr msg;
};

static struct msghdr *fd_message(struct fd_message *m) {
  memset(m, 0, sizeof *m);
  m->byte = 'l';
  m->iov = (struct iovec){.iov_base = &m->byte, .iov_len = 1};
  m->msg = (struct msghdr){.msg_iov = &m->iov, .msg_iovlen = 1, .msg_control = m->control.buf,
                           .msg_controllen = sizeof m->control.buf};
  return &m->msg;
}

static int send_fd(int sock, int fd) {
  struct fd_message m;
  struct msghdr *msg = fd_message(&m);
  struct cmsghdr *c = CMSG_FIRSTHDR(msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  return sendmsg(sock, msg, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

int harden_restrict(int sock, const struct harden_opts *o, char *err, size_t err_len) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
    snprintf(err, err_len, "no_new_privs: %s", strerror(errno));
    return -1;
  }
  if (reduce_capabilities(err, err_len) < 0) return -1;
  int listener = install_filter(o, err, err_len);
  if (listener < 0) return -1;
  if (send_fd(sock, listener) < 0) {
    snprintf(err, err_len, "send the seccomp listener: %s", strerror(errno));
    return -1;
  }
  close(listener);
  return 0;
}

int harden_receive_listener(int sock) {
  struct fd_message m;
  struct msghdr *msg = fd_message(&m);
  if (recvmsg(sock, msg, MSG_CMSG_CLOEXEC) != 1) return -1;
  struct cmsghdr *c = CMSG_FIRSTHDR(msg);
  if (!c || c->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}

/* The line harden_answer records for a bind(2) to `addr` (`len` bytes read), or 0 for none. */
static int bind_line(const struct sockaddr_storage *addr, size_t len, char *line, size_t size) {
  char host[INET6_ADDRSTRLEN];
  if (addr->ss_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
    if (!in->sin_port || !inet_ntop(AF_INET, &in->sin_addr, host, sizeof host)) return 0;
    return snprintf(line, size, "inet %s %u\n", host, ntohs(in->sin_port));
  }
  if (addr->ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
    if (!in6->sin6_port || !inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host)) return 0;
    return snprintf(line, size, "inet6 %s %u\n", host, ntohs(in6->sin6_port));
  }
  if (addr->ss_family == AF_UNIX && len > offsetof(struct sockaddr_un, sun_path)) {
    const struct sockaddr_un *un = (const struct sockaddr_un *)addr;
    size_t n = len - offsetof(struct sockaddr_un, sun_path);
    if (n > sizeof un->sun_path) n = sizeof un->sun_path;
    if (un->sun_path[0] == '\0') { /* abstract: the name is the rest (trailing NULs trimmed) */
      while (n > 1 && un->sun_path[n - 1] == '\0') n--;
      if (n < 2) return 0;
      char name[sizeof un->sun_path];
      for (size_t k = 1; k < n; k++) name[k - 1] = un->sun_path[k] ? un->sun_path[k] : '?';
      return snprintf(line, size, "unix @%.*s\n", (int)(n - 1), name);
    }
    return snprintf(line, size, "unix %.*s\n", (int)strnlen(un->sun_path, n), un->sun_path);
  }
  return 0;
}

/* Record the address of the bind(2) in `req` to `binds_fd`, when it can be read. */
static void record_bind(int listener, const struct seccomp_notif *req, int binds_fd) {
  struct sockaddr_storage addr;
  memset(&addr, 0, sizeof addr);
  size_t want = (size_t)req->data.args[2];
  if (want > sizeof addr) want = sizeof addr;
  struct iovec local = {.iov_base = &addr, .iov_len = want};
  struct iovec remote = {.iov_base = (void *)(uintptr_t)req->data.args[1], .iov_len = want};
  ssize_t got = process_vm_readv((pid_t)req->pid, &local, 1, &remote, 1, 0);
  /* the read is good only if the request is still pending (the pid was not reused meanwhile) */
  if (got <= 0 || ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &req->id) < 0) return;
  char line[256];
  int len = bind_line(&addr, (size_t)got, line, sizeof line);
  if (len > 0 && write(binds_fd, line, (size_t)len) < 0) { /* nothing to record into */ }
}

int harden_answer(int listener, int report_fd, int binds_fd) {
  static struct seccomp_notif_sizes sizes;
  static unsigned char reported[1024];
  if (!sizes.seccomp_notif && syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0) return -1;
  struct seccomp_notif *req = calloc(1, sizes.seccomp_notif);
  struct seccomp_notif_resp *resp = calloc(1, sizes.seccomp_notif_resp);
  int rc = -1;
  if (!req || !resp) goto out;
  if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, req) < 0) {
    rc = errno == EINTR || errno == ENOENT ? 0 : -1;
    goto out;
  }
  int nr = req->data.nr;
  if (nr == __NR_bind && binds_fd >= 0) {
    record_bind(listener, req, binds_fd);
    resp->id = req->id;
    resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE; /* the kernel runs the call as if unfiltered */
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, resp) < 0 && errno != ENOENT) goto out;
    rc = 0;
    goto out;
  }
  if (nr >= 0 && nr < (int)sizeof reported && !reported[nr]) {
    reported[nr] = 1;
    char line[256];
    int len = snprintf(line, sizeof line,
                       "seedfork: %s refused in the sandbox (pid %u; allow it with config "
                       "sandbox.allowSyscalls)\n",
                       syscall_name(nr), req->pid);
    if (write(report_fd, line, len) < 0) { /* output closed: nothing to tell */ }
  }
  resp->id = req->id;
  resp->error = -EPERM;
  resp->val = 0;
  resp->flags = 0;
  /* ENOENT: the caller was killed meanwhile; nothing to answer */
  if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, resp) < 0 && errno != ENOENT) goto out;
  rc = 0;
out:
  free(req);
  free(resp);
  return rc;
}
