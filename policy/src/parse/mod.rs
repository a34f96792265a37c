//! The walk from YAML nodes to [`crate::spec`] types.
//!
//! One walk per file. It never stops at the first problem: each part of the
//! document is checked, every problem is recorded with its position, and a
//! [`Policy`] is produced only when none was found.

mod action;
mod hook;
mod selector;
pub(crate) mod value;

use std::path::Path;

use crate::diag::Diagnostic;
use crate::spec::{Enforcer, List, Policy, PolicyOption, Span, Spanned};
use crate::syscalls;
use crate::yaml::{self, Cx, Node, Schema};

const API_VERSION: &str = "cilium.io/v1alpha1";

const TOP: Schema = Schema {
    path: "policy",
    known: &["apiVersion", "kind", "metadata", "spec"],
    unsupported: &["status"],
    ignored: &[],
};

const METADATA: Schema = Schema {
    path: "metadata",
    known: &["name"],
    unsupported: &["namespace"],
    // Kubernetes bookkeeping: no effect on what a policy hooks or enforces.
    ignored: &["labels", "annotations"],
};

const SPEC: Schema = Schema {
    path: "spec",
    known: &[
        "kprobes",
        "tracepoints",
        "lsmhooks",
        "enforcers",
        "lists",
        "options",
    ],
    unsupported: &[
        "uprobes",
        "usdts",
        "loader",
        "podSelector",
        "containerSelector",
    ],
    ignored: &[],
};

const LIST: Schema = Schema {
    path: "spec.lists",
    known: &["name", "type", "values"],
    unsupported: &["pattern", "validated"],
    ignored: &[],
};

const ENFORCER: Schema = Schema {
    path: "spec.enforcers",
    known: &["calls"],
    unsupported: &[],
    ignored: &[],
};

const OPTION: Schema = Schema {
    path: "spec.options",
    known: &["name", "value"],
    unsupported: &[],
    ignored: &[],
};

/// Options veto accepts. `disable-kprobe-multi` only tunes how Tetragon attaches
/// kprobes; veto never uses multi-kprobes, so the option changes nothing here.
const OPTIONS_ACCEPTED: &[&str] = &["disable-kprobe-multi"];

/// Parses and validates one policy file.
pub(crate) fn policy(file: &Path, text: &str) -> Result<Policy, Vec<Diagnostic>> {
    let docs = yaml::parse(file, text).map_err(|d| vec![d])?;
    let mut cx = Cx::new(file);
    let Some(root) = docs.first() else {
        cx.err(
            Span { line: 1, col: 1 },
            "empty file: expected one TracingPolicy document",
        );
        return Err(cx.diags);
    };
    for extra in &docs[1..] {
        cx.err(
            yaml::span(extra),
            "a second YAML document: veto reads one TracingPolicy per file",
        );
    }
    let policy = document(&mut cx, root);
    finish(cx, policy)
}

/// Turns the walk's result into the public one: any diagnostic means failure, and
/// diagnostics come out in source order.
fn finish(cx: Cx, policy: Option<Policy>) -> Result<Policy, Vec<Diagnostic>> {
    let mut diags = cx.diags;
    if diags.is_empty() {
        // A walk that found nothing wrong always builds a policy.
        return policy.ok_or_else(|| diags.clone());
    }
    diags.sort_by_key(|d| (d.line, d.col));
    diags.dedup();
    Err(diags)
}

fn document(cx: &mut Cx, root: &Node<'_>) -> Option<Policy> {
    let top = cx.map(root, &TOP)?;

    if let Some(v) = cx.required(&top, "apiVersion", "")
        && let Some(s) = cx.str(v, "apiVersion")
        && s.value != API_VERSION
    {
        cx.err(
            s.span,
            format!("apiVersion must be {API_VERSION}, found \"{}\"", s.value),
        );
    }
    if let Some(v) = cx.required(&top, "kind", "")
        && let Some(s) = cx.str(v, "kind")
    {
        match s.value.as_str() {
            "TracingPolicy" => {}
            "TracingPolicyNamespaced" => {
                cx.err(s.span, "kind TracingPolicyNamespaced is not supported")
            }
            other => cx.err(
                s.span,
                format!("kind must be TracingPolicy, found \"{other}\""),
            ),
        }
    }
    let name = match top.get("metadata") {
        Some(m) => metadata(cx, m),
        None => {
            cx.err(top.span, "metadata.name is missing");
            None
        }
    };
    let spec = cx.required(&top, "spec", "");
    let body = spec.and_then(|s| spec_body(cx, s));
    Some(Policy {
        file: cx.file.clone(),
        name: name?,
        hooks: body.as_ref()?.hooks.clone(),
        enforcers: body.as_ref()?.enforcers.clone(),
        lists: body.as_ref()?.lists.clone(),
        options: body?.options,
    })
}

fn metadata(cx: &mut Cx, node: &Node<'_>) -> Option<Spanned<String>> {
    let m = cx.map(node, &METADATA)?;
    let node = cx.required(&m, "name", "metadata")?;
    let name = cx.str(node, "metadata.name")?;
    if !is_object_name(&name.value) {
        cx.err(
            name.span,
            format!(
                "metadata.name \"{}\" is not a valid name: use lower-case letters, digits, '-' and '.', \
                 starting and ending with a letter or digit, at most 253 characters",
                name.value
            ),
        );
        return None;
    }
    Some(name)
}

/// Kubernetes object names (RFC 1123 subdomain), which is what Tetragon accepts.
fn is_object_name(s: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    !s.is_empty()
        && s.len() <= 253
        && s.chars().all(ok_char)
        && edge(s.chars().next())
        && edge(s.chars().last())
}

/// Everything under `spec`.
struct Body {
    hooks: Vec<crate::spec::Hook>,
    enforcers: Vec<Enforcer>,
    lists: Vec<List>,
    options: Vec<PolicyOption>,
}

fn spec_body(cx: &mut Cx, node: &Node<'_>) -> Option<Body> {
    let before = cx.error_count();
    let spec = cx.map(node, &SPEC)?;

    let lists = spec.get("lists").map(|n| lists(cx, n)).unwrap_or_default();
    let enforcers = spec
        .get("enforcers")
        .map(|n| enforcers(cx, n, &lists))
        .unwrap_or_default();
    let options = spec
        .get("options")
        .map(|n| options(cx, n))
        .unwrap_or_default();

    let env = hook::Env {
        lists: &lists,
        has_enforcers: !enforcers.is_empty(),
    };
    let mut hooks = Vec::new();
    if let Some(n) = spec.get("kprobes") {
        hooks.extend(hook::kprobes(cx, n, &env));
    }
    if let Some(n) = spec.get("tracepoints") {
        hooks.extend(hook::tracepoints(cx, n, &env));
    }
    if let Some(n) = spec.get("lsmhooks") {
        hooks.extend(hook::lsmhooks(cx, n, &env));
    }
    if hooks.is_empty() && cx.error_count() == before {
        cx.err(
            spec.span,
            "spec has no hooks: add spec.kprobes, spec.tracepoints or spec.lsmhooks",
        );
    }
    (cx.error_count() == before).then_some(Body {
        hooks,
        enforcers,
        lists,
        options,
    })
}

fn lists(cx: &mut Cx, node: &Node<'_>) -> Vec<List> {
    let mut out: Vec<List> = Vec::new();
    for item in cx.seq(node, "spec.lists").unwrap_or_default() {
        let Some(f) = cx.map(item, &LIST) else {
            continue;
        };
        let name = cx
            .required(&f, "name", "spec.lists")
            .and_then(|n| cx.str(n, "spec.lists.name"));
        let ty = cx
            .required(&f, "type", "spec.lists")
            .and_then(|n| cx.str(n, "spec.lists.type"));
        if let Some(ty) = &ty
            && ty.value != "syscalls"
        {
            cx.err(
                ty.span,
                format!("list type \"{}\" is not supported", ty.value),
            );
        }
        let mut values = Vec::new();
        // Only a syscalls list (the one type veto reads) must carry values here.
        let is_syscalls = ty.as_ref().is_some_and(|t| t.value == "syscalls");
        let values_node = if is_syscalls {
            cx.required(&f, "values", "spec.lists")
        } else {
            f.get("values")
        };
        if let Some(v) = values_node {
            let items = cx.seq(v, "spec.lists.values").unwrap_or_default();
            if items.is_empty() && matches!(yaml::view(v), yaml::View::Seq(_)) {
                cx.err(yaml::span(v), "spec.lists.values must not be empty");
            }
            for item in items {
                let Some(s) = cx.str(item, "a list value") else {
                    continue;
                };
                if ty.as_ref().is_some_and(|t| t.value == "syscalls") {
                    check_syscall(cx, &s);
                }
                values.push(s);
            }
        }
        if let Some(name) = &name
            && let Some(prev) = out.iter().find(|l| l.name == name.value)
        {
            cx.err(
                name.span,
                format!(
                    "list \"{}\" is defined twice (first at {}:{})",
                    name.value, prev.span.line, prev.span.col
                ),
            );
        }
        if let (Some(name), Some(ty)) = (name, ty) {
            out.push(List {
                span: f.span,
                name: name.value,
                ty: ty.value,
                values,
            });
        }
    }
    out
}

/// Checks a syscall name against the built-in table.
pub(crate) fn check_syscall(cx: &mut Cx, s: &Spanned<String>) -> Option<&'static str> {
    match syscalls::resolve(&s.value) {
        Ok(name) => Some(name),
        Err(syscalls::NameError::Unknown) => {
            cx.err(
                s.span,
                format!(
                    "unknown syscall \"{}\": not in the x86-64 syscall table",
                    s.value
                ),
            );
            None
        }
        Err(syscalls::NameError::Compat) => {
            cx.err(
                s.span,
                format!(
                    "32-bit syscall entry \"{}\" is not supported: name the 64-bit syscall",
                    s.value
                ),
            );
            None
        }
    }
}

/// Expands `list:NAME` into the list's values (with the position of the reference).
pub(crate) fn expand_list(
    cx: &mut Cx,
    s: &Spanned<String>,
    lists: &[List],
) -> Option<Vec<Spanned<String>>> {
    let name = s.value.strip_prefix("list:")?;
    match lists.iter().find(|l| l.name == name) {
        Some(l) if l.ty == "syscalls" => Some(
            l.values
                .iter()
                .map(|v| Spanned::new(v.value.clone(), s.span))
                .collect(),
        ),
        // A list of an unsupported type has been reported where it is defined.
        Some(_) => Some(Vec::new()),
        None => {
            cx.err(
                s.span,
                format!("list \"{name}\" is not defined in spec.lists"),
            );
            Some(Vec::new())
        }
    }
}

fn enforcers(cx: &mut Cx, node: &Node<'_>, lists: &[List]) -> Vec<Enforcer> {
    let mut out = Vec::new();
    for item in cx.seq(node, "spec.enforcers").unwrap_or_default() {
        let Some(f) = cx.map(item, &ENFORCER) else {
            continue;
        };
        let Some(calls_node) = cx.required(&f, "calls", "spec.enforcers") else {
            continue;
        };
        let items = cx
            .seq(calls_node, "spec.enforcers.calls")
            .unwrap_or_default();
        if items.is_empty() && matches!(yaml::view(calls_node), yaml::View::Seq(_)) {
            cx.err(
                yaml::span(calls_node),
                "spec.enforcers.calls must not be empty",
            );
        }
        let mut calls = Vec::new();
        for c in items {
            let Some(s) = cx.str(c, "an enforcer call") else {
                continue;
            };
            if let Some(expanded) = expand_list(cx, &s, lists) {
                calls.extend(expanded);
                continue;
            }
            if crate::lsm::hook_for_function(&s.value).is_some() {
                calls.push(s);
            } else if s.value.starts_with("security_") {
                cx.err(
                    s.span,
                    format!(
                        "enforcer call \"{}\" has no BPF-LSM hook veto knows",
                        s.value
                    ),
                );
            } else if check_syscall(cx, &s).is_some() {
                calls.push(s);
            }
        }
        out.push(Enforcer {
            span: f.span,
            calls,
        });
    }
    out
}

fn options(cx: &mut Cx, node: &Node<'_>) -> Vec<PolicyOption> {
    let mut out = Vec::new();
    for item in cx.seq(node, "spec.options").unwrap_or_default() {
        let Some(f) = cx.map(item, &OPTION) else {
            continue;
        };
        let name = cx
            .required(&f, "name", "spec.options")
            .and_then(|n| cx.str(n, "spec.options.name"));
        let value = f
            .get("value")
            .and_then(|n| cx.str(n, "spec.options.value"))
            .map(|s| s.value)
            .unwrap_or_default();
        let Some(name) = name else { continue };
        if !OPTIONS_ACCEPTED.contains(&name.value.as_str()) {
            cx.err(
                name.span,
                format!("option \"{}\" is not supported", name.value),
            );
            continue;
        }
        out.push(PolicyOption {
            span: f.span,
            name: name.value,
            value,
        });
    }
    out
}

#[cfg(test)]
mod tests;
