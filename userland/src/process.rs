//! The user-side process cache: what events say about a process (exec id,
//! binary, arguments, cwd, parent), fed by exec records from the kernel and,
//! at startup, by /proc.
//!
//! The kernel's process map decides; this cache only describes. At startup it
//! also computes, for processes that were running before veto, the entries the
//! kernel would have made at their exec (resolved path, follow marks).

use std::collections::HashMap;
use std::path::Path;

use veto_common::{ExecEvent, ProcInfo, STR_LEN, flags, matching::reverse_into};

use crate::compile::Compiled;

/// What events say about one process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Process {
    /// Thread-group id.
    pub pid: u32,
    /// Exec time (ns since boot).
    pub ktime: u64,
    /// Tetragon-style exec id.
    pub exec_id: String,
    /// Parent pid.
    pub parent_pid: u32,
    /// Parent exec id ("" when unknown).
    pub parent_exec_id: String,
    /// Real uid.
    pub uid: u32,
    /// Working directory at exec (best effort, from /proc).
    pub cwd: String,
    /// The execve filename made absolute (Tetragon's `binary`).
    pub binary: String,
    /// The resolved executable path matchBinaries compares (None: unresolved).
    pub exe: Option<String>,
    /// Arguments after argv[0], space-separated.
    pub arguments: String,
    /// Tetragon-style flags (`execve`, `procFS`, `clone`, `unresolved`).
    pub flags: Vec<&'static str>,
    /// RFC 3339 start time.
    pub start_time: String,
}

/// Tetragon's exec id: base64 of `node:ktime:pid`.
pub fn exec_id(node: &str, ktime: u64, pid: u32) -> String {
    base64(format!("{node}:{ktime}:{pid}").as_bytes())
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (c.get(1).copied().unwrap_or(0) as u32) << 8
            | c.get(2).copied().unwrap_or(0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// RFC 3339 UTC time of `ns` since the Unix epoch.
pub fn rfc3339(ns: i128) -> String {
    let secs = ns.div_euclid(1_000_000_000) as i64;
    let nanos = ns.rem_euclid(1_000_000_000) as u32;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn clock_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
}

/// The cache.
#[derive(Debug)]
pub struct Cache {
    /// `node_name` of events.
    pub node: String,
    /// Wall-clock ns at monotonic 0 (bpf_ktime_get_ns is CLOCK_MONOTONIC).
    boot_wall: i128,
    procs: HashMap<u32, Process>,
}

impl Default for Cache {
    fn default() -> Self {
        Self::new()
    }
}

impl Cache {
    /// An empty cache for this node.
    pub fn new() -> Cache {
        let node = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "localhost".into());
        Cache {
            node,
            boot_wall: clock_ns(libc::CLOCK_REALTIME) - clock_ns(libc::CLOCK_MONOTONIC),
            procs: HashMap::new(),
        }
    }

    /// RFC 3339 wall time of a kernel timestamp.
    pub fn wall(&self, ktime: u64) -> String {
        rfc3339(self.boot_wall + ktime as i128)
    }

    /// The cached process `pid`.
    pub fn get(&self, pid: u32) -> Option<&Process> {
        self.procs.get(&pid)
    }

    /// Forgets `pid`.
    pub fn remove(&mut self, pid: u32) -> Option<Process> {
        self.procs.remove(&pid)
    }

    fn parent_exec_id(&self, ppid: u32, pktime: u64) -> String {
        match self.procs.get(&ppid) {
            Some(p) => p.exec_id.clone(),
            None if ppid != 0 => exec_id(&self.node, pktime, ppid),
            None => String::new(),
        }
    }

    /// Records an exec from the kernel.
    pub fn exec(&mut self, ev: &ExecEvent) -> Process {
        let p = &ev.proc;
        let filename = cstr(&ev.filename[..(ev.filename_len as usize).min(STR_LEN)]);
        let argv: Vec<String> = ev.args[..(ev.args_len as usize).min(ev.args.len())]
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        let cwd = std::fs::read_link(format!("/proc/{}/cwd", p.pid))
            .map(|c| c.to_string_lossy().into_owned())
            .unwrap_or_default();
        let binary = if filename.starts_with('/') || cwd.is_empty() {
            filename
        } else {
            Path::new(&cwd)
                .join(&filename)
                .to_string_lossy()
                .into_owned()
        };
        let proc = Process {
            pid: p.pid,
            ktime: p.ktime,
            exec_id: exec_id(&self.node, p.ktime, p.pid),
            parent_pid: p.parent_pid,
            parent_exec_id: self.parent_exec_id(p.parent_pid, p.parent_ktime),
            uid: ev.hdr.uid,
            cwd,
            binary,
            exe: resolved(p),
            arguments: argv.iter().skip(1).cloned().collect::<Vec<_>>().join(" "),
            flags: proc_flags(p.flags, "execve"),
            start_time: self.wall(p.ktime),
        };
        self.procs.insert(p.pid, proc.clone());
        proc
    }

    /// What to report for a process the cache has not seen exec (forked from
    /// a known one, or started before veto and gone since).
    pub fn describe(&self, pid: u32, info: Option<&ProcInfo>) -> Process {
        if let Some(p) = self.procs.get(&pid) {
            return p.clone();
        }
        let mut p = Process {
            pid,
            ..Default::default()
        };
        if let Some(i) = info {
            p.ktime = i.ktime;
            p.exec_id = exec_id(&self.node, i.ktime, pid);
            p.parent_pid = i.parent_pid;
            p.parent_exec_id = self.parent_exec_id(i.parent_pid, i.parent_ktime);
            p.exe = resolved(i);
            p.flags = proc_flags(i.flags, "clone");
            p.start_time = self.wall(i.ktime);
            if let Some(parent) = self.procs.get(&i.parent_pid) {
                p.binary = parent.binary.clone();
                p.arguments = parent.arguments.clone();
                p.cwd = parent.cwd.clone();
                p.uid = parent.uid;
            }
        }
        if p.binary.is_empty() {
            p.binary = p.exe.clone().unwrap_or_default();
        }
        p
    }

    /// Adds a process found in /proc at startup.
    pub fn insert(&mut self, p: Process) {
        self.procs.insert(p.pid, p);
    }
}

fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn resolved(p: &ProcInfo) -> Option<String> {
    (p.flags & flags::PATH_RESOLVED != 0)
        .then(|| cstr(&p.path[..(p.path_len as usize).min(STR_LEN)]))
}

fn proc_flags(f: u32, first: &'static str) -> Vec<&'static str> {
    let mut v = vec![if f & flags::PROCFS != 0 {
        "procFS"
    } else {
        first
    }];
    if f & flags::CLONE != 0 && first != "clone" {
        v.push("clone");
    }
    if f & flags::PATH_RESOLVED == 0 {
        v.push("unresolved");
    }
    v
}

/// One process found in /proc.
#[derive(Clone)]
pub struct Found {
    /// The kernel-side entry to insert.
    pub info: ProcInfo,
    /// The description for events.
    pub process: Process,
}

struct Stat {
    ppid: u32,
    start_ticks: u64,
}

fn read_stat(pid: u32) -> Option<Stat> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The comm field can hold spaces and parentheses: split after the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    Some(Stat {
        ppid: f.get(1)?.parse().ok()?,
        start_ticks: f.get(19)?.parse().ok()?,
    })
}

/// Scans /proc: every process with its resolved executable and the follow
/// marks the kernel would have given it had it been tracked since its exec.
pub fn scan_proc(c: &Compiled, cache: &Cache) -> Vec<Found> {
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let mut raw: HashMap<u32, (Stat, Option<String>, String, u32)> = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Some(stat) = read_stat(pid) else { continue };
        let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
            .ok()
            .map(|p| p.to_string_lossy().into_owned())
            .filter(|p| !p.ends_with(" (deleted)") && p.len() < STR_LEN);
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args = cmdline
            .split(|&b| b == 0)
            .skip(1)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        let uid = std::fs::metadata(format!("/proc/{pid}"))
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
            .unwrap_or(0);
        raw.insert(pid, (stat, exe, args, uid));
    }

    // Marks depend on ancestors: resolve each pid's chain once.
    let mut bin_marks: HashMap<u32, u32> = HashMap::new();
    let mut pid_marks: HashMap<u32, u32> = HashMap::new();
    fn marks(
        pid: u32,
        raw: &HashMap<u32, (Stat, Option<String>, String, u32)>,
        c: &Compiled,
        bm: &mut HashMap<u32, u32>,
        pm: &mut HashMap<u32, u32>,
        depth: u32,
    ) -> (u32, u32) {
        if let (Some(b), Some(p)) = (bm.get(&pid), pm.get(&pid)) {
            return (*b, *p);
        }
        let Some((stat, exe, _, _)) = raw.get(&pid) else {
            return (0, 0);
        };
        let (mut b, mut p) = if stat.ppid != 0 && stat.ppid != pid && depth < 4096 {
            marks(stat.ppid, raw, c, bm, pm, depth + 1)
        } else {
            (0, 0)
        };
        if let Some(exe) = exe {
            for (i, (_, set)) in c.bin_follow.iter().enumerate() {
                if c.sets
                    .strs
                    .iter()
                    .any(|(id, v)| id == set && v == exe.as_bytes())
                {
                    b |= 1 << i;
                }
            }
        }
        for (i, set) in c.pid_follow.iter().enumerate() {
            if c.sets
                .pids
                .iter()
                .any(|k| k.set_id == *set && k.pid == stat.ppid)
            {
                p |= 1 << i;
            }
        }
        bm.insert(pid, b);
        pm.insert(pid, p);
        (b, p)
    }

    let mut out = Vec::new();
    for (&pid, (stat, exe, args, uid)) in &raw {
        let (b, p) = marks(pid, &raw, c, &mut bin_marks, &mut pid_marks, 0);
        let ktime = stat.start_ticks * (1_000_000_000 / ticks);
        let parent_ktime = raw
            .get(&stat.ppid)
            .map(|(s, ..)| s.start_ticks * (1_000_000_000 / ticks))
            .unwrap_or(0);
        let mut info = ProcInfo {
            ktime,
            parent_ktime,
            pid,
            parent_pid: stat.ppid,
            flags: flags::PROCFS,
            bin_marks: b,
            pid_marks: p,
            path_len: 0,
            path: [0; STR_LEN],
            path_rev: [0; STR_LEN],
        };
        if let Some(e) = exe {
            info.flags |= flags::PATH_RESOLVED;
            info.path_len = e.len() as u32;
            info.path[..e.len()].copy_from_slice(e.as_bytes());
            let src = info.path;
            reverse_into(&src, e.len(), &mut info.path_rev);
        }
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd"))
            .map(|c| c.to_string_lossy().into_owned())
            .unwrap_or_default();
        let process = Process {
            pid,
            ktime,
            exec_id: exec_id(&cache.node, ktime, pid),
            parent_pid: stat.ppid,
            parent_exec_id: if stat.ppid == 0 {
                String::new()
            } else {
                exec_id(&cache.node, parent_ktime, stat.ppid)
            },
            uid: *uid,
            cwd,
            binary: exe.clone().unwrap_or_default(),
            exe: exe.clone(),
            arguments: args.clone(),
            flags: proc_flags(info.flags, "procFS"),
            start_time: cache.wall(ktime),
        };
        out.push(Found { info, process });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(base64(b"node:1:2"), "bm9kZToxOjI=");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
    }

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339(1_700_000_000_123_000_000),
            "2023-11-14T22:13:20.123000000Z"
        );
    }

    #[test]
    fn proc_scan_finds_this_process_with_its_real_path() {
        let cache = Cache::new();
        let found = scan_proc(&Compiled::default(), &cache);
        let me = std::process::id();
        let f = found
            .iter()
            .find(|f| f.info.pid == me)
            .expect("self in /proc");
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        assert_eq!(f.process.exe.as_deref(), exe.to_str());
        assert_ne!(f.info.flags & flags::PATH_RESOLVED, 0);
    }
}
