//! Ring-buffer records → events in Tetragon's shape.
//!
//! [`decode`] turns raw records into [`Record`]s; [`Renderer`] joins them with
//! the process cache and the compiled policy names into [`Event`]s, which
//! [`json`] and [`compact`] print.

pub mod compact;
pub mod json;

use veto_common::{ExecEvent, ExitEvent, HookEvent, ProcInfo, STR_LEN, action, arg_kind, kind};

use crate::compile::Compiled;
use crate::process::{Cache, Process};

/// A decoded record.
pub enum Record {
    /// sched_process_exec.
    Exec(Box<ExecEvent>),
    /// sched_process_exit.
    Exit(ExitEvent),
    /// A hook's policy matched.
    Hook(Box<HookEvent>),
}

fn read<T: Copy>(b: &[u8]) -> Option<T> {
    (b.len() >= std::mem::size_of::<T>())
        // SAFETY: the length is checked and T is a plain #[repr(C)] record.
        .then(|| unsafe { std::ptr::read_unaligned(b.as_ptr() as *const T) })
}

/// Decodes one ring-buffer record (None: unknown kind or short record).
pub fn decode(b: &[u8]) -> Option<Record> {
    match read::<u32>(b)? {
        kind::EXEC => read(b).map(|e| Record::Exec(Box::new(e))),
        kind::EXIT => read(b).map(Record::Exit),
        kind::HOOK => read(b).map(|e| Record::Hook(Box::new(e))),
        _ => None,
    }
}

/// One argument of a hook event.
#[derive(Debug, Clone, PartialEq)]
pub enum ArgValue {
    /// A string argument.
    Str(String),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    Uint(u64),
    /// The argument could not be read.
    Unreadable,
}

/// A hook event.
#[derive(Debug, Clone)]
pub struct HookReport {
    /// The calling process.
    pub process: Process,
    /// Its parent, if known.
    pub parent: Option<Process>,
    /// `__x64_sys_execve`, or None for a tracepoint hook.
    pub function_name: Option<String>,
    /// `syscalls` / `sys_enter_execve`.
    pub subsys: String,
    /// Tracepoint event.
    pub event: String,
    /// The policy's declared arguments: (label, type name, value).
    pub args: Vec<(Option<String>, &'static str, ArgValue)>,
    /// Policy name.
    pub policy: String,
    /// Tetragon action name.
    pub action: &'static str,
    /// Signal sent, if any.
    pub sig: u32,
}

/// An event ready to print.
#[derive(Debug, Clone)]
pub enum Event {
    /// process_exec.
    Exec {
        /// The process.
        process: Process,
        /// Its parent.
        parent: Option<Process>,
        /// Event time.
        time: String,
    },
    /// process_exit.
    Exit {
        /// The process.
        process: Process,
        /// Its parent.
        parent: Option<Process>,
        /// How it ended.
        status: ExitStatus,
        /// Event time.
        time: String,
    },
    /// process_kprobe / process_tracepoint.
    Hook {
        /// The report.
        report: Box<HookReport>,
        /// Event time.
        time: String,
    },
}

/// The action name Tetragon reports.
pub fn action_name(code: u32) -> &'static str {
    match code {
        action::SIGKILL => "KPROBE_ACTION_SIGKILL",
        action::SIGNAL => "KPROBE_ACTION_SIGNAL",
        action::NOPOST => "KPROBE_ACTION_NOPOST",
        _ => "KPROBE_ACTION_POST",
    }
}

/// Joins records with what user space knows.
pub struct Renderer<'a> {
    /// Process descriptions.
    pub cache: Cache,
    /// Policy and hook names.
    pub compiled: &'a Compiled,
}

impl Renderer<'_> {
    /// Turns a record into an event (and updates the cache).
    pub fn render(&mut self, r: Record) -> Option<Event> {
        match r {
            Record::Exec(e) => {
                let process = self.cache.exec(&e);
                let parent = self.cache.get(process.parent_pid).cloned();
                Some(Event::Exec {
                    time: self.cache.wall(e.hdr.ktime),
                    process,
                    parent,
                })
            }
            Record::Exit(e) => {
                let process = self
                    .cache
                    .remove(e.hdr.pid)
                    .unwrap_or_else(|| self.cache.describe(e.hdr.pid, None));
                let parent = self.cache.get(process.parent_pid).cloned();
                Some(Event::Exit {
                    status: ExitStatus::from_wait(e.code),
                    time: self.cache.wall(e.hdr.ktime),
                    process,
                    parent,
                })
            }
            Record::Hook(e) => {
                let hook = self.compiled.hooks.get(e.hook_id as usize)?;
                let pos = hook
                    .table
                    .policies
                    .iter()
                    .take(hook.table.n_policies as usize)
                    .position(|p| p.policy_id == e.policy_id)?;
                let mut info: Option<ProcInfo> = None;
                if e.proc_ktime != 0 {
                    let mut i: ProcInfo = ProcInfo {
                        ktime: e.proc_ktime,
                        parent_ktime: 0,
                        pid: e.hdr.pid,
                        parent_pid: 0,
                        flags: e.proc_flags,
                        bin_marks: 0,
                        pid_marks: 0,
                        path_len: 0,
                        path: e.bin.bytes,
                        path_rev: [0; STR_LEN],
                    };
                    i.path_len = i.path.iter().position(|&b| b == 0).unwrap_or(STR_LEN) as u32;
                    info = Some(i);
                }
                let mut process = self.cache.describe(e.hdr.pid, info.as_ref());
                process.exe = info
                    .as_ref()
                    .filter(|i| i.flags & veto_common::flags::PATH_RESOLVED != 0)
                    .map(|i| cstr(&i.path));
                let parent = self.cache.get(process.parent_pid).cloned();
                let args = hook.policy_args[pos]
                    .iter()
                    .map(|a| {
                        let spec = &hook.table.args[a.slot];
                        let v = if e.arg_unreadable & (1 << a.slot) != 0 {
                            ArgValue::Unreadable
                        } else if spec.kind == arg_kind::STR {
                            ArgValue::Str(cstr(&e.strs[a.slot].bytes))
                        } else if spec.signed != 0 {
                            ArgValue::Int(e.ints[a.slot] as i64)
                        } else {
                            ArgValue::Uint(e.ints[a.slot])
                        };
                        (a.label.clone(), a.ty.name(), v)
                    })
                    .collect();
                Some(Event::Hook {
                    time: self.cache.wall(e.hdr.ktime),
                    report: Box::new(HookReport {
                        process: Process {
                            uid: e.hdr.uid,
                            ..process
                        },
                        parent,
                        function_name: hook.function_name.clone(),
                        subsys: hook.category.clone(),
                        event: hook.name.clone(),
                        args,
                        policy: self
                            .compiled
                            .policies
                            .get(e.policy_id as usize)
                            .cloned()
                            .unwrap_or_default(),
                        action: action_name(e.action),
                        sig: e.sig,
                    }),
                })
            }
        }
    }
}

fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// How a process ended, from the kernel's wait status (`task->exit_code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus {
    /// The exit code (0 when killed by a signal).
    pub code: u32,
    /// The signal that killed it, 0 when it exited.
    pub signal: u32,
}

impl ExitStatus {
    /// Splits a wait status: the signal in the low 7 bits, else the exit code
    /// in bits 8..16 (the core-dump bit 0x80 is dropped).
    pub fn from_wait(status: u32) -> Self {
        let signal = status & 0x7f;
        ExitStatus {
            code: if signal == 0 { (status >> 8) & 0xff } else { 0 },
            signal,
        }
    }

    /// The signal's name as Tetragon prints it (`SIGKILL`), or None when the
    /// process exited on its own.
    pub fn signal_name(self) -> Option<String> {
        if self.signal == 0 {
            return None;
        }
        Some(signal_name(self.signal))
    }
}

/// `SIGKILL` for 9; `SIG<n>` for numbers without a classic name.
pub fn signal_name(sig: u32) -> String {
    const NAMES: [&str; 32] = [
        "",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    match NAMES.get(sig as usize) {
        Some(n) if !n.is_empty() => (*n).to_owned(),
        _ => format!("SIG{sig}"),
    }
}

#[cfg(test)]
mod exit_status_tests {
    use super::*;

    #[test]
    fn wait_status_splits_into_code_and_signal() {
        assert_eq!(
            ExitStatus::from_wait(3 << 8),
            ExitStatus { code: 3, signal: 0 }
        );
        let killed = ExitStatus::from_wait(9);
        assert_eq!(killed, ExitStatus { code: 0, signal: 9 });
        assert_eq!(killed.signal_name().as_deref(), Some("SIGKILL"));
        // A core dump sets 0x80 beside the signal.
        assert_eq!(ExitStatus::from_wait(0x80 | 11).signal, 11);
        assert_eq!(ExitStatus::from_wait(0).signal_name(), None);
        assert_eq!(signal_name(40), "SIG40");
    }
}
