/*
 * harden.h: least privilege for the commands seedfork-ns runs inside a sandbox.
 * See harden.c for what each step does and where the lists come from.
 */
#ifndef SEEDFORK_HARDEN_H
#define SEEDFORK_HARDEN_H

#include <stdio.h>
#include <sys/types.h>

/* Syscalls a sandboxed command may use although the default filter refuses them
 * (`--allow-syscall NAME`, from config `sandbox.allowSyscalls`). */
struct harden_opts {
  const char *allowed[64];
  int n_allowed;
  /* 1: bind(2) goes to the supervisor too, which records the address (harden_answer) and lets
   * the call go on */
  int trace_binds;
};

/* Child side, step 1: enter a new user namespace and wait for the parent to map it
 * (harden_map_user). `sock` is one end of a socketpair shared with the parent. Returns 0 or -1
 * with errno set. */
int harden_enter_userns(int sock);

/* Parent side of step 1: wait for the child's request, write its uid and gid maps (identity
 * over every id the parent's own user namespace maps), and release it. `proc` is a directory
 * fd of the host's /proc (the child's pid is a host pid). Returns 0, or -1 when the child went
 * away or a map could not be written. */
int harden_map_user(int sock, int proc, pid_t child);

/* Child side, step 2 (before switching to the command's user, which takes CAP_SETPCAP away):
 * capabilities beyond harden.c's KEPT_CAPS dropped from the bounding set. Returns 0 or -1 with a
 * message in `err`. */
int harden_drop_bounding(char *err, size_t err_len);

/* Child side, step 3 (after switching to the command's user): no_new_privs, capabilities
 * beyond harden.c's KEPT_CAPS dropped from the other sets, and the seccomp filter installed. The
 * filter's notification fd is sent to the parent over `sock` (closed afterwards). Returns 0 or
 * -1 with a message in `err`. */
int harden_restrict(int sock, const struct harden_opts *opts, char *err, size_t err_len);

/* Parent side of step 2: receive the notification fd (or -1 when the child failed first). */
int harden_receive_listener(int sock);

/* Answer one pending seccomp notification on `listener`. A refused call gets EPERM, with a
 * line naming it written to `report_fd` the first time each call is refused. A traced bind(2)
 * (opts.trace_binds) goes on as if unfiltered, its address appended to `binds_fd` as one line:
 * "inet ADDR PORT", "inet6 ADDR PORT" (port 0 left out: the kernel picks a free one) or
 * "unix PATH" ("unix @NAME" for an abstract socket). Returns 0, or -1 when the listener is gone
 * (every process holding the filter exited). */
int harden_answer(int listener, int report_fd, int binds_fd);

/* Print the calls the filter refuses (the names --allow-syscall takes), one per line. */
void harden_list_syscalls(FILE *out);

/* 1 when `name` is a syscall the filter knows (so --allow-syscall can name it), else 0. */
int harden_known_syscall(const char *name);

#endif
