//! Spec → TracingPolicy YAML, so that a generated case can be written out and
//! reproduced with `veto sim` or `veto run` (the front end reads it back to
//! the same spec; a property test holds it to that).

use std::fmt::Write as _;

use veto_policy::spec::{
    ActionKind, ArgOp, ArgValues, Hook, HookPoint, MatchArg, PidOp, Policy, Selector,
};

/// A double-quoted YAML scalar (JSON string syntax is valid YAML).
fn q(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serialises")
}

/// A section of `spec` and the hooks it holds.
type HookGroup = (&'static str, fn(&HookPoint) -> bool);

/// The policy as a TracingPolicy document.
pub fn policy_yaml(p: &Policy) -> String {
    let mut y = String::new();
    let _ = writeln!(y, "apiVersion: cilium.io/v1alpha1");
    let _ = writeln!(y, "kind: TracingPolicy");
    let _ = writeln!(y, "metadata:\n  name: {}", q(&p.name.value));
    let _ = writeln!(y, "spec:");
    if !p.enforcers.is_empty() {
        let _ = writeln!(y, "  enforcers:");
        for e in &p.enforcers {
            let calls: Vec<String> = e.calls.iter().map(|c| q(&c.value)).collect();
            let _ = writeln!(y, "  - calls: [{}]", calls.join(", "));
        }
    }
    let groups: [HookGroup; 3] = [
        ("kprobes", |h| matches!(h, HookPoint::Kprobe { .. })),
        ("tracepoints", |h| matches!(h, HookPoint::Tracepoint { .. })),
        ("lsmhooks", |h| matches!(h, HookPoint::Lsm { .. })),
    ];
    for (key, is) in groups {
        let hooks: Vec<&Hook> = p.hooks.iter().filter(|h| is(&h.point)).collect();
        if hooks.is_empty() {
            continue;
        }
        let _ = writeln!(y, "  {key}:");
        for h in hooks {
            hook(&mut y, h);
        }
    }
    y
}

fn hook(y: &mut String, h: &Hook) {
    match &h.point {
        HookPoint::Kprobe { call, syscall } => {
            let _ = writeln!(y, "  - call: {}\n    syscall: {syscall}", q(call));
        }
        HookPoint::Tracepoint { subsystem, event } => {
            let _ = writeln!(
                y,
                "  - subsystem: {}\n    event: {}",
                q(subsystem),
                q(event)
            );
        }
        HookPoint::Lsm { hook } => {
            let _ = writeln!(y, "  - hook: {}", q(hook));
        }
    }
    if !h.args.is_empty() {
        let _ = writeln!(y, "    args:");
        for a in &h.args {
            let _ = writeln!(
                y,
                "    - index: {}\n      type: {}",
                a.index,
                q(a.ty.name())
            );
        }
    }
    if !h.selectors.is_empty() {
        let _ = writeln!(y, "    selectors:");
        for s in &h.selectors {
            selector(y, h, s);
        }
    }
}

fn selector(y: &mut String, h: &Hook, s: &Selector) {
    // Every key of a selector mapping but the first is indented under "- ".
    let mut first = true;
    let mut key = |y: &mut String, k: &str| {
        let lead = if first { "    - " } else { "      " };
        first = false;
        let _ = writeln!(y, "{lead}{k}:");
    };
    if let Some(b) = &s.match_binaries {
        key(y, "matchBinaries");
        let _ = writeln!(y, "      - operator: {}", q(&format!("{:?}", b.op)));
        let _ = writeln!(y, "        values:");
        for v in &b.values {
            let _ = writeln!(y, "        - {}", q(&v.value));
        }
        if b.follow_children {
            let _ = writeln!(y, "        followChildren: true");
        }
    }
    if !s.match_args.is_empty() {
        key(y, "matchArgs");
        for m in &s.match_args {
            match_arg(y, h, m);
        }
    }
    if !s.match_pids.is_empty() {
        key(y, "matchPIDs");
        for m in &s.match_pids {
            let op = match m.op {
                PidOp::In => "In",
                PidOp::NotIn => "NotIn",
            };
            let values: Vec<String> = m.values.iter().map(|v| v.value.to_string()).collect();
            let _ = writeln!(y, "      - operator: {}", q(op));
            let _ = writeln!(y, "        followForks: {}", m.follow_forks);
            let _ = writeln!(y, "        isNamespacePID: {}", m.is_namespace_pid);
            let _ = writeln!(y, "        values: [{}]", values.join(", "));
        }
    }
    if !s.actions.is_empty() {
        key(y, "matchActions");
        for a in &s.actions {
            let _ = writeln!(y, "      - action: {}", q(a.kind.name()));
            match a.kind {
                ActionKind::Signal { sig } => {
                    let _ = writeln!(y, "        argSig: {sig}");
                }
                ActionKind::Override { error } => {
                    let _ = writeln!(y, "        argError: {error}");
                }
                ActionKind::NotifyEnforcer { error, sig } => {
                    if let Some(e) = error {
                        let _ = writeln!(y, "        argError: {e}");
                    }
                    if let Some(s) = sig {
                        let _ = writeln!(y, "        argSig: {s}");
                    }
                }
                _ => {}
            }
        }
    }
    if first {
        // A selector without filters or actions: an empty mapping.
        let _ = writeln!(y, "    - {{}}");
    }
}

fn match_arg(y: &mut String, h: &Hook, m: &MatchArg) {
    // At a tracepoint the policy's matchArgs index counts the entries of
    // `args` (Tetragon's reading); the spec holds the entry's own index.
    let index = match h.point {
        HookPoint::Tracepoint { .. } => h
            .args
            .iter()
            .position(|a| a.index == m.index)
            .map_or(m.index, |p| p as u32),
        _ => m.index,
    };
    let op = match m.op {
        ArgOp::GreaterThan => "GT".to_string(),
        ArgOp::LessThan => "LT".to_string(),
        other => format!("{other:?}"),
    };
    let _ = writeln!(y, "      - index: {index}\n        operator: {}", q(&op));
    let _ = writeln!(y, "        values:");
    match &m.values {
        ArgValues::Strings(v) => {
            for s in v {
                let _ = writeln!(y, "        - {}", q(&s.value));
            }
        }
        ArgValues::Ints(v) => {
            for i in v {
                let _ = writeln!(y, "        - {}", i.value);
            }
        }
    }
}
