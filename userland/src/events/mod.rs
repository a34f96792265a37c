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
