import { readdir, readFile, readlink } from 'node:fs/promises';

const CLOCK_TICKS_PER_SECOND = 100; // getconf CLK_TCK on Linux

export interface ProcessSample {
  /** User + system CPU seconds consumed so far. */
  cpuSeconds: number;
  /** Resident set size now, in MiB: counts every shared library page in full, in every process. */
  rssMiB: number;
  /**
   * Proportional set size, in MiB: shared pages divided among the processes that map them, so summed over
   * processes it is the memory they really take (ffmpeg's ~40 MiB of libraries are mapped once for all calls).
   */
  pssMiB: number;
}

/** CPU time and RSS of one process from /proc; undefined once it is gone. */
export async function sampleProcess(pid: number): Promise<ProcessSample | undefined> {
  try {
    const fields = statFields(await readFile(`/proc/${pid}/stat`, 'utf8'));
    const cpuTicks = Number(fields[11]) + Number(fields[12]);
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const rssKiB = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
    const pssKiB = Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
    return { cpuSeconds: cpuTicks / CLOCK_TICKS_PER_SECOND, rssMiB: rssKiB / 1024, pssMiB: pssKiB / 1024 };
  } catch (error) {
    // Gone is an answer; anything else would silently leave the process out of the figures.
    if (gone(error)) return undefined;
    throw error;
  }
}

/**
 * A process and its descendants (the media task and its ffmpeg), from every process's parent in /proc/<pid>/stat.
 * Not /proc/<pid>/task/<tid>/children, which lists only the children that one thread started.
 */
export async function processTree(pid: number): Promise<number[]> {
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).map(Number);
  const children = new Map<number, number[]>();
  await Promise.all(
    pids.map(async (child) => {
      const stat = await readFile(`/proc/${child}/stat`, 'utf8').catch((error: unknown) => {
        if (gone(error)) return undefined;
        throw error;
      });
      if (!stat) return;
      const parent = Number(statFields(stat)[1]);
      children.set(parent, [...(children.get(parent) ?? []), child]);
    }),
  );
  const tree = [pid];
  for (let index = 0; index < tree.length; index++) tree.push(...(children.get(tree[index]!) ?? []));
  return tree;
}

/** The encoders under `pid`: ffmpeg reading its SDP on stdin (pipe:0), the spare waiting for the answer included. */
export async function encoderPids(pid: number): Promise<number[]> {
  const pids = await processTree(pid);
  const cmdlines = await Promise.all(pids.map((child) => readFile(`/proc/${child}/cmdline`, 'utf8').catch(() => '')));
  return pids.filter((_child, index) => /ffmpeg\0/.test(cmdlines[index]!) && cmdlines[index]!.includes('\0pipe:0\0'));
}

/** The TCP ports a process listens on: its socket descriptors matched to LISTEN rows of /proc/net/tcp and tcp6. */
export async function listeningTcpPorts(pid: number): Promise<number[]> {
  const links = await Promise.all(
    (await readdir(`/proc/${pid}/fd`)).map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')),
  );
  const inodes = new Set(links.flatMap((link) => /^socket:\[(\d+)\]$/.exec(link)?.[1] ?? []));
  const tables = await Promise.all(['tcp', 'tcp6'].map((table) => readFile(`/proc/${pid}/net/${table}`, 'utf8')));
  const ports = tables.flatMap((table) =>
    table
      .split('\n')
      .slice(1)
      .flatMap((row) => {
        // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode; st 0A is LISTEN.
        const [, local, , state, , , , , , inode] = row.trim().split(/\s+/);
        return state === '0A' && inodes.has(inode!) ? [parseInt(local!.split(':')[1]!, 16)] : [];
      }),
  );
  return [...new Set(ports)].sort((a, b) => a - b);
}

/** Alive and not a zombie: a zombie only waits to be reaped (by init, once orphaned) and holds no port. */
export async function isRunning(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch((error: unknown) => {
    if (gone(error)) return undefined;
    throw error;
  });
  return stat !== undefined && statFields(stat)[0] !== 'Z';
}

/** The process's command name (`comm`), '' once it is gone. */
export async function commandName(pid: number): Promise<string> {
  return (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
}

/** The fields of /proc/<pid>/stat after the command name, which may itself contain spaces and parentheses. */
function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

function gone(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ESRCH';
}
