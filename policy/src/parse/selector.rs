//! Selectors: `matchBinaries`, `matchArgs`, `matchPIDs`; `matchActions` is in
//! [`super::action`].

use super::value::parse_int;
use crate::spec::{
    Arg, ArgOp, ArgType, ArgValues, BinaryOp, MatchArg, MatchBinaries, MatchPids, PidOp, Selector,
    Spanned, limits,
};
use crate::yaml::{self, Cx, Node, Schema};

/// What a selector's walk needs to know about its hook.
pub(crate) struct HookCtx<'a> {
    /// The hook's declared arguments.
    pub args: &'a [Arg],
    /// Indexes whose declaration was refused (already reported).
    pub refused_args: &'a [u32],
    /// Per entry of `args`: the declared index, or `None` if refused. A tracepoint's
    /// matchArgs index counts these entries (as in Tetragon), not format fields.
    pub positions: &'a [Option<u32>],
    /// Tracepoints cannot change a call's return value.
    pub is_tracepoint: bool,
    /// Whether the policy has `spec.enforcers`.
    pub has_enforcers: bool,
}

const SELECTOR: Schema = Schema {
    path: "selectors",
    known: &["matchPIDs", "matchArgs", "matchActions", "matchBinaries"],
    unsupported: &[
        "matchData",
        "matchReturnArgs",
        "matchReturnActions",
        "matchParentBinaries",
        "matchNamespaces",
        "matchNamespaceChanges",
        "matchCapabilities",
        "matchCapabilityChanges",
    ],
    ignored: &[],
};

const MATCH_BINARIES: Schema = Schema {
    path: "matchBinaries",
    known: &["operator", "values", "followChildren"],
    unsupported: &[],
    ignored: &[],
};

const MATCH_ARGS: Schema = Schema {
    path: "matchArgs",
    known: &["index", "operator", "values"],
    unsupported: &["args"],
    ignored: &[],
};

const MATCH_PIDS: Schema = Schema {
    path: "matchPIDs",
    known: &["operator", "values", "isNamespacePID", "followForks"],
    unsupported: &[],
    ignored: &[],
};

/// matchArgs operators Tetragon has and veto does not.
const ARG_OPS_UNSUPPORTED: &[&str] = &[
    "SPort",
    "NotSPort",
    "SPortPriv",
    "NotSPortPriv",
    "DPort",
    "NotDPort",
    "DPortPriv",
    "NotDPortPriv",
    "SAddr",
    "NotSAddr",
    "DAddr",
    "NotDAddr",
    "Protocol",
    "Family",
    "State",
    "InMap",
    "NotInMap",
    "FileType",
    "NotFileType",
    "CapabilitiesGained",
    "InRange",
    "NotInRange",
    "SubString",
    "SubStringIgnCase",
];

pub(crate) fn selectors(cx: &mut Cx, node: Option<&Node<'_>>, ctx: &HookCtx<'_>) -> Vec<Selector> {
    let Some(node) = node else { return Vec::new() };
    let items = cx.seq(node, "selectors").unwrap_or_default();
    if items.len() > limits::MAX_SELECTORS {
        cx.err(
            yaml::span(&items[limits::MAX_SELECTORS]),
            format!(
                "too many selectors: {}, at most {} per hook",
                items.len(),
                limits::MAX_SELECTORS
            ),
        );
    }
    items.iter().filter_map(|n| selector(cx, n, ctx)).collect()
}

fn selector(cx: &mut Cx, node: &Node<'_>, ctx: &HookCtx<'_>) -> Option<Selector> {
    let f = cx.map(node, &SELECTOR)?;
    let before = cx.error_count();

    let mut match_binaries = None;
    if let Some(n) = f.get("matchBinaries") {
        let items = cx.seq(n, "matchBinaries").unwrap_or_default();
        if items.is_empty() && matches!(yaml::view(n), yaml::View::Seq(_)) {
            cx.err(yaml::span(n), "matchBinaries must not be empty");
        }
        for (i, item) in items.iter().enumerate() {
            if i == 1 {
                cx.err(
                    yaml::span(item),
                    "only one matchBinaries entry per selector (as Tetragon): put the values in one entry, or use another selector",
                );
            }
            let mb = match_binaries_entry(cx, item);
            if i == 0 {
                match_binaries = mb;
            }
        }
    }

    let mut match_args = Vec::new();
    if let Some(n) = f.get("matchArgs") {
        let items = cx.seq(n, "matchArgs").unwrap_or_default();
        if items.len() > limits::MAX_MATCH_ARGS {
            cx.err(
                yaml::span(&items[limits::MAX_MATCH_ARGS]),
                format!(
                    "too many matchArgs: {}, at most {} per selector",
                    items.len(),
                    limits::MAX_MATCH_ARGS
                ),
            );
        }
        match_args = items.iter().filter_map(|i| match_arg(cx, i, ctx)).collect();
    }

    let mut match_pids = Vec::new();
    if let Some(n) = f.get("matchPIDs") {
        let items = cx.seq(n, "matchPIDs").unwrap_or_default();
        match_pids = items
            .iter()
            .filter_map(|i| match_pids_entry(cx, i))
            .collect();
    }

    let mut actions = Vec::new();
    if let Some(n) = f.get("matchActions") {
        let items = cx.seq(n, "matchActions").unwrap_or_default();
        if items.len() > limits::MAX_ACTIONS {
            cx.err(
                yaml::span(&items[limits::MAX_ACTIONS]),
                format!(
                    "too many matchActions: {}, at most {} per selector",
                    items.len(),
                    limits::MAX_ACTIONS
                ),
            );
        }
        actions = items
            .iter()
            .filter_map(|i| super::action::action(cx, i, ctx))
            .collect();
    }

    (cx.error_count() == before).then_some(Selector {
        span: f.span,
        match_binaries,
        match_args,
        match_pids,
        actions,
    })
}

/// Reads `operator`, required.
fn operator(cx: &mut Cx, f: &yaml::Fields<'_, '_>, path: &str) -> Option<Spanned<String>> {
    let n = cx.required(f, "operator", path)?;
    cx.str(n, &format!("{path}.operator"))
}

/// Reads `values` as a non-empty list of strings. An empty list is an error: in
/// Tetragon it is silently ignored, which turns a filter the author wrote into no
/// filter at all.
fn values(cx: &mut Cx, f: &yaml::Fields<'_, '_>, path: &str) -> Option<Vec<Spanned<String>>> {
    let n = cx.required(f, "values", path)?;
    let items = cx.seq(n, &format!("{path}.values"))?;
    if items.is_empty() {
        cx.err(
            yaml::span(n),
            format!("{path}.values is empty: an empty list would match nothing (Tetragon ignores it; veto refuses it)"),
        );
        return None;
    }
    let before = cx.error_count();
    let out: Vec<_> = items
        .iter()
        .filter_map(|i| cx.str(i, &format!("a {path} value")))
        .collect();
    (cx.error_count() == before).then_some(out)
}

fn check_len(cx: &mut Cx, v: &Spanned<String>, max: usize, what: &str) -> bool {
    if v.value.len() > max {
        cx.err(
            v.span,
            format!(
                "value is {} bytes, at most {max} for {what} (over the limit is an error, never a truncation)",
                v.value.len()
            ),
        );
        return false;
    }
    true
}

fn match_binaries_entry(cx: &mut Cx, node: &Node<'_>) -> Option<MatchBinaries> {
    let f = cx.map(node, &MATCH_BINARIES)?;
    let before = cx.error_count();
    let op = operator(cx, &f, "matchBinaries").and_then(|s| {
        let op = match s.value.as_str() {
            "In" => BinaryOp::In,
            "NotIn" => BinaryOp::NotIn,
            "Prefix" => BinaryOp::Prefix,
            "NotPrefix" => BinaryOp::NotPrefix,
            "Postfix" => BinaryOp::Postfix,
            "NotPostfix" => BinaryOp::NotPostfix,
            other => {
                cx.err(
                    s.span,
                    format!(
                        "unknown operator \"{other}\" in matchBinaries (use In, NotIn, Prefix, NotPrefix, Postfix or NotPostfix)"
                    ),
                );
                return None;
            }
        };
        Some((op, s.span))
    });
    let follow_children = f.get("followChildren").and_then(|n| {
        cx.bool(n, "matchBinaries.followChildren")
            .map(|b| (b, yaml::span(n)))
    });
    let values = values(cx, &f, "matchBinaries");
    let (op, _) = op?;
    if let Some((true, span)) = follow_children
        && !matches!(op, BinaryOp::In | BinaryOp::NotIn)
    {
        cx.err(
            span,
            format!("followChildren works only with In and NotIn, not {op:?}"),
        );
    }
    let values = values?;
    for v in &values {
        let postfix = matches!(op, BinaryOp::Postfix | BinaryOp::NotPostfix);
        let max = if postfix {
            limits::MAX_POSTFIX_LEN
        } else {
            limits::MAX_STRING_LEN
        };
        if !check_len(cx, v, max, &format!("matchBinaries {op:?}")) {
            continue;
        }
        if !postfix && !v.value.starts_with('/') {
            cx.err(
                v.span,
                format!(
                    "matchBinaries value \"{}\" is not an absolute path: binaries are matched by their resolved absolute path, so it would match nothing",
                    v.value
                ),
            );
        }
    }
    (cx.error_count() == before).then_some(MatchBinaries {
        span: f.span,
        op,
        values,
        follow_children: follow_children.is_some_and(|(b, _)| b),
    })
}

fn arg_op(cx: &mut Cx, s: &Spanned<String>) -> Option<ArgOp> {
    Some(match s.value.as_str() {
        "Equal" => ArgOp::Equal,
        "NotEqual" => ArgOp::NotEqual,
        "Prefix" => ArgOp::Prefix,
        "NotPrefix" => ArgOp::NotPrefix,
        "Postfix" => ArgOp::Postfix,
        "NotPostfix" => ArgOp::NotPostfix,
        "GT" | "GreaterThan" => ArgOp::GreaterThan,
        "LT" | "LessThan" => ArgOp::LessThan,
        "Mask" => ArgOp::Mask,
        other if ARG_OPS_UNSUPPORTED.contains(&other) => {
            cx.err(s.span, format!("operator \"{other}\" is not supported"));
            return None;
        }
        other => {
            cx.err(
                s.span,
                format!(
                    "unknown operator \"{other}\" in matchArgs (use Equal, NotEqual, Prefix, NotPrefix, Postfix, NotPostfix, GT, LT or Mask)"
                ),
            );
            return None;
        }
    })
}

fn op_applies(op: ArgOp, ty: ArgType) -> bool {
    use ArgOp::*;
    if ty.is_string_like() {
        matches!(
            op,
            Equal | NotEqual | Prefix | NotPrefix | Postfix | NotPostfix
        )
    } else if ty.is_integer() {
        matches!(op, Equal | NotEqual | GreaterThan | LessThan | Mask)
    } else {
        false
    }
}

fn match_arg(cx: &mut Cx, node: &Node<'_>, ctx: &HookCtx<'_>) -> Option<MatchArg> {
    let f = cx.map(node, &MATCH_ARGS)?;
    let before = cx.error_count();
    let index = cx
        .required(&f, "index", "matchArgs")
        .and_then(|n| cx.index(n, "matchArgs.index", u32::MAX));
    let op_s = operator(cx, &f, "matchArgs");
    let op = op_s.as_ref().and_then(|s| arg_op(cx, s));
    let raw = values(cx, &f, "matchArgs");
    let mut index = index?;
    if ctx.is_tracepoint {
        // Translate the position in `args` into that entry's declared index, so that
        // the spec's `Hook::arg(index)` works the same for every kind of hook.
        match ctx.positions.get(index.value as usize) {
            Some(Some(declared)) => index.value = *declared,
            Some(None) => return None,
            None => {
                cx.err(
                    index.span,
                    format!(
                        "matchArgs index {} is not declared in args (at a tracepoint it counts the entries of args from 0; there are {})",
                        index.value,
                        ctx.positions.len()
                    ),
                );
                return None;
            }
        }
    }
    let Some(arg) = ctx.args.iter().find(|a| a.index == index.value) else {
        if ctx.refused_args.contains(&index.value) {
            return None;
        }
        cx.err(
            index.span,
            format!("matchArgs index {} is not declared in args", index.value),
        );
        return None;
    };
    let (op, op_s) = (op?, op_s?);
    if arg.ty == ArgType::Sockaddr {
        cx.err(
            op_s.span,
            format!(
                "operator \"{}\" on a sockaddr argument is not supported",
                op_s.value
            ),
        );
        return None;
    }
    if !op_applies(op, arg.ty) {
        cx.err(
            op_s.span,
            format!(
                "operator \"{}\" does not apply to {} argument {}",
                op_s.value,
                arg.ty.name(),
                arg.index
            ),
        );
        return None;
    }
    let raw = raw?;
    if matches!(op, ArgOp::GreaterThan | ArgOp::LessThan) && raw.len() != 1 {
        cx.err(
            raw[1].span,
            format!("operator \"{}\" takes exactly one value", op_s.value),
        );
    }
    let values = if arg.ty.is_integer() {
        let (lo, hi) = arg.ty.int_range().unwrap_or((i128::MIN, i128::MAX));
        let mut ints = Vec::with_capacity(raw.len());
        for v in raw {
            match parse_int(&v.value) {
                Some(n) if (lo..=hi).contains(&n) => ints.push(Spanned::new(n, v.span)),
                Some(n) => cx.err(
                    v.span,
                    format!(
                        "{n} is out of range for {} argument {} ({lo} to {hi})",
                        arg.ty.name(),
                        arg.index
                    ),
                ),
                None => cx.err(
                    v.span,
                    format!(
                        "\"{}\" is not a number ({} argument {} takes decimal, 0x hex or 0 octal integers)",
                        v.value,
                        arg.ty.name(),
                        arg.index
                    ),
                ),
            }
        }
        ArgValues::Ints(ints)
    } else {
        let max = if matches!(op, ArgOp::Postfix | ArgOp::NotPostfix) {
            limits::MAX_POSTFIX_LEN
        } else {
            limits::MAX_STRING_LEN
        };
        for v in &raw {
            check_len(cx, v, max, &format!("matchArgs {op:?}"));
        }
        ArgValues::Strings(raw)
    };
    (cx.error_count() == before).then_some(MatchArg {
        span: f.span,
        index: index.value,
        op,
        values,
    })
}

fn match_pids_entry(cx: &mut Cx, node: &Node<'_>) -> Option<MatchPids> {
    let f = cx.map(node, &MATCH_PIDS)?;
    let before = cx.error_count();
    let op = operator(cx, &f, "matchPIDs").and_then(|s| match s.value.as_str() {
        "In" => Some(PidOp::In),
        "NotIn" => Some(PidOp::NotIn),
        other => {
            cx.err(
                s.span,
                format!("unknown operator \"{other}\" in matchPIDs (use In or NotIn)"),
            );
            None
        }
    });
    let follow_forks = f
        .get("followForks")
        .and_then(|n| cx.bool(n, "matchPIDs.followForks"))
        .unwrap_or(false);
    let is_namespace_pid = f
        .get("isNamespacePID")
        .and_then(|n| cx.bool(n, "matchPIDs.isNamespacePID"))
        .unwrap_or(false);
    let raw = values(cx, &f, "matchPIDs");
    let mut values = Vec::new();
    for v in raw.unwrap_or_default() {
        match parse_int(&v.value) {
            Some(n) if (0..=u32::MAX as i128).contains(&n) => {
                values.push(Spanned::new(n as u32, v.span))
            }
            _ => cx.err(
                v.span,
                format!("\"{}\" is not a pid (0 to {})", v.value, u32::MAX),
            ),
        }
    }
    (cx.error_count() == before).then_some(MatchPids {
        span: f.span,
        op: op?,
        values,
        follow_forks,
        is_namespace_pid,
    })
}
