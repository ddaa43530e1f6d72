/*
 * seedfork-ns: the small native helper behind seedfork's namespace backend.
 *
 * Node cannot call clone(2), setns(2) or pivot_root(2) itself, and doing the
 * same work with util-linux `unshare` + `mount` + `nsenter` costs one exec per
 * step. This helper does it in one process, and nothing else:
 *
 *   seedfork-ns start [options]
 *       Creates a sandbox: new mount, PID, network, UTS, IPC, cgroup and (if
 *       the kernel has it) time namespaces; an overlayfs root (--lower ...
 *       --upper --work --merged); fresh /proc, /tmp, /run, /dev/shm, /dev/pts;
 *       loopback up; /proc/sys read-only. PID 1 of the sandbox is a reaper
 *       that never execs. Prints "ready <host-pid-of-init>\n" on stdout, then
 *       watches stdin: EOF or "kill" ends the sandbox (so a crashed seedfork
 *       never leaves one running), "keep" detaches it (kept for `seedfork
 *       shell`). Errors go to stderr as "seedfork-ns: <step>: <reason>", exit 1.
 *
 *   seedfork-ns exec --pid PID [--cgroup DIR]... [--cwd DIR] [--user NAME] [--pgroup]
 *                    [--harden [--allow-syscall NAME]... [--trace-binds FILE]] [--max-output BYTES [--limit-file F]]
 *                    [--channel] -- CMD...
 *       Runs CMD inside the sandbox whose init has host PID `PID`, with the
 *       environment it was given. --harden confines it (harden.c: own user
 *       namespace, capabilities dropped, no_new_privs, seccomp filter);
 *       --max-output copies its output through a pipe and stops it past BYTES. Exit status is CMD's (128+N for signal N,
 *       127 when CMD is not found). SIGINT/SIGTERM/SIGHUP are forwarded, to
 *       CMD's whole process group with --pgroup (services: `sh -c` and its
 *       children stop together). --channel passes fd 3 on to CMD (a pipe or socket to
 *       seedfork, for a protocol that must not share stdout with CMD's output);
 *       every other fd above 2 is closed before CMD starts.
 *
 *   seedfork-ns serve
 *       The zygote: reads start/exec requests on stdin and runs each in a child
 *       forked from itself, answering on stdout; fd 3 is seedfork's lifeline.
 *       It also holds seedfork's run locks (lock/probe requests). See cmd_serve
 *       below for the protocol.
 *
 *   seedfork-ns syscalls
 *       Lists the calls the sandbox's seccomp filter refuses (harden.c).
 *
 *   seedfork-ns umount DIR
 *       Detaches a sandbox's disk quota mount (for `seedfork gc`).
 *
 * Options of start:
 *   --lower DIR (repeatable, top-most first) --upper DIR --work DIR --merged DIR
 *   --hostname NAME   --share-net (stay in the host network namespace)
 *   --cgroup DIR      (repeatable: join DIR/cgroup.procs before cloning)
 *   --hide DIR        (repeatable: an empty tmpfs over DIR inside the sandbox)
 *   --userns          (rootless: a user namespace mapping the caller's uid/gid)
 *   --quota-dir DIR --quota-bytes N
 *                     (root) a tmpfs of N bytes at DIR holds upper/, work/ and the
 *                     sandbox's /tmp and /dev/shm: the sandbox's disk quota (see mount_quota)
 *   --own-dir DIR     (repeatable) a directory that gets an overlay of its own. Rootless:
 *                     the caller's directories (project, $HOME), so writing in them never
 *                     needs a copy-up of root-owned parents, which a user namespace that
 *                     maps one uid cannot do (EOVERFLOW). As root: a project on another
 *                     filesystem than `/`, which the root overlay does not show, or below
 *                     /tmp or /run, which are private tmpfs mounts in the sandbox.
 *
 * Kernel interfaces: namespaces(7), pivot_root(2) ("new_root and put_old may
 * be the same directory"), overlayfs (Documentation/filesystems/overlayfs.rst),
 * user_namespaces(7) for the uid_map protocol, pidfd_open(2).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/file.h>
#include <unistd.h>

#include "harden.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

#define MAX_LIST 64

static int report_fd = -1; /* child -> parent error channel during setup */
/* serve mode: the request id a `start` child answers for, and the lifeline it watches */
static const char *served_id = NULL;
static int lifeline_fd = -1;
static volatile sig_atomic_t keep_flag = 0;
static const char *quota_mount = NULL; /* see mount_quota */

/* A response line of serve mode: "<id> <text>\n" in one write (atomic below PIPE_BUF). */
static void respond(const char *id, const char *fmt, ...) {
  char text[1024], line[1200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  for (char *c = text; *c; c++)
    if (*c == '\n') *c = ' ';
  int n = snprintf(line, sizeof line, "%s %s\n", id, text);
  if (n > (int)sizeof line) n = sizeof line;
  if (write(1, line, n) < 0) { /* seedfork went away */ }
}

static void die(const char *step, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  char line[1200];
  int n = snprintf(line, sizeof line, "seedfork-ns: %s: %s\n", step, msg);
  if (quota_mount) umount2(quota_mount, MNT_DETACH);
  if (report_fd >= 0) {
    if (write(report_fd, line, n) < 0) { /* nothing left to tell */ }
  } else if (served_id) {
    respond(served_id, "error %s", line);
  } else {
    fputs(line, stderr);
  }
  _exit(1);
}

static void must(int rc, const char *step, const char *what) {
  if (rc < 0) die(step, "%s: %s", what, strerror(errno));
}

static void write_file(const char *path, const char *text, const char *step) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) die(step, "open %s: %s", path, strerror(errno));
  if (write(fd, text, strlen(text)) < 0) die(step, "write %s: %s", path, strerror(errno));
  close(fd);
}

static void join_cgroups(char **cgroups, int n) {
  char path[4096], pid[32];
  snprintf(pid, sizeof pid, "%d\n", getpid());
  for (int i = 0; i < n; i++) {
    snprintf(path, sizeof path, "%s/cgroup.procs", cgroups[i]);
    write_file(path, pid, "cgroup");
  }
}

/* ---------------------------------------------------------------- start -- */

struct start_opts {
  char *lowers[MAX_LIST];
  int n_lowers;
  char *upper, *work, *merged, *hostname;
  char *cgroups[MAX_LIST];
  int n_cgroups;
  char *hides[MAX_LIST];
  int n_hides;
  char *own_dirs[MAX_LIST]; /* directories that get an overlay of their own (see --own-dir) */
  int n_own_dirs;
  int share_net, userns;
  char *quota_dir;         /* root: a tmpfs of quota_bytes here holds upper/, work/ and tmp/ */
  long long quota_bytes;   /* disk quota: upper layer and /tmp together (or /tmp alone, rootless) */
  uid_t outer_uid;
  gid_t outer_gid;
};

static void mount_at(const char *merged, const char *rel, const char *src, const char *type,
                     unsigned long flags, const char *data) {
  char target[4096];
  snprintf(target, sizeof target, "%s%s", merged, rel);
  mkdir(target, 0755); /* usually exists already; ignore EEXIST */
  if (mount(src, target, type, flags, data) < 0)
    die("mount", "%s on %s: %s", type ? type : src, target, strerror(errno));
}

static void loopback_up(void) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  must(fd, "loopback", "socket");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  must(ioctl(fd, SIOCGIFFLAGS, &ifr), "loopback", "SIOCGIFFLAGS lo");
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  must(ioctl(fd, SIOCSIFFLAGS, &ifr), "loopback", "SIOCSIFFLAGS lo");
  close(fd);
}

/* Mount at `target` a copy-on-write view of host directory `host_dir`: `layers` (top-most
 * first, paths of this directory inside each snapshot layer, missing ones skipped) over the host
 * directory, with `upper`/`work` for writes.
 *
 * The host directory cannot be a lower layer next to snapshot layers stored beneath it: overlayfs
 * rejects a lower layer below another layer's root ("overlapping lowerdir path", ELOOP). So it
 * first becomes a read-only overlay of its own (a separate superblock) at `base`, and that overlay
 * is the bottom layer. Returns 0, or -1 with errno set. */
static int overlay_dir(const char *host_dir, char **layers, int n, const char *upper, const char *work,
                       const char *base, const char *empty, const char *target, int userxattr) {
  char opts[8300];
  snprintf(opts, sizeof opts, "lowerdir=%s:%s", host_dir, empty);
  mkdir(base, 0755);
  if (mount("overlay", base, "overlay", MS_RDONLY, opts) < 0) return -1;
  size_t cap = 256 + strlen(base) + strlen(upper) + strlen(work);
  for (int i = 0; i < n; i++) cap += strlen(layers[i]) + 1;
  char *data = malloc(cap);
  strcpy(data, "lowerdir=");
  for (int i = 0; i < n; i++) {
    if (access(layers[i], F_OK) != 0) continue;
    strcat(data, layers[i]);
    strcat(data, ":");
  }
  strcat(data, base);
  strcat(data, ",upperdir=");
  strcat(data, upper);
  strcat(data, ",workdir=");
  strcat(data, work);
  if (userxattr) strcat(data, ",userxattr");
  int rc = mount("overlay", target, "overlay", 0, data);
  int saved = errno;
  free(data);
  errno = saved;
  return rc;
}

static char *join2(const char *a, const char *b) {
  size_t n = strlen(a) + strlen(b) + 2;
  char *p = malloc(n);
  snprintf(p, n, "%s/%s", a, b);
  return p;
}

/* Rootless: overlayfs refuses the host root inside a user namespace (its submounts are locked),
 * so the root is a tmpfs holding one overlay per top-level host directory, the same symlinks,
 * and a read-only bind of any directory that cannot be overlaid. */
static void rootless_root(struct start_opts *o, const char *scratch, const char *empty, const char *root) {
  static const char *special[] = {"proc", "sys", "dev", "tmp", "run", NULL};
  /* pivot_root needs the new root to be a mount point; bind it before mounting inside it */
  must(mount(root, root, NULL, MS_BIND, NULL), "rootfs", "bind new root");
  DIR *d = opendir("/");
  if (!d) die("rootfs", "opendir /: %s", strerror(errno));
  struct dirent *e;
  int k = 0;
  while ((e = readdir(d))) {
    const char *name = e->d_name;
    if (!strcmp(name, ".") || !strcmp(name, "..")) continue;
    char *host = join2("", name);
    char *target = join2(root, name);
    struct stat st;
    if (lstat(host, &st) < 0) goto next;
    if (S_ISLNK(st.st_mode)) {
      char link[4096];
      ssize_t len = readlink(host, link, sizeof link - 1);
      if (len > 0) {
        link[len] = 0;
        if (symlink(link, target) < 0) die("rootfs", "symlink %s: %s", target, strerror(errno));
      }
      goto next;
    }
    if (!S_ISDIR(st.st_mode)) goto next;
    mkdir(target, st.st_mode & 07777);
    int is_special = 0;
    for (int i = 0; special[i]; i++) is_special |= !strcmp(name, special[i]);
    if (is_special) goto next;
    {
      char *upper = join2(o->upper, name), *work = join2(o->work, name);
      mkdir(upper, st.st_mode & 07777);
      mkdir(work, 0700);
      char *layers[MAX_LIST];
      int n = 0;
      for (int i = 0; i < o->n_lowers - 1; i++) layers[n++] = join2(o->lowers[i], name);
      char base[4200];
      snprintf(base, sizeof base, "%s/.base-%d", scratch, k++);
      if (overlay_dir(host, layers, n, upper, work, base, empty, target, 1) < 0) {
        /* not overlayable (locked submounts): visible, but read-only so nothing reaches the host */
        if (mount(host, target, NULL, MS_BIND | MS_REC, NULL) < 0)
          die("rootfs", "bind %s: %s", host, strerror(errno));
        mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL);
      }
      for (int i = 0; i < n; i++) free(layers[i]);
      free(upper);
      free(work);
    }
  next:
    free(host);
    free(target);
  }
  closedir(d);
}

/* mkdir -p for the part of `path` after its first `skip` characters. */
static void mkdir_p(char *path, size_t skip) {
  for (char *p = path + skip + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    mkdir(path, 0755);
    *p = '/';
  }
  mkdir(path, 0755);
}

/* Directories that get an overlay of their own, over whatever the root view shows there:
 * rootless, the caller's directories (see --own-dir); as root, directories on another
 * filesystem than the host root (a separate /home), which the root overlay cannot show, and
 * directories below the sandbox's private /tmp and /run. */
static void own_dir_overlays(struct start_opts *o, const char *scratch, const char *empty, const char *root) {
  /* shallower first, so deeper ones mount on top */
  for (int i = 0; i < o->n_own_dirs; i++)
    for (int j = i + 1; j < o->n_own_dirs; j++)
      if (strlen(o->own_dirs[j]) < strlen(o->own_dirs[i])) {
        char *t = o->own_dirs[i];
        o->own_dirs[i] = o->own_dirs[j];
        o->own_dirs[j] = t;
      }
  for (int i = 0; i < o->n_own_dirs; i++) {
    const char *dir = o->own_dirs[i];
    char target[4200], upper[4200], work[4200], base[4200];
    snprintf(target, sizeof target, "%s%s", root, dir);
    snprintf(upper, sizeof upper, "%s%s", o->upper, dir);
    snprintf(work, sizeof work, "%s/.own-%d", o->work, i);
    snprintf(base, sizeof base, "%s/.base-own-%d", scratch, i);
    mkdir_p(upper, strlen(o->upper));
    mkdir(work, 0700);
    char *layers[MAX_LIST];
    int n = 0;
    for (int l = 0; l < o->n_lowers - 1; l++) {
      char path[4200];
      snprintf(path, sizeof path, "%s%s", o->lowers[l], dir);
      layers[n++] = strdup(path);
    }
    mkdir_p(target, strlen(root)); /* as root the directory may be missing from the root view */
    if (overlay_dir(dir, layers, n, upper, work, base, empty, target, o->userns) < 0)
      die("overlay", "overlay of %s: %s", dir, strerror(errno));
    for (int l = 0; l < n; l++) free(layers[l]);
  }
}

/* A device node of the host, bind-mounted onto an empty file in the sandbox's /dev. */
static void bind_device(const char *dev, const char *name) {
  char host[64], target[4300];
  snprintf(host, sizeof host, "/dev/%s", name);
  snprintf(target, sizeof target, "%s/%s", dev, name);
  int fd = open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
  if (fd < 0) die("dev", "create %s: %s", target, strerror(errno));
  close(fd);
  if (mount(host, target, NULL, MS_BIND, NULL) < 0) die("dev", "bind %s: %s", host, strerror(errno));
}

/* A minimal /dev instead of the host's: the devices the OCI runtime spec requires of every
 * container (null, zero, full, random, urandom, tty, ptmx over a private devpts) and a /dev/shm:
 * the directory `shm_dir` bound there (inside the disk quota), else a tmpfs of `shm_opts`. No
 * disks, no /dev/kvm, no /dev/kmsg. */
static void minimal_dev(const char *root, const char *shm_dir, const char *shm_opts) {
  char dev[4200];
  snprintf(dev, sizeof dev, "%s/dev", root);
  mount_at(root, "/dev", "tmpfs", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k");
  static const char *devices[] = {"null", "zero", "full", "random", "urandom", "tty", NULL};
  for (int i = 0; devices[i]; i++) bind_device(dev, devices[i]);
  if (shm_dir) mount_at(root, "/dev/shm", shm_dir, NULL, MS_BIND, NULL);
  else mount_at(root, "/dev/shm", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, shm_opts);
  mount_at(root, "/dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
  mount_at(root, "/dev/mqueue", "mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  static const char *links[][2] = {{"pts/ptmx", "ptmx"}, {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
                                   {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}, {NULL, NULL}};
  for (int i = 0; links[i][0]; i++) {
    char path[4300];
    snprintf(path, sizeof path, "%s/%s", dev, links[i][1]);
    if (symlink(links[i][0], path) < 0) die("dev", "symlink %s: %s", path, strerror(errno));
  }
}

#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
struct seedfork_mount_attr {
  unsigned long long attr_set, attr_clr, propagation, userns_fd;
};

/* Make `path` and every mount below it read-only (mount_setattr(2), Linux 5.12); on older
 * kernels only `path` itself. */
static void read_only_tree(const char *path) {
  struct seedfork_mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
#ifdef SYS_mount_setattr
  if (syscall(SYS_mount_setattr, AT_FDCWD, path, AT_RECURSIVE, &attr, sizeof attr) == 0) return;
  if (errno != ENOSYS) die("mount", "%s read-only: %s", path, strerror(errno));
#endif
  must(mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL), "mount", "read-only");
}

/* /proc as Docker leaves it (moby, oci/defaults.go: ReadonlyPaths and MaskedPaths): kernel
 * knobs read-only, and files that leak host kernel state or memory masked. */
static void protect_proc(void) {
  static const char *read_only[] = {"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs", NULL};
  static const char *masked[] = {"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug",
                                 "/proc/latency_stats", "/proc/kmsg", "/proc/acpi", "/proc/scsi", "/proc/asound", NULL};
  for (int i = 0; read_only[i]; i++) {
    if (access(read_only[i], F_OK) != 0) continue;
    must(mount(read_only[i], read_only[i], NULL, MS_BIND | MS_REC, NULL), "mount", read_only[i]);
    must(mount(NULL, read_only[i], NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC, NULL), "mount", read_only[i]);
  }
  for (int i = 0; masked[i]; i++) {
    struct stat st;
    if (stat(masked[i], &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) must(mount("tmpfs", masked[i], "tmpfs", MS_RDONLY, "size=0"), "mount", masked[i]);
    else must(mount("/dev/null", masked[i], NULL, MS_BIND, NULL), "mount", masked[i]);
  }
}

static void setup_root(struct start_opts *o) {
  const char *m = o->merged;
  must(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), "mount", "make / private");

  /* a scratch tmpfs, private to this mount namespace, holds the mount points we need */
  mount_at(m, "", "tmpfs", "tmpfs", 0, "mode=0755,size=1m");
  char empty[4096], root[4096];
  snprintf(empty, sizeof empty, "%s/.empty", m);
  snprintf(root, sizeof root, "%s/.root", m);
  mkdir(empty, 0755);
  mkdir(root, 0755);
  if (o->userns) {
    rootless_root(o, m, empty, root);
  } else {
    char base[4200];
    snprintf(base, sizeof base, "%s/.base", m);
    if (overlay_dir(o->lowers[o->n_lowers - 1], o->lowers, o->n_lowers - 1, o->upper, o->work, base, empty, root, 0) < 0)
      die("overlay", "overlay root over %s (upper %s): %s", o->lowers[o->n_lowers - 1], o->upper, strerror(errno));
  }
  const char *scratch = m;
  m = root;

  char size_opt[64];
  snprintf(size_opt, sizeof size_opt, "mode=1777,size=%lld", o->quota_bytes > 0 ? o->quota_bytes : 64LL << 20);
  /* with a quota, /dev/shm is a directory of it like /tmp: the two together stop at the quota */
  char shm[4200];
  if (o->quota_dir) snprintf(shm, sizeof shm, "%s/shm", o->quota_dir);
  minimal_dev(m, o->quota_dir ? shm : NULL, size_opt);
  mount_at(m, "/proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  mount_at(m, "/sys", "/sys", NULL, MS_BIND | MS_REC, NULL);
  if (o->quota_dir) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s/tmp", o->quota_dir);
    mount_at(m, "/tmp", tmp, NULL, MS_BIND, NULL);
  } else {
    mount_at(m, "/tmp", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, size_opt);
  }
  if (o->share_net) {
    /* the host resolver config often lives under /run */
    mount_at(m, "/run", "/run", NULL, MS_BIND | MS_REC, NULL);
  } else {
    mount_at(m, "/run", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
  }
  /* after the private /tmp and /run, so a project below them shows through them */
  own_dir_overlays(o, scratch, empty, root);
  for (int i = 0; i < o->n_hides; i++) {
    char target[4200];
    struct stat st;
    snprintf(target, sizeof target, "%s%s", m, o->hides[i]);
    if (stat(target, &st) != 0) continue; /* not visible in the sandbox: nothing to hide */
    mount_at(m, o->hides[i], "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k");
  }

  must(chdir(m), "pivot_root", "chdir merged");
  must(syscall(SYS_pivot_root, ".", "."), "pivot_root", "pivot_root");
  must(umount2(".", MNT_DETACH), "pivot_root", "detach old root");
  must(chdir("/"), "pivot_root", "chdir /");

  /* sysfs (with the cgroup filesystems below it) and /proc/sys are global or per-netns kernel
   * knobs: read-only, submounts included */
  read_only_tree("/sys");
  protect_proc();
}

static void write_id_maps(pid_t pid, uid_t uid, gid_t gid) {
  char path[64], line[64];
  snprintf(path, sizeof path, "/proc/%d/setgroups", pid);
  write_file(path, "deny", "userns");
  snprintf(path, sizeof path, "/proc/%d/uid_map", pid);
  snprintf(line, sizeof line, "%u %u 1\n", uid, uid);
  write_file(path, line, "userns");
  snprintf(path, sizeof path, "/proc/%d/gid_map", pid);
  snprintf(line, sizeof line, "%u %u 1\n", gid, gid);
  write_file(path, line, "userns");
}

/* PID 1 of the sandbox: reap orphans; on SIGTERM/SIGINT kill everything. */
static void init_loop(int rootless) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, NULL);
  int devnull = open("/dev/null", O_RDWR);
  if (devnull >= 0) {
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(devnull, 2);
    if (devnull > 2) close(devnull);
  }
  prctl(PR_SET_NAME, "seedfork-init");
  /* Out of the tests' reach: no fd of seedfork's (the lifeline, pipes) to take with
   * pidfd_getfd(2), and not dumpable, so ptrace(2) and pidfd_getfd(2) need CAP_SYS_PTRACE in
   * the initial user namespace, which sandboxed commands never have. */
  if (syscall(SYS_close_range, 3, ~0U, 0) < 0)
    for (int fd = 3; fd < 1024; fd++) close(fd);
  /* Rootless seedfork reads /proc/<init>/root without CAP_SYS_PTRACE, so its init stays
   * dumpable; its commands' nested user namespace denies them ptrace access to it all the same. */
  if (!rootless) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  for (;;) {
    siginfo_t info;
    int sig = sigwaitinfo(&set, &info);
    if (sig == SIGCHLD) {
      while (waitpid(-1, NULL, WNOHANG) > 0) {
      }
    } else if ((sig == SIGTERM || sig == SIGINT) && info.si_pid == 0) {
      /* from outside the sandbox (si_pid is 0 for a sender in an ancestor PID namespace);
       * a test signalling PID 1 is ignored */
      kill(-1, SIGKILL);
      _exit(0);
    }
  }
}

/* The disk quota of a sandbox (root only): a tmpfs of `bytes` mounted at `dir` in seedfork's
 * mount namespace, holding the overlay's upper/ and work/ and the sandbox's /tmp and /dev/shm,
 * so writes to the project, /tmp and /dev/shm together stop with ENOSPC at the quota (tmpfs
 * counts whole pages).
 * The watcher unmounts it when the sandbox's init dies; `seedfork gc` when the watcher was
 * killed first. */
static void mount_quota(const char *dir, long long bytes) {
  char opts[64], path[4200];
  snprintf(opts, sizeof opts, "size=%lld,mode=0755", bytes);
  mkdir(dir, 0755);
  if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
    die("quota", "tmpfs on %s: %s", dir, strerror(errno));
  quota_mount = dir;
  static const char *subdirs[] = {"upper", "work", "tmp", "shm", NULL};
  for (int i = 0; subdirs[i]; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, subdirs[i]);
    if (mkdir(path, 0755) < 0) die("quota", "mkdir %s: %s", path, strerror(errno));
  }
  static const char *shared[] = {"tmp", "shm", NULL};
  for (int i = 0; shared[i]; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, shared[i]);
    chmod(path, 01777);
  }
}

static void release_quota(void) {
  if (quota_mount) umount2(quota_mount, MNT_DETACH);
  quota_mount = NULL;
}

static void on_keep(int sig) {
  (void)sig;
  keep_flag = 1;
}

/* serve mode: the sandbox lives until its init dies, or until seedfork's lifeline pipe
 * closes (seedfork exited or was killed) unless SIGUSR1 said "keep". Returns how the init
 * ended: its exit code, or 128+N for signal N (the zygote reports it as "exited <code>"). */
static int watch_served(pid_t child, int pidfd) {
  int devnull = open("/dev/null", O_RDWR);
  dup2(devnull, 1); /* nothing more to say; don't hold seedfork's pipe */
  close(devnull);
  struct pollfd fds[2] = {{.fd = pidfd, .events = POLLIN}, {.fd = lifeline_fd, .events = POLLIN}};
  for (;;) {
    int nf = keep_flag ? 1 : 2;
    if (poll(fds, nf, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents & POLLIN) break; /* init died */
    if (!keep_flag && (fds[1].revents & (POLLHUP | POLLERR | POLLIN))) {
      kill(child, SIGKILL);
      break;
    }
  }
  int status = 0;
  waitpid(child, &status, 0);
  release_quota();
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

static int cmd_start(int argc, char **argv) {
  struct start_opts o;
  memset(&o, 0, sizeof o);
  o.hostname = "sandbox";
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define TAKE(field)                                       \
  do {                                                    \
    if (!v) die("usage", "%s needs a value", a);          \
    field = argv[++i];                                    \
  } while (0)
#define PUSH(list, n)                                                   \
  do {                                                                  \
    if (!v) die("usage", "%s needs a value", a);                        \
    if (n >= MAX_LIST) die("usage", "too many %s options", a);          \
    list[n++] = argv[++i];                                              \
  } while (0)
    if (!strcmp(a, "--lower")) PUSH(o.lowers, o.n_lowers);
    else if (!strcmp(a, "--upper")) TAKE(o.upper);
    else if (!strcmp(a, "--work")) TAKE(o.work);
    else if (!strcmp(a, "--merged")) TAKE(o.merged);
    else if (!strcmp(a, "--hostname")) TAKE(o.hostname);
    else if (!strcmp(a, "--cgroup")) PUSH(o.cgroups, o.n_cgroups);
    else if (!strcmp(a, "--hide")) PUSH(o.hides, o.n_hides);
    else if (!strcmp(a, "--own-dir")) PUSH(o.own_dirs, o.n_own_dirs);
    else if (!strcmp(a, "--share-net")) o.share_net = 1;
    else if (!strcmp(a, "--userns")) o.userns = 1;
    else if (!strcmp(a, "--quota-dir")) TAKE(o.quota_dir);
    else if (!strcmp(a, "--quota-bytes")) {
      if (!v) die("usage", "%s needs a value", a);
      o.quota_bytes = atoll(argv[++i]);
    }
    else die("usage", "unknown option %s", a);
  }
  if (!o.n_lowers || !o.upper || !o.work || !o.merged)
    die("usage", "start needs --lower, --upper, --work and --merged");
  if (o.quota_dir && o.quota_bytes <= 0) die("usage", "--quota-dir needs --quota-bytes");
  o.outer_uid = getuid();
  o.outer_gid = getgid();

  /* Own session: a Ctrl-C in the terminal reaches seedfork, which then kills
   * sandboxes in order, instead of racing it. */
  setsid();
  if (served_id) {
    struct sigaction ka;
    memset(&ka, 0, sizeof ka);
    ka.sa_handler = on_keep;
    sigaction(SIGUSR1, &ka, NULL);
  }
  join_cgroups(o.cgroups, o.n_cgroups);
  if (o.quota_dir) mount_quota(o.quota_dir, o.quota_bytes);

  int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
  if (!o.share_net) flags |= CLONE_NEWNET;
  if (access("/proc/self/ns/cgroup", F_OK) == 0) flags |= CLONE_NEWCGROUP;
  if (o.userns) flags |= CLONE_NEWUSER;

  int sync_pipe[2];  /* parent -> child: "id maps written" */
  int report[2];     /* child -> parent: error text, or EOF on success */
  must(pipe2(sync_pipe, O_CLOEXEC), "start", "pipe");
  must(pipe2(report, O_CLOEXEC), "start", "pipe");

  /* time namespaces apply to children of the unsharing process */
  if (!o.userns && access("/proc/self/ns/time", F_OK) == 0) {
    if (unshare(CLONE_NEWTIME) < 0 && errno != EINVAL) die("start", "unshare time: %s", strerror(errno));
  }

  pid_t child = (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
  if (child < 0) {
    die("clone", "%s (namespaces: mount,pid,uts,ipc%s%s). %s", strerror(errno),
        o.share_net ? "" : ",net", o.userns ? ",user" : "",
        errno == EPERM ? "Run as root, or enable unprivileged user namespaces "
                         "(sysctl kernel.unprivileged_userns_clone=1)."
                       : "Is this kernel built with CONFIG_NAMESPACES?");
  }
  if (child == 0) {
    close(report[0]);
    close(sync_pipe[1]);
    report_fd = report[1];
    char c;
    if (read(sync_pipe[0], &c, 1) != 1) _exit(1); /* parent died */
    close(sync_pipe[0]);
    setup_root(&o);
    must(sethostname(o.hostname, strlen(o.hostname)), "hostname", "sethostname");
    if (!o.share_net) loopback_up();
    close(report[1]); /* EOF = ready */
    report_fd = -1;
    init_loop(o.userns);
  }

  close(report[1]);
  close(sync_pipe[0]);
  if (o.userns) write_id_maps(child, o.outer_uid, o.outer_gid);
  if (write(sync_pipe[1], "g", 1) != 1) die("start", "sync: %s", strerror(errno));
  close(sync_pipe[1]);

  char err[2048];
  ssize_t n = read(report[0], err, sizeof err - 1);
  close(report[0]);
  if (n > 0) {
    err[n] = 0;
    if (served_id) respond(served_id, "error %s", err);
    else fputs(err, stderr);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    release_quota();
    return 1;
  }
  int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
  if (served_id) {
    respond(served_id, "ready %d", child);
    return watch_served(child, pidfd);
  }
  printf("ready %d\n", child);
  fflush(stdout);

  int keep = 0;
  struct pollfd fds[2] = {{.fd = 0, .events = POLLIN}, {.fd = pidfd, .events = POLLIN}};
  while (!keep) {
    int nf = pidfd >= 0 ? 2 : 1;
    if (poll(fds, nf, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (nf == 2 && (fds[1].revents & POLLIN)) break; /* init died */
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[64];
      ssize_t r = read(0, buf, sizeof buf - 1);
      if (r > 0) {
        buf[r] = 0;
        if (strstr(buf, "keep")) keep = 1;
        else if (strstr(buf, "kill")) break;
      } else {
        break; /* EOF: seedfork went away */
      }
    }
  }
  if (!keep) kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  if (!keep) release_quota();
  return 0;
}

/* ----------------------------------------------------------------- exec -- */

static pid_t exec_child = -1;
static int exec_pgroup = 0;
/* exec --channel: fd 3 stays open for CMD */
static int exec_channel = 0;
/* The process zygote (zygote.c): there is no CMD to run; the process that would exec it returns
 * EXEC_IN_PROCESS from cmd_exec instead and goes on as the command, its fds left for the zygote to
 * sort out (an event loop's fds must survive until the loop is moved to new ones). */
static int exec_in_process = 0;
#define EXEC_IN_PROCESS (-1000)
static void forward(int sig) {
  if (exec_child > 0) kill(exec_pgroup ? -exec_child : exec_child, sig);
}

/* Copy the command's output (a pipe) to fd 1 until `max` bytes; past it, stop the command and
 * say so on fd 1 and in `limit_file`. Returns 1 once the limit was hit. */
struct output_cap {
  long long max, written;
  int over;
  int limit_fd; /* the limit file, opened on the host before entering the sandbox */
};

static ssize_t copy_output(int from, struct output_cap *cap, pid_t target) {
  char buf[65536];
  ssize_t r = read(from, buf, sizeof buf);
  if (r <= 0 || cap->over) return r; /* past the limit: drained and dropped */
  long long room = cap->max - cap->written;
  ssize_t n = r < room ? r : (ssize_t)room;
  if (n > 0 && write(1, buf, n) < 0) { /* output file gone: keep draining */ }
  cap->written += n;
  if (r > n) {
    cap->over = 1;
    char line[200];
    int len = snprintf(line, sizeof line,
                       "\nseedfork: output limit reached (limits.output = %lld bytes): the command was stopped\n",
                       cap->max);
    if (write(1, line, len) < 0) { /* as above */ }
    kill(target, SIGKILL);
    if (cap->limit_fd >= 0) {
      len = snprintf(line, sizeof line, "output %lld\n", cap->max);
      if (write(cap->limit_fd, line, len) < 0) { /* reported in the output already */ }
    }
  }
  return r;
}

static int cmd_exec(int argc, char **argv) {
  char *pid = NULL, *cwd = "/", *user = NULL;
  char *cgroups[MAX_LIST];
  int n_cgroups = 0, i = 0, harden = 0;
  struct harden_opts hopts;
  memset(&hopts, 0, sizeof hopts);
  struct output_cap cap = {0, 0, 0, -1};
  const char *limit_file = NULL, *binds_file = NULL;
  int binds_fd = -1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--")) { i++; break; }
    if (!strcmp(a, "--pid")) TAKE(pid);
    else if (!strcmp(a, "--cwd")) TAKE(cwd);
    else if (!strcmp(a, "--user")) TAKE(user);
    else if (!strcmp(a, "--cgroup")) PUSH(cgroups, n_cgroups);
    else if (!strcmp(a, "--pgroup")) exec_pgroup = 1;
    else if (!strcmp(a, "--channel")) {
      /* in the zygote fd 3 is seedfork's lifeline, never to be handed to a command */
      if (lifeline_fd >= 0) die("usage", "--channel: not for the zygote's exec requests");
      if (fcntl(3, F_GETFD) < 0) die("usage", "--channel: fd 3 is not open");
      exec_channel = 1;
    }
    else if (!strcmp(a, "--harden")) harden = 1;
    else if (!strcmp(a, "--trace-binds")) TAKE(binds_file);
    else if (!strcmp(a, "--allow-syscall")) {
      if (!v) die("usage", "%s needs a value", a);
      if (!harden_known_syscall(v)) die("usage", "--allow-syscall %s: not a call the sandbox refuses", v);
      PUSH(hopts.allowed, hopts.n_allowed);
    }
    else if (!strcmp(a, "--max-output")) {
      if (!v) die("usage", "%s needs a value", a);
      cap.max = atoll(argv[++i]);
    }
    else if (!strcmp(a, "--limit-file")) TAKE(limit_file);
    else if (!strcmp(a, "--clear-env")) clearenv();
    else if (!strcmp(a, "--env")) {
      if (!v || !strchr(v, '=')) die("usage", "--env needs KEY=VALUE");
      putenv(argv[++i]);
    }
    else die("usage", "unknown option %s", a);
  }
  if (!pid || (i >= argc && !exec_in_process)) die("usage", "exec --pid PID [--cwd DIR] [--user NAME] -- CMD...");
  char **cmd = argv + i;
  if (binds_file && !harden) die("usage", "--trace-binds needs --harden (binds are traced by its filter)");
  hopts.trace_binds = binds_file != NULL;

  join_cgroups(cgroups, n_cgroups);
  if (limit_file && cap.max > 0) {
    cap.limit_fd = open(limit_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (cap.limit_fd < 0) die("exec", "open %s: %s", limit_file, strerror(errno));
  }
  char path[256];
  snprintf(path, sizeof path, "/proc/%s/root", pid);
  int rootfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) die("exec", "sandbox init %s is gone (%s)", pid, strerror(errno));

  /* the host's /proc, for the command's uid_map (its pid is a host pid, unknown to the
   * sandbox's /proc), opened before entering the sandbox's mount namespace */
  int host_proc = harden ? open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
  /* user first (rootless sandboxes), mount last; pid and time apply to children */
  static const char *names[] = {"user", "ipc", "uts", "net", "cgroup", "pid", "time", "mnt"};
  for (unsigned k = 0; k < sizeof names / sizeof *names; k++) {
    char mine[64], theirs[256];
    struct stat a, b;
    snprintf(mine, sizeof mine, "/proc/self/ns/%s", names[k]);
    snprintf(theirs, sizeof theirs, "/proc/%s/ns/%s", pid, names[k]);
    if (stat(theirs, &b) < 0) continue; /* kernel without it */
    if (stat(mine, &a) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) continue;
    int fd = open(theirs, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("exec", "open %s: %s", theirs, strerror(errno));
    if (setns(fd, 0) < 0) die("exec", "setns %s: %s", names[k], strerror(errno));
    close(fd);
  }
  must(fchdir(rootfd), "exec", "fchdir sandbox root");
  must(chroot("."), "exec", "chroot");
  close(rootfd);
  if (chdir(cwd) < 0) die("exec", "working directory %s: %s", cwd, strerror(errno));
  /* the sandbox's path: opened after entering its mount namespace */
  if (binds_file) {
    binds_fd = open(binds_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (binds_fd < 0) die("exec", "open %s: %s", binds_file, strerror(errno));
  }

  struct passwd *pw = NULL;
  if (user) {
    pw = getpwnam(user);
    if (!pw) die("exec", "no user '%s' in the sandbox's /etc/passwd", user);
  }
  int sock[2] = {-1, -1}, out[2] = {-1, -1};
  if (harden) must(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sock), "exec", "socketpair");
  if (cap.max > 0) must(pipe2(out, O_CLOEXEC), "exec", "pipe");
  exec_child = fork();
  must(exec_child, "exec", "fork");
  if (exec_child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (exec_pgroup) setpgid(0, 0);
    /* the parent's ends: held here, they would keep the parent from seeing EOF */
    if (sock[0] >= 0) close(sock[0]);
    if (out[0] >= 0) close(out[0]);
    if (host_proc >= 0) close(host_proc);
    if (binds_fd >= 0) close(binds_fd);
    if (out[1] >= 0) {
      dup2(out[1], 1);
      dup2(out[1], 2);
    }
    if (harden && harden_enter_userns(sock[1]) < 0) {
      fprintf(stderr, "seedfork-ns: cannot enter a user namespace of its own: %s\n", strerror(errno));
      _exit(126);
    }
    char err[512];
    if (harden && harden_drop_bounding(err, sizeof err) < 0) {
      fprintf(stderr, "seedfork-ns: cannot restrict the command: %s\n", err);
      _exit(126);
    }
    if (pw) {
      must(initgroups(pw->pw_name, pw->pw_gid), "exec", "initgroups");
      must(setgid(pw->pw_gid), "exec", "setgid");
      must(setuid(pw->pw_uid), "exec", "setuid");
      setenv("HOME", pw->pw_dir, 1);
      setenv("USER", pw->pw_name, 1);
    }
    if (harden && harden_restrict(sock[1], &hopts, err, sizeof err) < 0) {
      fprintf(stderr, "seedfork-ns: cannot restrict the command: %s\n", err);
      _exit(126);
    }
    if (exec_in_process) {
      if (out[1] >= 0) close(out[1]);
      if (cap.limit_fd >= 0) close(cap.limit_fd);
      return EXEC_IN_PROCESS;
    }
    int first = exec_channel ? 4 : 3;
    if (syscall(SYS_close_range, first, ~0U, 0) < 0)
      for (int fd = first; fd < 1024; fd++) close(fd);
    execvp(cmd[0], cmd);
    fprintf(stderr, "seedfork-ns: cannot run '%s': %s\n", cmd[0], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
  }
  /* the command holds the channel now: its end must be the only one, so that seedfork sees
     EOF when the command closes it */
  if (exec_channel) close(3);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = forward;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  int listener = -1;
  if (harden) {
    close(sock[1]);
    if (harden_map_user(sock[0], host_proc, exec_child) == 0) listener = harden_receive_listener(sock[0]);
    else fprintf(stderr, "seedfork-ns: cannot map the command's user namespace: %s\n", strerror(errno));
    close(sock[0]); /* the child, still waiting, gives up on EOF */
    close(host_proc);
  }
  if (out[1] >= 0) close(out[1]);
  pid_t target = exec_pgroup ? -exec_child : exec_child;
  int pidfd = (int)syscall(SYS_pidfd_open, exec_child, 0);
  if (pidfd >= 0 && (listener >= 0 || out[0] >= 0)) {
    struct pollfd fds[3] = {{.fd = pidfd, .events = POLLIN}, {.fd = out[0], .events = POLLIN},
                            {.fd = listener, .events = POLLIN}};
    for (;;) {
      if (poll(fds, 3, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (fds[2].revents & POLLIN) {
        if (harden_answer(listener, 1, binds_fd) < 0) fds[2].fd = -1;
      } else if (fds[2].revents & (POLLHUP | POLLERR | POLLNVAL)) {
        fds[2].fd = -1;
      }
      if (fds[1].revents & POLLIN) {
        if (copy_output(out[0], &cap, target) <= 0) fds[1].fd = -1;
      } else if (fds[1].revents & (POLLHUP | POLLERR | POLLNVAL)) fds[1].fd = -1;
      if (fds[0].revents & POLLIN) break; /* the command exited */
    }
    /* what it wrote before exiting (bounded: a background process may write forever);
     * background processes still holding the pipe get EPIPE once we are gone */
    if (out[0] >= 0) {
      fcntl(out[0], F_SETFL, O_NONBLOCK);
      for (int k = 0; k < 256 && copy_output(out[0], &cap, target) > 0; k++) {
      }
    }
  }
  int status;
  while (waitpid(exec_child, &status, 0) < 0) {
    if (errno != EINTR) die("exec", "waitpid: %s", strerror(errno));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}


/* ---------------------------------------------------------------- serve -- */

/* Requests are NUL-separated fields ending with an empty field: "<id>\0start\0<args>\0\0" or
 * "<id>\0exec\0<output file, >>file to append to it, or ->\0<args>\0\0". Each is run in a
 * child forked from this small process (forking it costs a fraction of forking seedfork's Node
 * process, whose page tables grow with its heap). Responses are lines: "<id> pid <pid>", then for start "<id> ready
 * <init pid>" or "<id> error <message>", and "<id> exited <how its init ended>" when the sandbox
 * is gone; for exec
 * "<id> exit <code>". "<id>\0lock\0<path>\0\0" and "<id>\0probe\0<path>\0\0" are answered
 * by this process itself (see lock_request). fd 3 is the lifeline: never written, it closes
 * when seedfork goes away. */
struct job {
  pid_t pid;
  char id[64];
  int is_exec;
};

static struct job *jobs = NULL;
static size_t n_jobs = 0, cap_jobs = 0;

/* Run locks (see lock_request), held until this process exits and closed in every child. */
static int lock_fds[MAX_LIST];
static int n_lock_fds = 0;

/* "lock PATH": take an exclusive flock(2) on PATH (created if missing) and hold it for the life
 * of this process, that is of the seedfork process that started it: "locked", or "error ...".
 * "probe PATH": whether anyone holds such a lock: "held", "free" or "missing". A lock dies with
 * its holder, so a live lock never belongs to a dead run and a reused pid never looks alive. */
static void lock_request(const char *id, const char *what, const char *path) {
  if (!strcmp(what, "lock")) {
    if (n_lock_fds == MAX_LIST) {
      respond(id, "error seedfork-ns: lock: too many locks");
      return;
    }
    /* `gc` deletes the files of free locks: between our open and flock it may delete this one,
     * so the lock counts only once the path still names the file we locked. */
    for (int attempt = 0;; attempt++) {
      int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
        respond(id, "error seedfork-ns: lock %s: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return;
      }
      struct stat held, named;
      if (fstat(fd, &held) == 0 && stat(path, &named) == 0 && held.st_ino == named.st_ino &&
          held.st_dev == named.st_dev) {
        lock_fds[n_lock_fds++] = fd;
        break;
      }
      close(fd);
      if (attempt == 100) {
        respond(id, "error seedfork-ns: lock %s: the file keeps disappearing", path);
        return;
      }
    }
    respond(id, "locked");
    return;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    respond(id, errno == ENOENT ? "missing" : "error seedfork-ns: probe %s: %s", path, strerror(errno));
    return;
  }
  int held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
  close(fd); /* releases our shared lock, if we took one */
  respond(id, held ? "held" : "free");
}

static void run_request(char **fields, int n) {
  if (n < 2) return;
  const char *id = fields[0];
  if (!strcmp(fields[1], "lock") || !strcmp(fields[1], "probe")) {
    if (n < 3) respond(id, "error seedfork-ns: serve: %s needs a path", fields[1]);
    else lock_request(id, fields[1], fields[2]);
    return;
  }
  int is_exec = !strcmp(fields[1], "exec");
  if (!is_exec && strcmp(fields[1], "start")) {
    respond(id, "error seedfork-ns: serve: unknown request %s", fields[1]);
    return;
  }
  if (is_exec && n < 3) {
    respond(id, "error seedfork-ns: serve: exec needs an output file");
    return;
  }
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) {
    respond(id, "error seedfork-ns: serve: fork: %s", strerror(errno));
    return;
  }
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    prctl(PR_SET_NAME, "seedfork-ns");
    for (int k = 0; k < n_lock_fds; k++) close(lock_fds[k]); /* the run's lock dies with the run */
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 0);
    if (is_exec) {
      /* ">>PATH" appends to PATH (a service's log, which a restart writes on); PATH truncates */
      const char *out = fields[2];
      int append = !strncmp(out, ">>", 2);
      if (append) out += 2;
      int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (append ? 0 : O_TRUNC);
      int fd = strcmp(out, "-") ? open(out, flags, 0644) : devnull;
      if (fd < 0) _exit(125);
      dup2(fd, 1);
      dup2(fd, 2);
      close(lifeline_fd);
      _exit(cmd_exec(n - 3, fields + 3));
    }
    dup2(devnull, 2);
    served_id = id;
    _exit(cmd_start(n - 2, fields + 2));
  }
  if (n_jobs == cap_jobs) {
    cap_jobs = cap_jobs ? cap_jobs * 2 : 64;
    jobs = realloc(jobs, cap_jobs * sizeof *jobs);
  }
  jobs[n_jobs].pid = pid;
  jobs[n_jobs].is_exec = is_exec;
  snprintf(jobs[n_jobs].id, sizeof jobs[n_jobs].id, "%s", id);
  n_jobs++;
  respond(id, "pid %d", pid);
}

#define MAX_FIELDS 4096

/* Requests read from a pipe or socket: fields that each end with \0, a request with an empty
 * field. buf[start, len) is what is not taken yet. */
struct requests {
  char *buf;
  size_t cap, len, start;
};

/* Read what `fd` has, after dropping the requests taken (a request's fields stay valid until
 * then). Returns read(2)'s result: 0 or less when the writer went away. */
static ssize_t read_requests(int fd, struct requests *r) {
  memmove(r->buf, r->buf + r->start, r->len - r->start);
  r->len -= r->start;
  r->start = 0;
  if (r->cap - r->len < 4096) r->buf = realloc(r->buf, r->cap *= 2);
  ssize_t got = read(fd, r->buf + r->len, r->cap - r->len);
  if (got > 0) r->len += got;
  return got;
}

/* Take the next whole request: fills `fields` (at most MAX_FIELDS, then NULL: execvp needs a
 * NULL-terminated argv) and `n`, and returns 1; 0 while none is complete. */
static int take_request(struct requests *r, char **fields, int *n) {
  *n = 0;
  for (size_t pos = r->start; pos < r->len;) {
    char *end = memchr(r->buf + pos, 0, r->len - pos);
    if (!end) return 0;
    if (end == r->buf + pos) {
      fields[*n] = NULL;
      r->start = pos + 1;
      return 1;
    }
    if (*n < MAX_FIELDS) fields[(*n)++] = r->buf + pos;
    pos = (end - r->buf) + 1;
  }
  return 0;
}

static void reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (size_t i = 0; i < n_jobs; i++) {
      if (jobs[i].pid != pid) continue;
      if (jobs[i].is_exec) {
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        respond(jobs[i].id, "exit %d", code);
      } else {
        respond(jobs[i].id, "exited %d", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
      }
      jobs[i] = jobs[--n_jobs];
      break;
    }
  }
}

static int cmd_serve(void) {
  prctl(PR_SET_NAME, "seedfork-zygote");
  lifeline_fd = 3;
  if (fcntl(lifeline_fd, F_GETFD) < 0) die("serve", "fd 3 (the lifeline pipe) is not open");
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigprocmask(SIG_BLOCK, &set, NULL);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) die("serve", "signalfd: %s", strerror(errno));
  struct requests requests = {malloc(1 << 16), 1 << 16, 0, 0};
  struct pollfd fds[2] = {{.fd = 0, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents & POLLIN) {
      struct signalfd_siginfo info;
      while (read(sfd, &info, sizeof info) == sizeof info) {
      }
      reap();
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      /* seedfork went away; sandboxes watch the lifeline themselves */
      if (read_requests(0, &requests) <= 0) return 0;
      char *fields[MAX_FIELDS + 1];
      int n = 0;
      while (take_request(&requests, fields, &n)) run_request(fields, n);
    }
  }
  return 0;
}

#ifndef SEEDFORK_ADDON
int main(int argc, char **argv) {
  if (argc < 2) {
    fputs("usage: seedfork-ns start|exec [options] (see the comment at the top of seedfork-ns.c)\n",
          stderr);
    return 2;
  }
  if (!strcmp(argv[1], "start")) return cmd_start(argc - 2, argv + 2);
  if (!strcmp(argv[1], "exec")) return cmd_exec(argc - 2, argv + 2);
  if (!strcmp(argv[1], "serve")) return cmd_serve();
  if (!strcmp(argv[1], "syscalls")) {
    harden_list_syscalls(stdout); /* what config sandbox.allowSyscalls may name */
    return 0;
  }
  if (!strcmp(argv[1], "umount") && argc == 3) {
    /* `seedfork gc`: a sandbox's disk quota whose watcher was killed before it could unmount */
    if (umount2(argv[2], MNT_DETACH) < 0) {
      fprintf(stderr, "seedfork-ns: umount %s: %s\n", argv[2], strerror(errno));
      return 1;
    }
    return 0;
  }
  fprintf(stderr, "seedfork-ns: unknown command %s\n", argv[1]);
  return 2;
}
#endif
