/*
 * seedfork-zygote.node: a process zygote for Node programs, as a Node-API addon.
 *
 * A runner's worker (Jest with ts-jest and TypeScript loaded, say) costs hundreds of ms of CPU
 * to start, and seedfork wants a fresh one in every sandbox. The zygote starts it once, on the
 * host, up to the point where it would wait for a test file; then `serve()` forks it once per
 * sandbox (copy-on-write: the loaded modules are shared) and the fork enters the sandbox the way
 * `seedfork-ns exec` would, with the same code (seedfork-ns.c's cmd_exec in its in-process mode),
 * and returns to JavaScript there as the sandbox's worker. The same idea as Android's Zygote.
 *
 * Forking a Node process is not something Node supports, so this file does what makes it work:
 *   - V8 marks its heap MADV_DONTFORK (a child would see no heap): every mapping is marked
 *     MADV_DOFORK before each fork;
 *   - only the forking thread exists in the child: the zygote runs with `--single-threaded`
 *     (V8 posts no task to the platform's worker threads, which the child lacks), and the child
 *     must leave through `exit()` below (Node's own exit joins those threads: a crash);
 *   - the event loop's epoll and eventfd are shared with the zygote after fork: uv_loop_fork()
 *     gives the child its own (libuv's docs: "uv_loop_fork"); libuv's thread pool and signal
 *     pipe reset themselves in its pthread_atfork handlers;
 *   - the zygote must have no I/O handle of its own open when it forks (serve() runs with the
 *     loop idle: the caller reads its setup synchronously).
 *
 * serve(controlFd, address) blocks, reading requests on controlFd, NUL-separated fields ending
 * with an empty field: "<id>\0<token>\0<exec options...>\0\0", the options those of
 * `seedfork-ns exec` without a command. For each it forks the helper process (as `seedfork-ns
 * exec`: it enters the sandbox, forks the command's process and waits for it), which first
 * connects three times to the abstract Unix socket `address` (the runner's; connected before
 * entering the sandbox's network namespace), sending "<token> stdout\n", "<token> stderr\n" and
 * "<token> channel\n": the command's fds 1, 2 and 3 (fd 0 is /dev/null). It answers on controlFd
 * with lines "<id> pid <helper pid>" and, when the helper exits, "<id> exit <code>" (128+N for
 * signal N, as `seedfork-ns exec`). In the zygote, serve() returns null when controlFd closes.
 * In the command's process it returns {id, cwd, pid} (pid as the sandbox's PID namespace sees
 * it): the caller is now the sandbox's worker.
 */
#define SEEDFORK_ADDON 1
#include "seedfork-ns.c"

#include <stddef.h>
#include <sys/mman.h>
#include <sys/un.h>

#define NAPI_VERSION 8
#include <node_api.h>

/* libuv's, exported by the node binary (uv.h: "int uv_loop_fork(uv_loop_t* loop)") */
extern int uv_loop_fork(struct uv_loop_s *loop);

#define MAX_JOBS 1024

struct zjob {
  pid_t pid;
  int pidfd;
  char id[64];
};

/* Undo V8's MADV_DONTFORK on its heap (see above): every mapping of this process. */
static void let_children_see_memory(void) {
  FILE *maps = fopen("/proc/self/maps", "re");
  if (!maps) return;
  char line[512];
  while (fgets(line, sizeof line, maps)) {
    unsigned long start, end;
    if (sscanf(line, "%lx-%lx", &start, &end) == 2) madvise((void *)start, end - start, MADV_DOFORK);
  }
  fclose(maps);
}

static void answer(int fd, const char *id, const char *fmt, long value) {
  char line[160];
  int n = snprintf(line, sizeof line, "%s ", id);
  n += snprintf(line + n, sizeof line - n, fmt, value);
  n += snprintf(line + n, sizeof line - n, "\n");
  if (write(fd, line, n) < 0) { /* the runner went away: the next read says so */ }
}

/* One connection to the runner's socket, announced as `role` of the request `token`. */
static int connect_role(const char *address, const char *token, const char *role) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  size_t len = strlen(address);
  if (len + 1 > sizeof sa.sun_path) {
    close(fd);
    errno = ENAMETOOLONG;
    return -1;
  }
  /* abstract: sun_path[0] is NUL, and an abstract name is every byte of the address length.
   * Node 20's libuv binds the name padded with NULs to the full sun_path; Node 22 and later
   * (libuv >= 1.46, uv_pipe_bind2) bind exactly its bytes. Try the exact name, then the padded. */
  memcpy(sa.sun_path + 1, address, len);
  socklen_t exact = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
  if (connect(fd, (struct sockaddr *)&sa, exact) < 0) {
    if (errno != ECONNREFUSED || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
      close(fd);
      return -1;
    }
  }
  char header[200];
  int n = snprintf(header, sizeof header, "%s %s\n", token, role);
  if (write(fd, header, n) != n) {
    close(fd);
    return -1;
  }
  return fd;
}

/* The command's process, after uv_loop_fork: close what it must not hold. The event loop's fds
 * (epoll, eventfd, libuv's signal pipe) are pipes or anonymous inodes; a file, directory,
 * socket or device left from the zygote or the helper would reach outside the sandbox. */
static void close_inherited(void) {
  DIR *dir = opendir("/proc/self/fd");
  if (!dir) return;
  int own = dirfd(dir);
  int found[4096], n = 0;
  struct dirent *e;
  while ((e = readdir(dir)) && n < 4096) {
    int fd = atoi(e->d_name);
    if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd <= 3 || fd == own) continue;
    found[n++] = fd;
  }
  closedir(dir);
  for (int k = 0; k < n; k++) {
    struct stat st;
    if (fstat(found[k], &st) < 0) continue;
    mode_t type = st.st_mode & S_IFMT;
    if (type != 0 && type != S_IFIFO) close(found[k]);
  }
}

/* In the helper process forked for one request: connect the command's stdio, then do what
 * `seedfork-ns exec` does. Returns in the command's process only; the helper exits. */
static void become_helper(int control, struct zjob *jobs, int n_jobs, const char *address, char **fields,
                          int n) {
  prctl(PR_SET_PDEATHSIG, SIGKILL); /* the zygote's end is the run's end */
  prctl(PR_SET_NAME, "seedfork-ns");
  for (int k = 0; k < n_jobs; k++) close(jobs[k].pidfd);
  /* fds 0-3 stay taken (the control socket is 3) until the dup2s below, so the connections
   * land above them and none is closed by a dup2 onto it */
  const char *token = fields[1];
  int out = connect_role(address, token, "stdout");
  int err = out < 0 ? -1 : connect_role(address, token, "stderr");
  int chan = err < 0 ? -1 : connect_role(address, token, "channel");
  if (chan < 0) _exit(125); /* the runner is gone: nobody to tell */
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0 || out <= 3 || err <= 3 || chan <= 3 || devnull <= 3) _exit(125);
  dup2(devnull, 0);
  dup2(out, 1);
  dup2(err, 2);
  dup2(chan, 3);
  if (control != 3) close(control);
  close(devnull);
  close(out);
  close(err);
  close(chan);
  exec_in_process = 1;
  exec_channel = 1;
  int rc = cmd_exec(n - 2, fields + 2);
  if (rc != EXEC_IN_PROCESS) _exit(rc);
}

static napi_value serve(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t control = -1;
  char address[100];
  size_t address_len = 0;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &control) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], address, sizeof address, &address_len) != napi_ok) {
    napi_throw_type_error(env, NULL, "serve(controlFd: number, address: string)");
    return NULL;
  }
  struct uv_loop_s *loop = NULL;
  napi_get_uv_event_loop(env, &loop);
  static struct zjob jobs[MAX_JOBS];
  int n_jobs = 0;
  struct requests requests = {malloc(1 << 16), 1 << 16, 0, 0};
  struct pollfd fds[MAX_JOBS + 1];
  for (;;) {
    fds[0].fd = control;
    fds[0].events = POLLIN;
    for (int k = 0; k < n_jobs; k++) {
      fds[k + 1].fd = jobs[k].pidfd;
      fds[k + 1].events = POLLIN;
    }
    if (poll(fds, n_jobs + 1, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int k = n_jobs - 1; k >= 0; k--) {
      if (!(fds[k + 1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      int status = 0;
      if (waitpid(jobs[k].pid, &status, WNOHANG) <= 0) continue;
      answer(control, jobs[k].id, "exit %ld",
             WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
      close(jobs[k].pidfd);
      jobs[k] = jobs[--n_jobs];
    }
    if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    if (read_requests(control, &requests) <= 0) break; /* the runner closed the zygote */
    char *fields[MAX_FIELDS + 1];
    int n = 0;
    while (take_request(&requests, fields, &n)) {
      if (n < 2 || n_jobs == MAX_JOBS) {
        answer(control, n ? fields[0] : "?", "exit %ld", 125);
        continue;
      }
      let_children_see_memory();
      pid_t pid = fork();
      if (pid < 0) {
        answer(control, fields[0], "exit %ld", 125);
        continue;
      }
      if (pid == 0) {
        become_helper(control, jobs, n_jobs, address, fields, n);
        /* the command's process, inside the sandbox */
        if (uv_loop_fork(loop) != 0) {
          fputs("seedfork: the forked worker could not renew its event loop\n", stderr);
          _exit(125);
        }
        close_inherited();
        const char *cwd = "/";
        for (int k = 2; k + 1 < n; k++)
          if (!strcmp(fields[k], "--cwd")) cwd = fields[k + 1];
        napi_value result, id, dir;
        napi_create_object(env, &result);
        napi_create_string_utf8(env, fields[0], NAPI_AUTO_LENGTH, &id);
        napi_create_string_utf8(env, cwd, NAPI_AUTO_LENGTH, &dir);
        napi_set_named_property(env, result, "id", id);
        napi_set_named_property(env, result, "cwd", dir);
        napi_value pid_value;
        napi_create_int32(env, getpid(), &pid_value);
        napi_set_named_property(env, result, "pid", pid_value);
        /* the requests' buffer stays: the environment (exec's --env) points into it */
        return result;
      }
      jobs[n_jobs].pid = pid;
      jobs[n_jobs].pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
      snprintf(jobs[n_jobs].id, sizeof jobs[n_jobs].id, "%s", fields[0]);
      answer(control, fields[0], "pid %ld", pid);
      if (jobs[n_jobs].pidfd < 0) {
        /* no pidfd (kernel < 5.3): poll() would never say it exited */
        answer(control, fields[0], "exit %ld", 125);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        continue;
      }
      n_jobs++;
    }
  }
  free(requests.buf);
  for (int k = 0; k < n_jobs; k++) kill(jobs[k].pid, SIGKILL);
  napi_value null;
  napi_get_null(env, &null);
  return null;
}

/* exit(code): leave the process now, without Node's teardown (which, in a forked worker, would
 * join threads that do not exist in it). Output written with fs.writeSync is already out. */
static napi_value exit_now(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t code = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc) napi_get_value_int32(env, argv[0], &code);
  _exit(code & 0xff);
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "serve", NAPI_AUTO_LENGTH, serve, NULL, &fn);
  napi_set_named_property(env, exports, "serve", fn);
  napi_create_function(env, "exit", NAPI_AUTO_LENGTH, exit_now, NULL, &fn);
  napi_set_named_property(env, exports, "exit", fn);
  return exports;
}
