/**
 * Lists, then kills, the process tree rooted at the pid in `pidFile`. Run inside the sandbox
 * (same PID namespace as the runner); prints one line per process, indented by depth:
 * `<pid> <command line>`. Reads /proc/<pid>/stat (ppid, the 4th field after the comm) and
 * /proc/<pid>/cmdline, as proc(5) documents them.
 */
const SCRIPT = String.raw`
const fs = require('fs');
const root = Number(fs.readFileSync(process.argv[1], 'utf8').trim());
const children = new Map();
const command = new Map();
for (const name of fs.readdirSync('/proc')) {
  if (!/^\d+$/.test(name)) continue;
  try {
    const stat = fs.readFileSync('/proc/' + name + '/stat', 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const argv = fs.readFileSync('/proc/' + name + '/cmdline', 'utf8').split('\0').filter(Boolean).join(' ');
    command.set(Number(name), argv || '[' + comm + ']');
    children.set(ppid, [...(children.get(ppid) || []), Number(name)]);
  } catch {}
}
const tree = [];
const walk = (pid, depth) => {
  if (!command.has(pid) || pid === process.pid) return;
  tree.push(pid);
  console.log('  '.repeat(depth) + pid + ' ' + command.get(pid).slice(0, 300));
  for (const child of children.get(pid) || []) walk(child, depth + 1);
};
walk(root, 0);
for (const pid of tree.reverse()) { try { process.kill(pid, 'SIGKILL'); } catch {} }
`;

/** argv of a command that prints and kills the process tree of the runner whose pid is in `pidFile`. */
export function processTreeCommand(pidFile: string): string[] {
  return [process.execPath, '-e', SCRIPT, pidFile];
}
