//! `matchActions`: what a matching selector does.

use super::selector::HookCtx;
use super::value::parse_int;
use crate::spec::{Action, ActionKind, Spanned};
use crate::yaml::{self, Cx, Node, Schema};

const MATCH_ACTIONS: Schema = Schema {
    path: "matchActions",
    known: &["action", "argError", "argSig"],
    unsupported: &[
        "argFd",
        "argName",
        "argUrl",
        "argFqdn",
        "argSock",
        "argValue",
        "argIndex",
        "rateLimit",
        "rateLimitScope",
        "userStackTrace",
        "kernelStackTrace",
        "imaHash",
    ],
    ignored: &[],
};

/// Actions Tetragon has and veto does not (compared case-insensitively, as
/// Tetragon reads action names).
const ACTIONS_UNSUPPORTED: &[&str] = &[
    "FollowFD",
    "UnfollowFD",
    "CopyFD",
    "GetUrl",
    "DnsLookup",
    "TrackSock",
    "UntrackSock",
    "NotifyKiller",
    "Set",
    "CleanupEnforcerNotification",
];

/// Highest signal number (SIGRTMAX on Linux).
const MAX_SIGNAL: i128 = 64;

/// Reads an integer action argument (`argError`, `argSig`).
fn int_arg(cx: &mut Cx, node: &Node<'_>, what: &str, lo: i128, hi: i128) -> Option<Spanned<i32>> {
    let s = cx.str(node, what)?;
    match parse_int(&s.value) {
        Some(n) if (lo..=hi).contains(&n) => Some(Spanned::new(n as i32, s.span)),
        Some(n) => {
            cx.err(s.span, format!("{what} {n} is out of range ({lo} to {hi})"));
            None
        }
        None => {
            cx.err(s.span, format!("{what} \"{}\" is not a number", s.value));
            None
        }
    }
}

pub(crate) fn action(cx: &mut Cx, node: &Node<'_>, ctx: &HookCtx<'_>) -> Option<Action> {
    let f = cx.map(node, &MATCH_ACTIONS)?;
    let before = cx.error_count();
    let name = cx
        .required(&f, "action", "matchActions")
        .and_then(|n| cx.str(n, "matchActions.action"));
    let err_node = f.get("argError");
    let sig_node = f.get("argSig");
    let error =
        err_node.and_then(|n| int_arg(cx, n, "argError", i32::MIN as i128, i32::MAX as i128));
    let sig = sig_node.and_then(|n| int_arg(cx, n, "argSig", 1, MAX_SIGNAL));
    let name = name?;
    // Tetragon reads action names case-insensitively; so does veto.
    let canonical = [
        "Post",
        "NoPost",
        "Sigkill",
        "Signal",
        "Override",
        "NotifyEnforcer",
    ]
    .into_iter()
    .find(|a| a.eq_ignore_ascii_case(&name.value));
    let Some(canonical) = canonical else {
        if let Some(a) = ACTIONS_UNSUPPORTED
            .iter()
            .find(|a| a.eq_ignore_ascii_case(&name.value))
        {
            cx.err(name.span, format!("action \"{a}\" is not supported"));
        } else {
            cx.err(
                name.span,
                format!(
                    "unknown action \"{}\" (use Post, NoPost, Sigkill, Signal, Override or NotifyEnforcer)",
                    name.value
                ),
            );
        }
        return None;
    };
    let at = |n: Option<&Node<'_>>| n.map(yaml::span).unwrap_or(f.span);
    let unused = |cx: &mut Cx, n: Option<&Node<'_>>, field: &str| {
        if n.is_some() {
            cx.err(
                at(n),
                format!("{field} has no effect on action {canonical}"),
            );
        }
    };
    let kind = match canonical {
        "Post" | "NoPost" | "Sigkill" => {
            unused(cx, err_node, "argError");
            unused(cx, sig_node, "argSig");
            match canonical {
                "Post" => ActionKind::Post,
                "NoPost" => ActionKind::NoPost,
                _ => ActionKind::Sigkill,
            }
        }
        "Signal" => {
            unused(cx, err_node, "argError");
            if sig_node.is_none() {
                cx.err(name.span, "Signal needs argSig (the signal number)");
            }
            ActionKind::Signal {
                sig: sig.map(|s| s.value).unwrap_or(0),
            }
        }
        "Override" => {
            unused(cx, sig_node, "argSig");
            if err_node.is_none() {
                cx.err(
                    name.span,
                    "Override needs argError (the value the call returns)",
                );
            }
            if ctx.is_tracepoint {
                cx.err(
                    name.span,
                    "Override is not possible at a tracepoint: a tracepoint cannot change a call's return value",
                );
            }
            ActionKind::Override {
                error: error.map(|e| e.value).unwrap_or(0),
            }
        }
        _ => {
            if err_node.is_none() && sig_node.is_none() {
                cx.err(name.span, "NotifyEnforcer needs argError or argSig");
            }
            if !ctx.has_enforcers {
                cx.err(
                    name.span,
                    "NotifyEnforcer needs a spec.enforcers section naming where the decision is enforced",
                );
            }
            ActionKind::NotifyEnforcer {
                error: error.map(|e| e.value),
                sig: sig.map(|s| s.value),
            }
        }
    };
    (cx.error_count() == before).then_some(Action { span: f.span, kind })
}
