//! Hooks: `spec.kprobes`, `spec.tracepoints`, `spec.lsmhooks`, and their `args`.

use super::selector::{self, HookCtx};
use super::{check_syscall, expand_list};
use crate::spec::{Arg, ArgType, Hook, HookPoint, List, Selector, Spanned};
use crate::yaml::{Cx, Fields, Node, Schema};

/// What a hook's walk needs from the rest of the spec.
pub(crate) struct Env<'l> {
    /// `spec.lists`, for `call: "list:NAME"`.
    pub lists: &'l [List],
    /// Whether `spec.enforcers` has an entry (NotifyEnforcer needs one).
    pub has_enforcers: bool,
}

const KPROBE: Schema = Schema {
    path: "spec.kprobes",
    known: &["call", "syscall", "args", "selectors"],
    unsupported: &[
        "return",
        "returnArg",
        "returnArgAction",
        "ignore",
        "message",
        "tags",
        "data",
    ],
    ignored: &[],
};

const TRACEPOINT: Schema = Schema {
    path: "spec.tracepoints",
    known: &["subsystem", "event", "args", "selectors"],
    unsupported: &["raw", "message", "tags", "ignore"],
    ignored: &[],
};

const LSMHOOK: Schema = Schema {
    path: "spec.lsmhooks",
    known: &["hook", "args", "selectors"],
    unsupported: &["message", "tags", "ignore"],
    ignored: &[],
};

const ARG: Schema = Schema {
    path: "args",
    known: &["index", "type", "label"],
    unsupported: &[
        "sizeArgIndex",
        "returnCopy",
        "maxData",
        "resolve",
        "btfType",
        "source",
    ],
    ignored: &[],
};

/// Highest argument position of a function: kernel functions and syscalls take at
/// most six arguments (0 to 5).
const MAX_FN_ARG: u32 = 5;
/// Highest field index of a tracepoint format veto accepts.
const MAX_TP_FIELD: u32 = 63;

pub(crate) fn kprobes(cx: &mut Cx, node: &Node<'_>, env: &Env<'_>) -> Vec<Hook> {
    let mut out = Vec::new();
    for item in cx.seq(node, "spec.kprobes").unwrap_or_default() {
        let Some(f) = cx.map(item, &KPROBE) else {
            continue;
        };
        let call = cx
            .required(&f, "call", "spec.kprobes")
            .and_then(|n| cx.str(n, "spec.kprobes.call"));
        let syscall = f
            .get("syscall")
            .and_then(|n| cx.bool(n, "spec.kprobes.syscall"))
            // Tetragon's default.
            .unwrap_or(true);
        let (args, selectors) = args_and_selectors(cx, &f, MAX_FN_ARG, false, env);
        let Some(call) = call else { continue };

        let calls = if let Some(expanded) = expand_list(cx, &call, env.lists) {
            if !syscall {
                cx.err(
                    call.span,
                    "a list of syscalls needs syscall: true (it is Tetragon's default)",
                );
            }
            expanded
        } else if syscall {
            check_syscall(cx, &call);
            vec![call]
        } else {
            if !is_symbol(&call.value) {
                cx.err(
                    call.span,
                    format!("\"{}\" is not a kernel function name", call.value),
                );
            }
            vec![call]
        };
        for c in calls {
            out.push(Hook {
                point: HookPoint::Kprobe {
                    call: c.value,
                    syscall,
                },
                span: f.span,
                args: args.clone(),
                selectors: selectors.clone(),
            });
        }
    }
    out
}

pub(crate) fn tracepoints(cx: &mut Cx, node: &Node<'_>, env: &Env<'_>) -> Vec<Hook> {
    let mut out = Vec::new();
    for item in cx.seq(node, "spec.tracepoints").unwrap_or_default() {
        let Some(f) = cx.map(item, &TRACEPOINT) else {
            continue;
        };
        let name = |cx: &mut Cx, key: &str| {
            let s = cx
                .required(&f, key, "spec.tracepoints")
                .and_then(|n| cx.str(n, &format!("spec.tracepoints.{key}")))?;
            if !s
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
                || s.value.is_empty()
            {
                cx.err(
                    s.span,
                    format!("\"{}\" is not a tracepoint {key} name", s.value),
                );
                return None;
            }
            Some(s.value)
        };
        let subsystem = name(cx, "subsystem");
        let event = name(cx, "event");
        let (args, selectors) = args_and_selectors(cx, &f, MAX_TP_FIELD, true, env);
        if let (Some(subsystem), Some(event)) = (subsystem, event) {
            out.push(Hook {
                point: HookPoint::Tracepoint { subsystem, event },
                span: f.span,
                args,
                selectors,
            });
        }
    }
    out
}

pub(crate) fn lsmhooks(cx: &mut Cx, node: &Node<'_>, env: &Env<'_>) -> Vec<Hook> {
    let mut out = Vec::new();
    for item in cx.seq(node, "spec.lsmhooks").unwrap_or_default() {
        let Some(f) = cx.map(item, &LSMHOOK) else {
            continue;
        };
        let hook = cx
            .required(&f, "hook", "spec.lsmhooks")
            .and_then(|n| cx.str(n, "spec.lsmhooks.hook"));
        let (args, selectors) = args_and_selectors(cx, &f, MAX_FN_ARG, false, env);
        let Some(hook) = hook else { continue };
        if !crate::lsm::is_known_hook(&hook.value) {
            let hint = match crate::lsm::hook_for_function(&hook.value) {
                Some(h) => format!(" (the hook for {} is \"{h}\")", hook.value),
                None => String::new(),
            };
            cx.err(
                hook.span,
                format!("LSM hook \"{}\" is not one veto knows{hint}", hook.value),
            );
            continue;
        }
        out.push(Hook {
            point: HookPoint::Lsm { hook: hook.value },
            span: f.span,
            args,
            selectors,
        });
    }
    out
}

/// A hook's `args` and the `selectors` read against them: the same walk for
/// every hook kind, which differ only in how many argument slots they have and
/// in how a tracepoint's matchArgs index counts.
fn args_and_selectors(
    cx: &mut Cx,
    f: &Fields<'_, '_>,
    max_index: u32,
    is_tracepoint: bool,
    env: &Env<'_>,
) -> (Vec<Arg>, Vec<Selector>) {
    let declared = args(cx, f.get("args"), max_index);
    let ctx = HookCtx {
        args: &declared.args,
        refused_args: &declared.refused,
        positions: &declared.positions,
        is_tracepoint,
        has_enforcers: env.has_enforcers,
    };
    let selectors = selector::selectors(cx, f.get("selectors"), &ctx);
    (declared.args, selectors)
}

/// Kernel symbol names: letters, digits, `_`, and `.` (compiler clones such as
/// `foo.isra.0`).
fn is_symbol(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// The outcome of reading `args`.
struct Declared {
    /// The accepted declarations.
    args: Vec<Arg>,
    /// Indexes of declarations that were refused (so that a matchArgs on them does
    /// not report a second, misleading error).
    refused: Vec<u32>,
    /// Per entry of `args`, in order: the declared index, or `None` if refused.
    positions: Vec<Option<u32>>,
}

fn args(cx: &mut Cx, node: Option<&Node<'_>>, max_index: u32) -> Declared {
    let mut out: Vec<Arg> = Vec::new();
    let mut refused = Vec::new();
    let mut positions = Vec::new();
    let Some(node) = node else {
        return Declared {
            args: out,
            refused,
            positions,
        };
    };
    for item in cx.seq(node, "args").unwrap_or_default() {
        let Some(f) = cx.map(item, &ARG) else {
            continue;
        };
        let index = cx
            .required(&f, "index", "args")
            .and_then(|n| cx.index(n, "args.index", max_index));
        let ty = cx
            .required(&f, "type", "args")
            .and_then(|n| cx.str(n, "args.type"))
            .and_then(|s| arg_type(cx, &s));
        let label = f
            .get("label")
            .and_then(|n| cx.str(n, "args.label"))
            .map(|s| s.value);
        let (Some(index), Some(ty)) = (index.clone(), ty) else {
            refused.extend(index.map(|i| i.value));
            positions.push(None);
            continue;
        };
        if let Some(prev) = out.iter().find(|a| a.index == index.value) {
            cx.err(
                index.span,
                format!(
                    "argument index {} is declared twice (first at {}:{})",
                    index.value, prev.span.line, prev.span.col
                ),
            );
            positions.push(None);
            continue;
        }
        positions.push(Some(index.value));
        out.push(Arg {
            index: index.value,
            ty,
            label,
            span: f.span,
        });
    }
    Declared {
        args: out,
        refused,
        positions,
    }
}

fn arg_type(cx: &mut Cx, s: &Spanned<String>) -> Option<ArgType> {
    Some(match s.value.as_str() {
        "string" => ArgType::String,
        "int" => ArgType::Int,
        "int32" => ArgType::Int32,
        "uint32" => ArgType::Uint32,
        "int64" => ArgType::Int64,
        "uint64" => ArgType::Uint64,
        "size_t" => ArgType::SizeT,
        "linux_binprm" => ArgType::LinuxBinprm,
        "file" => ArgType::File,
        "path" => ArgType::Path,
        "sockaddr" => ArgType::Sockaddr,
        other => {
            cx.err(
                s.span,
                format!("argument type \"{other}\" is not supported"),
            );
            return None;
        }
    })
}
