//! The walk's rules, one fact per test, on small inline policies.

use crate::spec::{ActionKind, ArgOp, ArgValues, BinaryOp, HookPoint, PidOp};

const HEAD: &str =
    "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: t\nspec:\n";

/// Loads `HEAD` + `spec_body` (the body starts on line 6).
fn load(spec_body: &str) -> Result<crate::Policy, Vec<String>> {
    crate::load_str("t.yaml", &format!("{HEAD}{spec_body}")).map_err(|d| {
        d.iter()
            .map(|d| format!("{}:{}: {}", d.line, d.col, d.message))
            .collect()
    })
}

fn errors(spec_body: &str) -> Vec<String> {
    load(spec_body).expect_err("policy must be refused")
}

/// A syscall kprobe on `call` with one selector whose body is `selector`
/// (indented under `    - `), declaring `args`.
fn kprobe(call: &str, args: &str, selector: &str) -> String {
    format!(
        "  kprobes:\n  - call: \"{call}\"\n    syscall: true\n    args:\n{args}    selectors:\n    - {selector}"
    )
}

const STR0: &str = "    - index: 0\n      type: \"string\"\n";
const INT0: &str = "    - index: 0\n      type: \"int\"\n";

#[test]
fn seed_sigkill_policy_reads_exactly() {
    let text = include_str!("../../../testdata/seed-policies/block-log4shell-sigkill.yaml");
    let p = crate::load_str("s.yaml", text).unwrap();
    assert_eq!(p.name.value, "block-log4shell-sigkill");
    assert_eq!((p.name.span.line, p.name.span.col), (4, 9));
    let h = &p.hooks[0];
    assert_eq!(
        h.point,
        HookPoint::Kprobe {
            call: "sys_execve".into(),
            syscall: true
        }
    );
    assert_eq!((h.span.line, h.span.col), (7, 5));
    let s = &h.selectors[0];
    let mb = s.match_binaries.as_ref().unwrap();
    assert_eq!(mb.op, BinaryOp::In);
    assert_eq!(mb.values[0].value, "/usr/bin/java");
    assert_eq!(s.match_args[0].op, ArgOp::Equal);
    assert_eq!(
        s.match_args[0].values,
        ArgValues::Strings(vec![crate::spec::Spanned::new(
            "/bin/sh".into(),
            crate::spec::Span { line: 20, col: 18 }
        )])
    );
    assert_eq!(s.actions[0].kind, ActionKind::Sigkill);
}

#[test]
fn seed_lsm_policy_reads_exactly() {
    let text = include_str!("../../../testdata/seed-policies/block-log4shell-lsm.yaml");
    let p = crate::load_str("l.yaml", text).unwrap();
    assert_eq!(p.enforcers[0].calls[0].value, "security_bprm_check");
    assert_eq!(
        p.hooks[0].point,
        HookPoint::Kprobe {
            call: "security_bprm_check".into(),
            syscall: false
        }
    );
    assert_eq!(
        p.hooks[0].selectors[0].actions[0].kind,
        ActionKind::NotifyEnforcer {
            error: Some(-1),
            sig: None
        }
    );
}

#[test]
fn syscall_defaults_to_true_as_in_tetragon() {
    let p = load("  kprobes:\n  - call: \"sys_dup\"\n").unwrap();
    assert_eq!(
        p.hooks[0].point,
        HookPoint::Kprobe {
            call: "sys_dup".into(),
            syscall: true
        }
    );
}

#[test]
fn list_call_expands_into_one_hook_per_syscall() {
    let p = load(
        "  lists:\n  - name: dups\n    type: syscalls\n    values: [sys_dup, sys_dup2]\n  kprobes:\n  - call: \"list:dups\"\n",
    )
    .unwrap();
    let calls: Vec<_> = p.hooks.iter().map(|h| h.point.trace_name()).collect();
    assert_eq!(calls, ["sys_dup", "sys_dup2"]);
}

#[test]
fn undefined_list_and_unsupported_list_type_are_refused() {
    assert_eq!(
        errors("  kprobes:\n  - call: \"list:nope\"\n"),
        ["7:11: list \"nope\" is not defined in spec.lists"]
    );
    assert_eq!(
        errors(
            "  lists:\n  - name: g\n    type: generated_ftrace\n  kprobes:\n  - call: \"sys_dup\"\n"
        ),
        ["8:11: list type \"generated_ftrace\" is not supported"]
    );
}

#[test]
fn integer_values_follow_the_declared_type() {
    let ok = kprobe(
        "sys_setuid",
        INT0,
        "matchArgs:\n      - index: 0\n        operator: Equal\n        values: [\"0x10\", -1, \"0755\"]\n",
    );
    let p = load(&ok).unwrap();
    assert_eq!(
        p.hooks[0].selectors[0].match_args[0].values.clone(),
        ArgValues::Ints(vec![
            crate::spec::Spanned::new(16, crate::spec::Span { line: 16, col: 18 }),
            crate::spec::Spanned::new(-1, crate::spec::Span { line: 16, col: 26 }),
            crate::spec::Spanned::new(0o755, crate::spec::Span { line: 16, col: 30 }),
        ])
    );
    let uint = kprobe(
        "sys_setuid",
        "    - index: 0\n      type: \"uint32\"\n",
        "matchArgs:\n      - index: 0\n        operator: Equal\n        values: [-1, 4294967296]\n",
    );
    assert_eq!(
        errors(&uint),
        [
            "16:18: -1 is out of range for uint32 argument 0 (0 to 4294967295)",
            "16:22: 4294967296 is out of range for uint32 argument 0 (0 to 4294967295)"
        ]
    );
}

#[test]
fn operators_must_fit_the_argument_type() {
    let t = kprobe(
        "sys_setuid",
        INT0,
        "matchArgs:\n      - index: 0\n        operator: Prefix\n        values: [\"1\"]\n",
    );
    assert_eq!(
        errors(&t),
        ["15:19: operator \"Prefix\" does not apply to int argument 0"]
    );
    let t = kprobe(
        "sys_setuid",
        INT0,
        "matchArgs:\n      - index: 0\n        operator: GT\n        values: [\"1\", \"2\"]\n",
    );
    assert_eq!(
        errors(&t),
        ["16:23: operator \"GT\" takes exactly one value"]
    );
    let t = kprobe(
        "sys_setuid",
        INT0,
        "matchArgs:\n      - index: 0\n        operator: GreaterThan\n        values: [\"1\"]\n",
    );
    assert_eq!(
        load(&t).unwrap().hooks[0].selectors[0].match_args[0].op,
        ArgOp::GreaterThan
    );
}

#[test]
fn postfix_values_are_limited_to_128_bytes() {
    let at = |n: usize| {
        kprobe(
            "sys_execve",
            STR0,
            &format!(
                "matchArgs:\n      - index: 0\n        operator: Postfix\n        values: [\"{}\"]\n",
                "a".repeat(n)
            ),
        )
    };
    assert!(load(&at(128)).is_ok());
    assert_eq!(
        errors(&at(129)),
        [
            "16:18: value is 129 bytes, at most 128 for matchArgs Postfix (over the limit is an error, never a truncation)"
        ]
    );
}

#[test]
fn match_binaries_rules() {
    let one = |body: &str| kprobe("sys_execve", STR0, &format!("matchBinaries:\n{body}"));
    let p = load(&one(
        "      - operator: NotIn\n        followChildren: true\n        values: [\"/usr/bin/bash\"]\n",
    ))
    .unwrap();
    let mb = p.hooks[0].selectors[0].match_binaries.clone().unwrap();
    assert!(mb.follow_children && mb.op == BinaryOp::NotIn);
    assert_eq!(
        errors(&one("      - operator: In\n        values: [\"java\"]\n")),
        [
            "15:18: matchBinaries value \"java\" is not an absolute path: binaries are matched by their resolved absolute path, so it would match nothing"
        ]
    );
    assert!(
        load(&one(
            "      - operator: Postfix\n        values: [\"java\"]\n"
        ))
        .is_ok()
    );
    assert_eq!(
        errors(&one(
            "      - operator: In\n        values: [\"/a\"]\n      - operator: In\n        values: [\"/b\"]\n"
        )),
        [
            "16:9: only one matchBinaries entry per selector (as Tetragon): put the values in one entry, or use another selector"
        ]
    );
}

#[test]
fn match_pids() {
    let t = kprobe(
        "sys_execve",
        STR0,
        "matchPIDs:\n      - operator: NotIn\n        followForks: true\n        isNamespacePID: true\n        values: [1, \"0x10\"]\n",
    );
    let p = load(&t).unwrap();
    let mp = &p.hooks[0].selectors[0].match_pids[0];
    assert_eq!(mp.op, PidOp::NotIn);
    assert!(mp.follow_forks && mp.is_namespace_pid);
    assert_eq!(
        mp.values.iter().map(|v| v.value).collect::<Vec<_>>(),
        [1, 16]
    );
    let t = kprobe(
        "sys_execve",
        STR0,
        "matchPIDs:\n      - operator: In\n        values: [-3]\n",
    );
    assert_eq!(errors(&t), ["15:18: \"-3\" is not a pid (0 to 4294967295)"]);
}

#[test]
fn action_rules() {
    let act = |body: &str| kprobe("sys_execve", STR0, &format!("matchActions:\n{body}"));
    // Tetragon reads action names case-insensitively.
    let p = load(&act("      - action: sigkill\n")).unwrap();
    assert_eq!(p.hooks[0].selectors[0].actions[0].kind, ActionKind::Sigkill);
    assert_eq!(
        errors(&act("      - action: Sigkill\n        argSig: 9\n")),
        ["15:17: argSig has no effect on action Sigkill"]
    );
    assert_eq!(
        errors(&act("      - action: Signal\n        argSig: 65\n")),
        ["15:17: argSig 65 is out of range (1 to 64)"]
    );
    assert_eq!(
        errors(&act("      - action: NotifyEnforcer\n        argSig: 9\n")),
        [
            "14:17: NotifyEnforcer needs a spec.enforcers section naming where the decision is enforced"
        ]
    );
    let tp = "  tracepoints:\n  - subsystem: syscalls\n    event: sys_enter_execve\n    selectors:\n    - matchActions:\n      - action: Override\n        argError: -1\n";
    assert_eq!(
        errors(tp),
        [
            "11:17: Override is not possible at a tracepoint: a tracepoint cannot change a call's return value"
        ]
    );
}

#[test]
fn duplicate_fields_are_refused_even_when_spelled_differently() {
    assert_eq!(
        errors("  kprobes:\n  - call: \"sys_dup\"\n    \"call\": \"sys_dup2\"\n"),
        ["8:5: field \"call\" is given twice in spec.kprobes (first at 7:5)"]
    );
    assert_eq!(
        errors("  kprobes:\n  - call: \"sys_dup\"\n    call: \"sys_dup2\"\n"),
        ["8:5: malformed YAML: duplicated key in mapping"]
    );
}

#[test]
fn document_shape_errors() {
    let e = crate::load_str("e.yaml", "").unwrap_err();
    assert_eq!(
        e.to_string(),
        "e.yaml:1:1: empty file: expected one TracingPolicy document"
    );
    let two = format!("{HEAD}  kprobes:\n  - call: sys_dup\n---\n{HEAD}");
    let e = crate::load_str("two.yaml", &two).unwrap_err();
    assert_eq!(
        e.to_string(),
        "two.yaml:9:1: a second YAML document: veto reads one TracingPolicy per file"
    );
    let e = crate::load_str("tag.yaml", &format!("{HEAD}  kprobes: !custom []\n")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "tag.yaml:6:12: YAML tag !custom is not supported"
    );
}

#[test]
fn unknown_field_suggests_the_right_spelling() {
    assert_eq!(
        errors(&kprobe("sys_execve", STR0, "matchargs: []\n")),
        ["13:7: unknown field \"matchargs\" in selectors (did you mean \"matchArgs\"?)"]
    );
}

#[test]
fn lsmhooks_name_the_hook_without_security_prefix() {
    let p = load("  lsmhooks:\n  - hook: file_open\n    args:\n    - index: 0\n      type: file\n")
        .unwrap();
    assert_eq!(
        p.hooks[0].point,
        HookPoint::Lsm {
            hook: "file_open".into()
        }
    );
    assert_eq!(
        errors("  lsmhooks:\n  - hook: security_bprm_check\n"),
        [
            "7:11: LSM hook \"security_bprm_check\" is not one veto knows (the hook for security_bprm_check is \"bprm_check_security\")"
        ]
    );
}

#[test]
fn enforcer_calls_and_options() {
    let ok = "  options:\n  - name: disable-kprobe-multi\n    value: \"1\"\n  enforcers:\n  - calls: [sys_dup, security_file_open]\n  kprobes:\n  - call: sys_dup\n";
    let p = load(ok).unwrap();
    assert_eq!(p.options[0].name, "disable-kprobe-multi");
    assert_eq!(p.enforcers[0].calls.len(), 2);
    assert_eq!(
        errors(
            "  options:\n  - name: policy-mode\n    value: monitor\n  kprobes:\n  - call: sys_dup\n"
        ),
        ["7:11: option \"policy-mode\" is not supported"]
    );
    assert_eq!(
        errors("  enforcers:\n  - calls: [security_made_up]\n  kprobes:\n  - call: sys_dup\n"),
        ["7:13: enforcer call \"security_made_up\" has no BPF-LSM hook veto knows"]
    );
}

#[test]
fn errors_come_out_in_source_order() {
    let text = "apiVersion: x\nkind: y\nmetadata:\n  name: Bad_Name\nspec:\n  kprobes:\n  - call: sys_nope\n";
    let e = crate::load_str("o.yaml", text).unwrap_err();
    let lines: Vec<_> = e.iter().map(|d| (d.line, d.col)).collect();
    assert_eq!(lines, [(1, 13), (2, 7), (4, 9), (7, 11)]);
}

#[test]
fn arg_declarations() {
    assert_eq!(
        errors(
            "  kprobes:\n  - call: sys_dup\n    args:\n    - index: 0\n      type: int\n    - index: 0\n      type: int\n"
        ),
        ["11:14: argument index 0 is declared twice (first at 9:7)"]
    );
    assert_eq!(
        errors("  kprobes:\n  - call: sys_dup\n    args:\n    - index: 6\n      type: int\n"),
        ["9:14: args.index 6 is out of range (0 to 5)"]
    );
}

#[test]
fn tracepoint_match_args_index_counts_args_entries() {
    let tp = "  tracepoints:\n  - subsystem: syscalls\n    event: sys_enter_openat\n    args:\n    - index: 7\n      type: int\n    - index: 8\n      type: string\n    selectors:\n    - matchArgs:\n      - index: 1\n        operator: Prefix\n        values: [\"/etc/\"]\n";
    let p = load(tp).unwrap();
    let h = &p.hooks[0];
    let ma = &h.selectors[0].match_args[0];
    assert_eq!(ma.index, 8);
    assert_eq!(h.arg(ma.index).unwrap().ty, crate::spec::ArgType::String);
    let bad = tp.replace("      - index: 1\n", "      - index: 2\n");
    assert_eq!(
        errors(&bad),
        [
            "16:16: matchArgs index 2 is not declared in args (at a tracepoint it counts the entries of args from 0; there are 2)"
        ]
    );
}

#[test]
fn missing_top_level_fields_are_named() {
    let e = crate::load_str("m.yaml", "metadata:\n  name: m\n").unwrap_err();
    let msgs: Vec<_> = e.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        msgs,
        [
            "m.yaml:1:1: apiVersion is missing",
            "m.yaml:1:1: kind is missing",
            "m.yaml:1:1: spec is missing"
        ]
    );
}
