// seedfork-agent: PID 1 of a microvm guest (issue 14). Built static, it is the initramfs's /init:
//   1. mounts /dev, /proc, /sys; loads the kernel modules listed in /modules.order (Debian's
//      kernels build virtio as modules);
//   2. with `seedfork.root=/dev/vdX` on the kernel command line, mounts that ext4 disk and moves
//      into it (switch_root), then mounts a fresh /tmp and /run;
//   3. opens the virtio-serial port named "seedfork.agent" and says it is ready;
//   4. serves the host: runs commands (several at once), streams their stdout and stderr and
//      reports how each ended; kills them on request; reseeds the kernel's random pool and sets
//      the clock after a snapshot restore; reaps every orphan, as PID 1 must.
//
// The protocol, both directions: frames of [u32 length of the rest, little-endian][u8 type]
// [u32 job id][payload]. Host to guest:
//   'X' exec: NUL-terminated strings: the user to run as ("" for root), the working directory,
//       KEY=VALUE environment entries, an empty string, then argv;
//   'Y' exec on a pseudo-terminal (an interactive shell: `seedfork shell`), as 'X'; its output
//       comes as 'O' only;
//   'J' input for a 'Y' job's terminal: the bytes;
//   'B' the size of a 'Y' job's terminal: u16 rows, u16 columns;
//   'K' kill: one byte, the signal; the job's process group gets it;
//   'S' seed: u64 nanoseconds since the epoch for CLOCK_REALTIME, then bytes of entropy;
//   'P' probe: u16 TCP port: answered 'A' when a connection to 127.0.0.1 on it succeeds, else 'F'
//       (no process is started, which under software emulation costs hundreds of ms);
//   'G' read a regular file: its path; answered 'D' (the contents, at most 16 MiB) or 'F';
//   'L' list a directory: its path; answered 'D' (entry names, each NUL-terminated) or 'F';
//   'T' test: a path; answered 'A' when anything is there (lstat), else 'F';
//   'W' write a file: u32 mode, the path (NUL-terminated), then the contents;
//   'M' make a directory and its parents: u32 mode, i32 uid, i32 gid (-1: leave), the path;
//   'V' mount a disk (the project, its dependencies): the block device, then the path (both
//       NUL-terminated): the disk read-only below (/run/seedfork/<device>/lower), a tmpfs above
//       (/run/seedfork/<device>/upper: overlayfs's upper and work), the device's cache dropped
//       first; what a seed wrote there before the snapshot (/run/seedfork/<device>/seed) between;
//   'U' unmount what 'V' mounted: the block device, then the path; its writes stay (moved to
//       /run/seedfork/<device>/seed) for 'V' in guests restored from a snapshot of this one.
// The file requests are served by the agent itself for the same reason as 'P'.
// Guest to host: 'R' ready (payload: this boot's /proc/sys/kernel/random/boot_id), 'O' / 'E'
// output of a job, 'Z' a job's end (payload: i32, the exit code, or 128 + the signal that killed
// it), 'D' data answering 'G' or 'L', 'F' a request that failed (payload: the reason), 'A' a
// request done.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PORT_NAME "seedfork.agent"
#define MAX_JOBS 64
#define MAX_FRAME (16u << 20)

struct job {
  uint32_t id;
  pid_t pid;
  int out, err; /* -1 once at EOF */
  int tty;      /* a pty job's master (its input goes there), else -1 */
  int ended;    /* reaped */
  int status;
};

static struct job jobs[MAX_JOBS];
static int port = -1;

static void say(const char *fmt, const char *arg) {
  dprintf(2, "seedfork-agent: ");
  dprintf(2, fmt, arg);
  dprintf(2, "\n");
}

static void write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        poll(&pf, 1, -1);
        continue;
      }
      return; /* the host went away: nothing to tell it */
    }
    p += w;
    n -= (size_t)w;
  }
}

static void send_frame(char type, uint32_t job, const void *data, uint32_t len) {
  unsigned char hdr[9];
  uint32_t n = len + 5;
  memcpy(hdr, &n, 4);
  hdr[4] = (unsigned char)type;
  memcpy(hdr + 5, &job, 4);
  write_all(port, hdr, 9);
  if (len) write_all(port, data, len);
}

static void fail(uint32_t job, const char *why) { send_frame('F', job, why, (uint32_t)strlen(why)); }

static void mount_basics(const char *root) {
  char path[64];
  const char *fs[][2] = {{"dev", "devtmpfs"}, {"proc", "proc"}, {"sys", "sysfs"}};
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s/%s", root, fs[i][0]);
    mkdir(path, 0755);
    if (mount(fs[i][1], path, fs[i][1], 0, NULL) != 0 && errno != EBUSY) say("cannot mount %s", path);
  }
}

static void load_modules(void) {
  FILE *order = fopen("/modules.order", "r");
  if (!order) return;
  char line[512];
  while (fgets(line, sizeof line, order)) {
    line[strcspn(line, "\n")] = 0;
    if (!*line) continue;
    int fd = open(line, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || (syscall(SYS_finit_module, fd, "", 0) != 0 && errno != EEXIST)) say("cannot load %s", line);
    if (fd >= 0) close(fd);
  }
  fclose(order);
}

/* The value of `key=` on the kernel command line, or NULL. */
static char *cmdline_value(const char *key) {
  static char buf[4096];
  int fd = open("/proc/cmdline", O_RDONLY);
  if (fd < 0) return NULL;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return NULL;
  buf[n] = 0;
  size_t klen = strlen(key);
  for (char *tok = strtok(buf, " \n"); tok; tok = strtok(NULL, " \n"))
    if (strncmp(tok, key, klen) == 0 && tok[klen] == '=') return tok + klen + 1;
  return NULL;
}

static int wait_for(const char *path, int ms) {
  for (int waited = 0; waited < ms; waited += 5) {
    if (access(path, F_OK) == 0) return 0;
    usleep(5000);
  }
  return -1;
}

static void switch_root(const char *device) {
  mkdir("/newroot", 0755);
  if (wait_for(device, 10000) != 0) {
    say("no root disk %s", device);
    return;
  }
  if (mount(device, "/newroot", "ext4", 0, "") != 0) {
    say("cannot mount the root disk %s", device);
    return;
  }
  const char *moved[] = {"dev", "proc", "sys"};
  char to[64], from[64];
  for (int i = 0; i < 3; i++) {
    snprintf(from, sizeof from, "/%s", moved[i]);
    snprintf(to, sizeof to, "/newroot/%s", moved[i]);
    mount(from, to, NULL, MS_MOVE, NULL);
  }
  if (chdir("/newroot") != 0 || mount(".", "/", NULL, MS_MOVE, NULL) != 0 || chroot(".") != 0 || chdir("/") != 0) {
    say("cannot switch to the root disk %s", device);
    return;
  }
  mkdir("/dev/pts", 0755);
  if (mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=620,ptmxmode=666") != 0)
    say("cannot mount %s", "/dev/pts");
  const char *tmpfs[] = {"/tmp", "/run", "/var/run/postgresql"};
  for (int i = 0; i < 3; i++) {
    mkdir(tmpfs[i], 01777);
    mount("tmpfs", tmpfs[i], "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
  }
}

static int open_port(void) {
  for (int waited = 0; waited < 10000; waited += 10) {
    DIR *d = opendir("/sys/class/virtio-ports");
    struct dirent *e;
    while (d && (e = readdir(d))) {
      if (e->d_name[0] == '.') continue;
      char path[300], name[64] = {0};
      snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
      int fd = open(path, O_RDONLY);
      if (fd < 0) continue;
      ssize_t n = read(fd, name, sizeof name - 1);
      close(fd);
      if (n > 0 && strncmp(name, PORT_NAME, strlen(PORT_NAME)) == 0) {
        snprintf(path, sizeof path, "/dev/%s", e->d_name);
        int p = open(path, O_RDWR | O_CLOEXEC);
        if (p >= 0) {
          closedir(d);
          return p;
        }
      }
    }
    if (d) closedir(d);
    usleep(10000);
  }
  return -1;
}


struct account {
  uid_t uid;
  gid_t gid;
  char home[256];
};

/* The user `name` of /etc/passwd (read directly: a static binary has no NSS). */
static int lookup_user(const char *name, struct account *out) {
  FILE *f = fopen("/etc/passwd", "re");
  if (!f) return -1;
  char line[1024];
  size_t n = strlen(name);
  int found = -1;
  while (found != 0 && fgets(line, sizeof line, f)) {
    if (strncmp(line, name, n) != 0 || line[n] != ':') continue;
    char *fields[7] = {0};
    char *p = line;
    for (int i = 0; i < 7 && p; i++) {
      fields[i] = p;
      p = strchr(p, ':');
      if (p) *p++ = 0;
    }
    if (!fields[5]) continue;
    fields[5][strcspn(fields[5], "\n")] = 0;
    out->uid = (uid_t)strtoul(fields[2], NULL, 10);
    out->gid = (gid_t)strtoul(fields[3], NULL, 10);
    snprintf(out->home, sizeof out->home, "%s", fields[5]);
    found = 0;
  }
  fclose(f);
  return found;
}

static void fail_errno(uint32_t id, const char *what, const char *path) {
  char why[600];
  snprintf(why, sizeof why, "cannot %s %.400s: %s", what, path, strerror(errno));
  fail(id, why);
}

/* 'G': a regular file's contents. */
static void read_file(uint32_t id, const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return fail_errno(id, "open", path);
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return fail(id, "not a regular file");
  }
  static char data[MAX_FRAME];
  size_t have = 0;
  for (;;) {
    if (have == sizeof data - 16) {
      close(fd);
      return fail(id, "larger than 16 MiB");
    }
    ssize_t n = read(fd, data + have, sizeof data - 16 - have);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      close(fd);
      return fail_errno(id, "read", path);
    }
    if (n == 0) break;
    have += (size_t)n;
  }
  close(fd);
  send_frame('D', id, data, (uint32_t)have);
}

/* 'L': a directory's entry names, each NUL-terminated. */
static void list_dir(uint32_t id, const char *path) {
  DIR *d = opendir(path);
  if (!d) return fail_errno(id, "list", path);
  static char data[MAX_FRAME];
  size_t have = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    size_t n = strlen(e->d_name) + 1;
    if (have + n > sizeof data - 16) break;
    memcpy(data + have, e->d_name, n);
    have += n;
  }
  closedir(d);
  send_frame('D', id, data, (uint32_t)have);
}

/* 'W': write a whole file (replacing it) with `mode`. */
static void write_file(uint32_t id, const char *payload, uint32_t len) {
  if (len < 5) return fail(id, "malformed write request");
  uint32_t mode;
  memcpy(&mode, payload, 4);
  const char *path = payload + 4;
  size_t plen = strnlen(path, len - 4);
  if (plen == len - 4) return fail(id, "malformed write request");
  const char *data = path + plen + 1;
  size_t n = len - 4 - plen - 1;
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode & 07777);
  if (fd < 0) return fail_errno(id, "create", path);
  while (n > 0) {
    ssize_t w = write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      int saved = errno;
      close(fd);
      errno = saved;
      return fail_errno(id, "write", path);
    }
    data += w;
    n -= (size_t)w;
  }
  fchmod(fd, mode & 07777);
  close(fd);
  send_frame('A', id, NULL, 0);
}

/* mkdir -p: every missing parent 0755, the last one `mode`. */
static int make_dirs(char *path, mode_t mode) {
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    int r = mkdir(path, 0755);
    *p = '/';
    if (r != 0 && errno != EEXIST) return -1;
  }
  if (mkdir(path, mode) != 0 && errno != EEXIST) return -1;
  return 0;
}

/* 'M': make a directory and its parents; `mode` and owner apply to the last one. */
static void make_dir(uint32_t id, char *payload, uint32_t len) {
  if (len < 13) return fail(id, "malformed mkdir request");
  uint32_t mode;
  int32_t uid, gid;
  memcpy(&mode, payload, 4);
  memcpy(&uid, payload + 4, 4);
  memcpy(&gid, payload + 8, 4);
  char *path = payload + 12;
  if (make_dirs(path, mode & 07777) != 0) return fail_errno(id, "create", path);
  if (chmod(path, mode & 07777) != 0) return fail_errno(id, "chmod", path);
  if ((uid >= 0 || gid >= 0) && chown(path, (uid_t)uid, (gid_t)gid) != 0) return fail_errno(id, "chown", path);
  send_frame('A', id, NULL, 0);
}

/* Where the disk `device` is mounted read-only (`lower`), the tmpfs of the seed's writes to it
   (`seed`: the upper layer of the mount the seed had, kept in the snapshot's memory), and the
   tmpfs of this guest's writes (`upper`): /run/seedfork/<name>/. */
static void mount_dirs(const char *device, char *lower, char *seed, char *upper, size_t size) {
  const char *name = strrchr(device, '/') ? strrchr(device, '/') + 1 : device;
  snprintf(lower, size, "/run/seedfork/%.64s/lower", name);
  snprintf(seed, size, "/run/seedfork/%.64s/seed", name);
  snprintf(upper, size, "/run/seedfork/%.64s/upper", name);
}

/* 'V': show block device `device` at `path`: read-only ext4 below, tmpfs above (overlayfs).
   Where the seed had it mounted, what the seed wrote there lies between the two. */
static void mount_disk(uint32_t id, char *payload, uint32_t len) {
  char *device = payload;
  size_t dlen = strnlen(device, len);
  if (dlen + 1 >= len) return fail(id, "malformed mount request");
  char *path = device + dlen + 1;
  /* the guest read the snapshot's disk through this device: drop those blocks */
  int fd = open(device, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ioctl(fd, BLKFLSBUF, 0) != 0) {
    if (fd >= 0) close(fd);
    return fail_errno(id, "flush the cache of", device);
  }
  close(fd);
  char lower[128], seed[128], upper[128], dir[160], opts[800];
  mount_dirs(device, lower, seed, upper, sizeof lower);
  if (make_dirs(lower, 0755) != 0 || make_dirs(upper, 0755) != 0) return fail_errno(id, "create", upper);
  if (make_dirs(path, 0755) != 0) return fail_errno(id, "create", path);
  if (mount(device, lower, "ext4", MS_RDONLY, "") != 0) return fail_errno(id, "mount", device);
  if (mount("tmpfs", upper, "tmpfs", 0, "mode=0755") != 0) return fail_errno(id, "mount a tmpfs on", upper);
  for (int i = 0; i < 2; i++) {
    snprintf(dir, sizeof dir, "%s/%s", upper, i ? "work" : "upper");
    if (mkdir(dir, 0755) != 0) return fail_errno(id, "create", dir);
  }
  char seeded[160];
  snprintf(seeded, sizeof seeded, "%s/upper", seed);
  if (access(seeded, F_OK) == 0)
    snprintf(opts, sizeof opts, "lowerdir=%s:%s,upperdir=%s/upper,workdir=%s/work", seeded, lower, upper, upper);
  else
    snprintf(opts, sizeof opts, "lowerdir=%s,upperdir=%s/upper,workdir=%s/work", lower, upper, upper);
  if (mount("overlay", path, "overlay", 0, opts) != 0) return fail_errno(id, "mount the disk at", path);
  send_frame('A', id, NULL, 0);
}

/* 'U': undo 'V' (lazily where something still holds a file: it goes when that lets go), keeping
   what was written there: its tmpfs moves to `seed`, for the guests restored from a snapshot of
   this one ('V' puts it between the disk and their own writes). */
static void unmount_disk(uint32_t id, char *payload, uint32_t len) {
  char *device = payload;
  size_t dlen = strnlen(device, len);
  if (dlen + 1 >= len) return fail(id, "malformed unmount request");
  char lower[128], seed[128], upper[128];
  mount_dirs(device, lower, seed, upper, sizeof lower);
  const char *points[] = {device + dlen + 1, lower};
  for (int i = 0; i < 2; i++)
    if (umount2(points[i], 0) != 0 && umount2(points[i], MNT_DETACH) != 0) return fail_errno(id, "unmount", points[i]);
  if (make_dirs(seed, 0755) != 0) return fail_errno(id, "create", seed);
  if (mount(upper, seed, NULL, MS_MOVE, NULL) != 0) return fail_errno(id, "keep the writes of", upper);
  send_frame('A', id, NULL, 0);
}

static struct job *find_job(uint32_t id) {
  for (int i = 0; i < MAX_JOBS; i++)
    if (jobs[i].pid && jobs[i].id == id) return &jobs[i];
  return NULL;
}

static void start_job(uint32_t id, char *payload, uint32_t len, int pty) {
  if (find_job(id)) return fail(id, "a job with this id runs already");
  struct job *slot = NULL;
  for (int i = 0; i < MAX_JOBS && !slot; i++)
    if (!jobs[i].pid) slot = &jobs[i];
  if (!slot) return fail(id, "too many jobs at once");
  /* strings: user, cwd, env..., "", argv... */
  char *strings[4096];
  int count = 0;
  for (uint32_t at = 0; at < len && count < 4095;) {
    strings[count++] = payload + at;
    at += (uint32_t)strlen(payload + at) + 1;
  }
  int sep = 2;
  while (sep < count && strings[sep][0]) sep++;
  if (count < 2 || sep >= count - 1) return fail(id, "malformed exec request");
  strings[count] = NULL;
  struct account user = {0};
  if (strings[0][0] && lookup_user(strings[0], &user) != 0) {
    char why[300];
    snprintf(why, sizeof why, "no user %.200s in the guest's /etc/passwd", strings[0]);
    return fail(id, why);
  }
  int out[2], err[2], master = -1;
  char pts[64];
  if (pty) {
    master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    int unlock = 0;
    if (master < 0 || ioctl(master, TIOCSPTLCK, &unlock) != 0 || ptsname_r(master, pts, sizeof pts) != 0) {
      if (master >= 0) close(master);
      return fail(id, "cannot open a pseudo-terminal");
    }
    struct winsize ws = {.ws_row = 24, .ws_col = 80};
    ioctl(master, TIOCSWINSZ, &ws);
    out[0] = master, err[0] = -1;
  } else if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    return fail(id, strerror(errno));
  }
  pid_t pid = fork();
  if (pid < 0) {
    if (pty) close(master);
    else close(out[0]), close(out[1]), close(err[0]), close(err[1]);
    return fail(id, strerror(errno));
  }
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setsid();
    if (pty) {
      int tty = open(pts, O_RDWR);
      if (tty < 0 || ioctl(tty, TIOCSCTTY, 0) != 0) _exit(126);
      dup2(tty, 0), dup2(tty, 1), dup2(tty, 2);
    } else {
      int devnull = open("/dev/null", O_RDONLY);
      dup2(devnull, 0);
      dup2(out[1], 1);
      dup2(err[1], 2);
    }
    clearenv();
    setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
    setenv("HOME", strings[0][0] ? user.home : "/root", 1);
    for (int i = 2; i < sep; i++) putenv(strings[i]);
    if (strings[0][0] && (setgroups(1, &user.gid) != 0 || setgid(user.gid) != 0 || setuid(user.uid) != 0)) {
      dprintf(2, "seedfork-agent: cannot become %s: %s\n", strings[0], strerror(errno));
      _exit(126);
    }
    if (chdir(strings[1]) != 0) {
      dprintf(2, "seedfork-agent: cannot enter %s: %s\n", strings[1], strerror(errno));
      _exit(127);
    }
    execvp(strings[sep + 1], &strings[sep + 1]);
    dprintf(2, "seedfork-agent: cannot run %s: %s\n", strings[sep + 1], strerror(errno));
    _exit(127);
  }
  if (pty) {
    fcntl(master, F_SETFL, O_NONBLOCK);
    *slot = (struct job){.id = id, .pid = pid, .out = master, .err = -1, .tty = dup(master)};
    return;
  }
  close(out[1]);
  close(err[1]);
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  fcntl(err[0], F_SETFL, O_NONBLOCK);
  *slot = (struct job){.id = id, .pid = pid, .out = out[0], .err = err[0], .tty = -1};
}

static void seed(uint32_t id, const unsigned char *payload, uint32_t len) {
  if (len < 8) return fail(id, "malformed seed request");
  uint64_t ns;
  memcpy(&ns, payload, 8);
  struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull), .tv_nsec = (long)(ns % 1000000000ull)};
  if (clock_settime(CLOCK_REALTIME, &ts) != 0) return fail(id, "cannot set the clock");
  uint32_t bytes = len - 8;
  struct {
    int entropy_count, buf_size;
    unsigned char buf[256];
  } entropy;
  if (bytes > sizeof entropy.buf) bytes = sizeof entropy.buf;
  entropy.entropy_count = (int)bytes * 8;
  entropy.buf_size = (int)bytes;
  memcpy(entropy.buf, payload + 8, bytes);
  int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
  if (fd < 0 || ioctl(fd, RNDADDENTROPY, &entropy) != 0 || ioctl(fd, RNDRESEEDCRNG) != 0) {
    if (fd >= 0) close(fd);
    return fail(id, "cannot reseed the random pool");
  }
  close(fd);
  send_frame('A', id, NULL, 0);
}

static void probe(uint32_t id, const unsigned char *payload, uint32_t len) {
  if (len < 2) return fail(id, "malformed probe request");
  uint16_t port;
  memcpy(&port, payload, 2);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int ok = fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0;
  int saved = errno;
  if (fd >= 0) close(fd);
  if (ok) send_frame('A', id, NULL, 0);
  else fail(id, strerror(saved));
}

static void handle(char type, uint32_t id, char *payload, uint32_t len) {
  if (type == 'X' || type == 'Y') {
    payload[len] = 0;
    start_job(id, payload, len, type == 'Y');
  } else if (type == 'J') {
    struct job *j = find_job(id);
    if (j && j->tty >= 0) write_all(j->tty, payload, len);
  } else if (type == 'B') {
    struct job *j = find_job(id);
    uint16_t size[2];
    if (j && j->tty >= 0 && len >= 4) {
      memcpy(size, payload, 4);
      struct winsize ws = {.ws_row = size[0], .ws_col = size[1]};
      ioctl(j->tty, TIOCSWINSZ, &ws);
    }
  } else if (type == 'K') {
    struct job *j = find_job(id);
    if (j && !j->ended) kill(-j->pid, len ? payload[0] : SIGKILL);
  } else if (type == 'S') {
    seed(id, (unsigned char *)payload, len);
  } else if (type == 'P') {
    probe(id, (unsigned char *)payload, len);
  } else if (type == 'G') {
    payload[len] = 0;
    read_file(id, payload);
  } else if (type == 'L') {
    payload[len] = 0;
    list_dir(id, payload);
  } else if (type == 'T') {
    struct stat st;
    payload[len] = 0;
    if (lstat(payload, &st) == 0) send_frame('A', id, NULL, 0);
    else fail_errno(id, "find", payload);
  } else if (type == 'W') {
    write_file(id, payload, len);
  } else if (type == 'M') {
    payload[len] = 0;
    make_dir(id, payload, len);
  } else if (type == 'V') {
    payload[len] = 0;
    mount_disk(id, payload, len);
  } else if (type == 'U') {
    payload[len] = 0;
    unmount_disk(id, payload, len);
  } else {
    fail(id, "unknown request");
  }
}

/* Send what a job's pipe has; close it at EOF. */
static void drain(struct job *j, int *fd, char type) {
  char buf[65536];
  for (;;) {
    ssize_t n = read(*fd, buf, sizeof buf);
    if (n > 0) {
      send_frame(type, j->id, buf, (uint32_t)n);
      continue;
    }
    if (n < 0 && (errno == EINTR)) continue;
    if (n < 0 && errno == EAGAIN) return;
    close(*fd);
    *fd = -1;
    return;
  }
}

static void finish_if_done(struct job *j) {
  if (!j->pid || !j->ended || j->out >= 0 || j->err >= 0) return;
  int32_t code = WIFEXITED(j->status) ? WEXITSTATUS(j->status) : 128 + WTERMSIG(j->status);
  if (j->tty >= 0) close(j->tty);
  send_frame('Z', j->id, &code, 4);
  memset(j, 0, sizeof *j);
}

static void reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (int i = 0; i < MAX_JOBS; i++) {
      if (jobs[i].pid == pid) {
        jobs[i].ended = 1;
        jobs[i].status = status;
        finish_if_done(&jobs[i]);
      }
    }
  }
}

/* Bring the loopback interface up: the guest has no other network unless one is asked for. */
static void loopback_up(void) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr = {0};
  strcpy(ifr.ifr_name, "lo");
  if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) say("cannot read the flags of %s", "lo");
  ifr.ifr_flags |= IFF_UP;
  if (fd >= 0 && ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) say("cannot bring %s up", "lo");
  if (fd >= 0) close(fd);
}

/* With `seedfork.net=1` (a guest asked to have a network: QEMU's user-mode network, slirp):
   the first interface but lo gets 10.0.2.15/24, the default route goes via 10.0.2.2 and DNS is
   10.0.2.3, QEMU's defaults for it (QEMU docs, "Network emulation", user networking). */
static void network_up(void) {
  char name[IFNAMSIZ] = {0};
  for (int waited = 0; waited < 3000 && !name[0]; waited += 10) {
    DIR *d = opendir("/sys/class/net");
    struct dirent *e;
    while (d && (e = readdir(d)))
      if (e->d_name[0] != '.' && strcmp(e->d_name, "lo") != 0) snprintf(name, sizeof name, "%.15s", e->d_name);
    if (d) closedir(d);
    if (!name[0]) usleep(10000);
  }
  if (!name[0]) return say("no network interface %s", "(virtio-net)");
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr = {0};
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
  struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
  sin->sin_family = AF_INET;
  inet_pton(AF_INET, "10.0.2.15", &sin->sin_addr);
  if (ioctl(fd, SIOCSIFADDR, &ifr) != 0) say("cannot set the address of %s", name);
  inet_pton(AF_INET, "255.255.255.0", &sin->sin_addr);
  if (ioctl(fd, SIOCSIFNETMASK, &ifr) != 0) say("cannot set the netmask of %s", name);
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) say("cannot bring %s up", name);
  }
  struct rtentry rt = {0};
  struct sockaddr_in *dst = (struct sockaddr_in *)&rt.rt_dst, *gw = (struct sockaddr_in *)&rt.rt_gateway,
                     *mask = (struct sockaddr_in *)&rt.rt_genmask;
  dst->sin_family = gw->sin_family = mask->sin_family = AF_INET;
  inet_pton(AF_INET, "10.0.2.2", &gw->sin_addr);
  rt.rt_flags = RTF_UP | RTF_GATEWAY;
  if (ioctl(fd, SIOCADDRT, &rt) != 0) say("cannot add the default route via %s", "10.0.2.2");
  close(fd);
  int conf = open("/etc/resolv.conf", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (conf >= 0) {
    write_all(conf, "nameserver 10.0.2.3\n", 20);
    close(conf);
  }
}

int main(void) {
  if (getpid() == 1) {
    mount_basics("");
    load_modules();
    char *root = cmdline_value("seedfork.root");
    if (root) switch_root(root);
    sethostname("seedfork", 8);
    loopback_up();
    char *net = cmdline_value("seedfork.net");
    if (net && strcmp(net, "1") == 0) network_up();
  }
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  port = open_port();
  if (port < 0) {
    say("no virtio-serial port named %s", PORT_NAME);
    for (;;) pause();
  }
  char boot_id[64] = {0};
  int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY);
  ssize_t n = fd >= 0 ? read(fd, boot_id, sizeof boot_id - 1) : 0;
  if (fd >= 0) close(fd);
  send_frame('R', 0, boot_id, n > 0 ? (uint32_t)strcspn(boot_id, "\n") : 0);

  static unsigned char in[MAX_FRAME + 16];
  size_t have = 0;
  for (;;) {
    struct pollfd fds[2 + 2 * MAX_JOBS];
    struct job *owner[2 + 2 * MAX_JOBS];
    int nfds = 0;
    fds[nfds++] = (struct pollfd){.fd = port, .events = POLLIN};
    fds[nfds++] = (struct pollfd){.fd = sfd, .events = POLLIN};
    for (int i = 0; i < MAX_JOBS; i++) {
      if (!jobs[i].pid) continue;
      if (jobs[i].out >= 0) owner[nfds] = &jobs[i], fds[nfds++] = (struct pollfd){.fd = jobs[i].out, .events = POLLIN};
      if (jobs[i].err >= 0) owner[nfds] = &jobs[i], fds[nfds++] = (struct pollfd){.fd = jobs[i].err, .events = POLLIN};
    }
    if (poll(fds, (nfds_t)nfds, -1) < 0) continue;
    for (int i = 2; i < nfds; i++) {
      if (!fds[i].revents) continue;
      struct job *j = owner[i];
      if (fds[i].fd == j->out) drain(j, &j->out, 'O');
      else if (fds[i].fd == j->err) drain(j, &j->err, 'E');
      finish_if_done(j);
    }
    if (fds[1].revents) {
      struct signalfd_siginfo info;
      while (read(sfd, &info, sizeof info) > 0) {
      }
      reap();
    }
    if (fds[0].revents & POLLIN) {
      ssize_t got = read(port, in + have, sizeof in - have);
      if (got > 0) have += (size_t)got;
      for (;;) {
        if (have < 9) break;
        uint32_t len;
        memcpy(&len, in, 4);
        if (len < 5 || len > MAX_FRAME) {
          have = 0; /* a corrupt stream: drop it */
          break;
        }
        if (have < 4 + (size_t)len) break;
        uint32_t id;
        memcpy(&id, in + 5, 4);
        char saved = (char)in[4 + len];
        handle((char)in[4], id, (char *)in + 9, len - 5);
        in[4 + len] = (unsigned char)saved;
        memmove(in, in + 4 + len, have - 4 - len);
        have -= 4 + (size_t)len;
      }
    } else if (fds[0].revents & (POLLHUP | POLLERR)) {
      usleep(10000); /* no host on the port yet: wait for one */
    }
  }
}
