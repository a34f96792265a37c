//! proptest generators: policies within Tetragon's limits, and traces over a
//! small world of binaries, pids and argument values.
//!
//! The world is small on purpose: values are drawn from the same short pools
//! as the trace, so selectors match often enough for the properties to say
//! something. The differential harness reuses these generators to replay the
//! same cases against the kernel enforcer.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::subsequence;
use veto_policy::spec::{
    ActionKind, ArgOp, ArgType, BinaryOp, Enforcer, Hook, HookPoint, PidOp, Policy, Selector, Span,
    Spanned, limits,
};

use crate::build::{SelectorBuild, arg, kprobe, lsm, policy, selector, tracepoint};
use crate::engine::Simulator;
use crate::report::Outcome;

/// Resolved binaries the trace runs (and policies name).
pub const BINARIES: &[&str] = &[
    "/usr/bin/java",
    "/usr/bin/dash",
    "/usr/bin/curl",
    "/usr/sbin/sshd",
    "/opt/app/bin/java",
];
/// Binary prefixes policies use.
pub const BINARY_PREFIXES: &[&str] = &["/usr/", "/usr/bin/", "/opt/", "/usr/sbin/s", "/"];
/// Binary postfixes policies use.
pub const BINARY_POSTFIXES: &[&str] = &["/java", "sh", "d", "/curl"];
/// String argument values of the trace.
pub const STRINGS: &[&str] = &[
    "/bin/sh",
    "/bin/bash",
    "/etc/passwd",
    "/tmp/x",
    "/etc/shadow",
];
/// String values policies compare with (prefixes and postfixes of [`STRINGS`] too).
pub const STRING_VALUES: &[&str] = &["/bin/sh", "/bin/", "/etc/", "sh", "passwd", "/tmp/x", ""];
/// Integer values, for the trace and the policies (all fit in `int`).
pub const INTS: &[i128] = &[0, 1, 2, 9, 15, 64, -1, 0x7fff_ffff];
/// Pids of the generated process tree.
pub const PIDS: &[u32] = &[1, 10, 11, 100, 101, 102, 103];

/// The hooks generated policies attach to, with their declared arguments.
fn hook_shape(i: usize) -> (HookPoint, Vec<(u32, ArgType)>) {
    match i % 3 {
        0 => (
            HookPoint::Kprobe {
                call: "sys_execve".into(),
                syscall: true,
            },
            vec![(0, ArgType::String)],
        ),
        1 => (
            HookPoint::Tracepoint {
                subsystem: "syscalls".into(),
                event: "sys_enter_kill".into(),
            },
            // Tetragon's field indices of syscalls/sys_enter_kill: after the
            // four common fields and __syscall_nr come pid (5) and sig (6).
            vec![(5, ArgType::Int64), (6, ArgType::Int)],
        ),
        _ => (
            HookPoint::Lsm {
                hook: "file_open".into(),
            },
            vec![(0, ArgType::File)],
        ),
    }
}

/// Number of distinct hooks generated policies use.
pub const HOOKS: usize = 3;

/// The trace name of generated hook `i`.
pub fn hook_name(i: usize) -> String {
    hook_shape(i).0.trace_name()
}

/// An action; `Override` only where the hook can change a return value (the
/// front end refuses it at a tracepoint).
fn action(can_override: bool) -> impl Strategy<Value = ActionKind> {
    let errors = if can_override { vec![-1, -13] } else { vec![] };
    prop_oneof![
        Just(ActionKind::Post),
        Just(ActionKind::NoPost),
        Just(ActionKind::Sigkill),
        prop::sample::select(vec![9, 10, 15]).prop_map(|sig| ActionKind::Signal { sig }),
        if can_override {
            prop::sample::select(errors)
                .prop_map(|error| ActionKind::Override { error })
                .boxed()
        } else {
            Just(ActionKind::Post).boxed()
        },
        // The front end wants argError, argSig or both.
        prop_oneof![
            prop::sample::select(vec![-1, -2]).prop_map(|e| (Some(e), None)),
            prop::sample::select(vec![9, 10]).prop_map(|s| (None, Some(s))),
            Just((Some(-1), Some(9))),
        ]
        .prop_map(|(error, sig)| ActionKind::NotifyEnforcer { error, sig }),
    ]
}

fn nonempty<T: Clone + std::fmt::Debug + 'static>(
    pool: &'static [T],
) -> impl Strategy<Value = Vec<T>> {
    subsequence(pool, 1..=pool.len().min(3))
}

fn binary_filter() -> impl Strategy<Value = (BinaryOp, Vec<&'static str>, bool)> {
    prop_oneof![
        (
            prop::sample::select(vec![BinaryOp::In, BinaryOp::NotIn]),
            nonempty(BINARIES),
            any::<bool>()
        ),
        (
            prop::sample::select(vec![BinaryOp::Prefix, BinaryOp::NotPrefix]),
            nonempty(BINARY_PREFIXES),
            Just(false)
        ),
        (
            prop::sample::select(vec![BinaryOp::Postfix, BinaryOp::NotPostfix]),
            nonempty(BINARY_POSTFIXES),
            Just(false)
        ),
    ]
}

/// One `matchArgs` entry for argument `index` of type `ty`.
#[derive(Debug, Clone)]
enum ArgFilter {
    Strs(u32, ArgOp, Vec<&'static str>),
    Ints(u32, ArgOp, Vec<i128>),
}

fn arg_filter(index: u32, ty: ArgType) -> BoxedStrategy<ArgFilter> {
    if ty.is_integer() {
        (
            prop::sample::select(vec![
                ArgOp::Equal,
                ArgOp::NotEqual,
                ArgOp::GreaterThan,
                ArgOp::LessThan,
                ArgOp::Mask,
            ]),
            nonempty(INTS),
        )
            .prop_map(move |(op, mut v)| {
                // The front end takes exactly one value for GT and LT.
                if matches!(op, ArgOp::GreaterThan | ArgOp::LessThan) {
                    v.truncate(1);
                }
                ArgFilter::Ints(index, op, v)
            })
            .boxed()
    } else {
        (
            prop::sample::select(vec![
                ArgOp::Equal,
                ArgOp::NotEqual,
                ArgOp::Prefix,
                ArgOp::NotPrefix,
                ArgOp::Postfix,
                ArgOp::NotPostfix,
            ]),
            nonempty(STRING_VALUES),
        )
            .prop_map(move |(op, v)| ArgFilter::Strs(index, op, v))
            .boxed()
    }
}

/// A selector for a hook declaring `args`, within the limits.
pub fn selector_for(
    args: Vec<(u32, ArgType)>,
    can_override: bool,
) -> impl Strategy<Value = Selector> {
    let arg_filters = prop::sample::select(args).prop_flat_map(|(i, ty)| arg_filter(i, ty));
    (
        prop::option::weighted(0.6, binary_filter()),
        vec(arg_filters, 0..=2.min(limits::MAX_MATCH_ARGS)),
        prop::option::weighted(
            0.3,
            (
                prop::sample::select(vec![PidOp::In, PidOp::NotIn]),
                nonempty(PIDS),
                any::<bool>(),
                any::<bool>(),
            ),
        ),
        vec(action(can_override), 0..=limits::MAX_ACTIONS),
    )
        .prop_map(|(bin, args, pids, actions)| {
            let mut s = selector().actions(&actions);
            if let Some((op, values, follow)) = bin {
                s = s.binaries(op, &values, follow);
            }
            for a in args {
                s = match a {
                    ArgFilter::Strs(i, op, v) => s.arg_strs(i, op, &v),
                    ArgFilter::Ints(i, op, v) => s.arg_ints(i, op, &v),
                };
            }
            if let Some((op, values, follow, ns)) = pids {
                s = s.pids(op, &values, follow, ns);
            }
            s
        })
}

/// A hook (one of [`HOOKS`] shapes) with 0..=5 selectors.
pub fn hook() -> impl Strategy<Value = Hook> {
    (0..HOOKS).prop_flat_map(|i| {
        let (point, args) = hook_shape(i);
        let can_override = !matches!(point, HookPoint::Tracepoint { .. });
        vec(
            selector_for(args.clone(), can_override),
            0..=limits::MAX_SELECTORS,
        )
        .prop_map(move |sels| {
            let declared = args.iter().map(|&(i, ty)| arg(i, ty)).collect();
            match &point {
                HookPoint::Kprobe { call, .. } => kprobe(call, declared, sels),
                HookPoint::Tracepoint { subsystem, event } => {
                    tracepoint(subsystem, event, declared, sels)
                }
                HookPoint::Lsm { hook } => lsm(hook, declared, sels),
            }
        })
    })
}

/// 1..=3 policies named p0, p1, …, each with 1..=3 hooks. A policy that
/// uses NotifyEnforcer names its hooks' calls in `spec.enforcers`, as the
/// front end requires.
pub fn policies() -> impl Strategy<Value = Vec<Policy>> {
    vec(vec(hook(), 1..=3), 1..=3).prop_map(|ps| {
        ps.into_iter()
            .enumerate()
            .map(|(i, hooks)| {
                let mut p = policy(&format!("p{i}"), hooks);
                let notifies = p.hooks.iter().flat_map(|h| &h.selectors).any(|s| {
                    s.actions
                        .iter()
                        .any(|a| matches!(a.kind, ActionKind::NotifyEnforcer { .. }))
                });
                if notifies {
                    // Enforcers name syscalls: the policy's syscall kprobes,
                    // or execve when it has none.
                    let mut calls: Vec<String> = p
                        .hooks
                        .iter()
                        .filter_map(|h| match &h.point {
                            HookPoint::Kprobe {
                                call,
                                syscall: true,
                            } => Some(call.clone()),
                            _ => None,
                        })
                        .collect();
                    calls.dedup();
                    if calls.is_empty() {
                        calls.push("sys_execve".into());
                    }
                    p.enforcers.push(Enforcer {
                        span: Span::default(),
                        calls: calls
                            .into_iter()
                            .map(|c| Spanned::new(c, Span::default()))
                            .collect(),
                    });
                }
                p
            })
            .collect()
    })
}

/// One step of a generated trace; indices pick among what exists when the
/// step is materialised, so every generated sequence is a valid trace.
#[derive(Debug, Clone)]
pub enum Op {
    /// A live process forks.
    Fork {
        /// Which live process.
        who: usize,
    },
    /// A live process execs a binary (`None`: unresolved), or a new child does.
    Exec {
        /// Which live process.
        who: usize,
        /// Index into [`BINARIES`], or unresolved.
        exe: Option<usize>,
        /// A new pid (fork+exec) rather than the process itself.
        new: bool,
    },
    /// A live process calls a hook.
    Call {
        /// Which live process.
        who: usize,
        /// Which hook shape.
        hook: usize,
        /// Picks argument values.
        a: usize,
        /// Picks argument values.
        b: usize,
        /// Gives an explicit namespace pid.
        nspid: Option<u32>,
    },
    /// A live process exits.
    Exit {
        /// Which live process.
        who: usize,
    },
}

/// A sequence of trace steps, calls the most frequent.
pub fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        1 => any::<usize>().prop_map(|who| Op::Fork { who }),
        2 => (any::<usize>(), prop::option::weighted(0.9, 0..BINARIES.len()), any::<bool>())
            .prop_map(|(who, exe, new)| Op::Exec { who, exe, new }),
        5 => (any::<usize>(), 0..HOOKS, any::<usize>(), any::<usize>(),
              prop::option::weighted(0.2, prop::sample::select(PIDS.to_vec())))
            .prop_map(|(who, hook, a, b, nspid)| Op::Call { who, hook, a, b, nspid }),
        1 => any::<usize>().prop_map(|who| Op::Exit { who }),
    ];
    vec(op, 1..40)
}

/// Turns `ops` into trace lines, running `policies` alongside so that a
/// process killed by a call is never used again. The tree starts with pid 1
/// (systemd) and `proc` lines for pids 10 and 11 (java and sshd).
pub fn materialise(policies: &[Policy], ops: &[Op]) -> Vec<String> {
    let mut lines = vec![
        r#"{"kind":"proc","pid":1,"ppid":0,"exe":"/usr/lib/systemd/systemd"}"#.to_string(),
        r#"{"kind":"proc","pid":10,"ppid":1,"exe":"/usr/bin/java"}"#.to_string(),
        r#"{"kind":"proc","pid":11,"ppid":1,"exe":"/usr/sbin/sshd"}"#.to_string(),
    ];
    let mut sim = Simulator::new(policies);
    for l in &lines {
        sim.step_line(l).expect("the generated prefix is valid");
    }
    // (pid, ppid) of live processes; pid 1 stays out of reach so that the
    // tree always has a root to fork from.
    let mut live: Vec<(u32, u32)> = vec![(10, 1), (11, 1)];
    let mut next_pid = 100u32;
    for op in ops {
        if live.is_empty() {
            live.push((next_pid, 1));
            lines.push(exec_line(next_pid, 1, Some(0)));
            sim.step_line(lines.last().unwrap()).unwrap();
            next_pid += 1;
        }
        let line = match *op {
            Op::Fork { who } => {
                let (ppid, _) = live[who % live.len()];
                live.push((next_pid, ppid));
                next_pid += 1;
                format!(r#"{{"kind":"fork","pid":{},"ppid":{ppid}}}"#, next_pid - 1)
            }
            Op::Exec { who, exe, new } => {
                let (pid, ppid) = live[who % live.len()];
                if new {
                    live.push((next_pid, pid));
                    next_pid += 1;
                    exec_line(next_pid - 1, pid, exe)
                } else {
                    exec_line(pid, ppid, exe)
                }
            }
            Op::Call {
                who,
                hook,
                a,
                b,
                nspid,
            } => {
                let (pid, _) = live[who % live.len()];
                let args = match hook % HOOKS {
                    0 | 2 => format!("[{:?}]", STRINGS[a % STRINGS.len()]),
                    _ => format!(
                        r#"{{"5":{},"6":{}}}"#,
                        INTS[a % INTS.len()],
                        INTS[b % INTS.len()]
                    ),
                };
                let ns = nspid.map_or(String::new(), |n| format!(r#","nspid":{n}"#));
                format!(
                    r#"{{"kind":"call","pid":{pid},"hook":"{}","args":{args}{ns}}}"#,
                    hook_name(hook)
                )
            }
            Op::Exit { who } => {
                let (pid, _) = live.remove(who % live.len());
                format!(r#"{{"kind":"exit","pid":{pid}}}"#)
            }
        };
        let report = sim
            .step_line(&line)
            .unwrap_or_else(|e| panic!("generated line {line} is invalid: {e}"));
        if let Some(r) = report
            && r.outcome == Outcome::Sigkill
        {
            live.retain(|&(p, _)| p != r.pid);
        }
        lines.push(line);
    }
    lines
}

fn exec_line(pid: u32, ppid: u32, exe: Option<usize>) -> String {
    let exe = exe.map_or("null".to_string(), |i| format!("{:?}", BINARIES[i]));
    format!(r#"{{"kind":"exec","pid":{pid},"ppid":{ppid},"exe":{exe}}}"#)
}
