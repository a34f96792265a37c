//! The rules of the crate docs, one test (or a few) per rule.

use veto_policy::spec::{
    ActionKind::{self, *},
    ArgOp, ArgType, BinaryOp, PidOp, Policy,
};

use crate::build::{SelectorBuild, arg, kprobe, lsm, policy, selector, tracepoint};
use crate::error::TraceErrorKind;
use crate::report::{CallReport, Outcome};
use crate::simulate;

fn run(policies: &[Policy], lines: &[&str]) -> Vec<CallReport> {
    simulate(policies, &lines.join("\n")).unwrap()
}

fn run_err(policies: &[Policy], lines: &[&str]) -> crate::TraceError {
    simulate(policies, &lines.join("\n")).unwrap_err()
}

const JAVA: &str = r#"{"kind":"exec","pid":100,"ppid":1,"exe":"/usr/bin/java"}"#;

fn execve_call(pid: u32, path: &str) -> String {
    format!(r#"{{"kind":"call","pid":{pid},"hook":"sys_execve","args":["{path}"]}}"#)
}

fn execve_policy(name: &str, sels: Vec<veto_policy::spec::Selector>) -> Policy {
    policy(
        name,
        vec![kprobe("sys_execve", vec![arg(0, ArgType::String)], sels)],
    )
}

fn kill_java() -> Policy {
    execve_policy(
        "kill-java",
        vec![
            selector()
                .binaries(BinaryOp::In, &["/usr/bin/java"], false)
                .actions(&[Sigkill]),
        ],
    )
}

#[test]
fn the_seed_case_kills_java_spawning_a_shell() {
    let r = run(&[kill_java()], &[JAVA, &execve_call(100, "/bin/sh")]);
    assert_eq!(
        r[0].to_json(),
        r#"{"line":2,"pid":100,"hook":"sys_execve","decisions":[{"policy":"kill-java","selector":0,"actions":["Sigkill"]}],"outcome":"sigkill","errno":null,"posted":true}"#
    );
}

#[test]
fn rule1_two_policies_on_one_hook_both_act() {
    let post = execve_policy("post", vec![selector()]);
    let r = run(&[post, kill_java()], &[JAVA, &execve_call(100, "/bin/sh")]);
    assert_eq!(r[0].decisions.len(), 2);
    assert_eq!(r[0].decisions[0].policy, "post");
    assert_eq!(r[0].outcome, Outcome::Sigkill);
}

#[test]
fn rule2_a_call_no_policy_hooks_decides_nothing() {
    let r = run(
        &[kill_java()],
        &[JAVA, r#"{"kind":"call","pid":100,"hook":"sys_openat"}"#],
    );
    assert!(r[0].decisions.is_empty());
    assert_eq!(r[0].outcome, Outcome::Allow);
    assert!(!r[0].posted);
}

#[test]
fn rule2_tracepoints_are_named_subsystem_slash_event() {
    let p = policy(
        "tp",
        vec![tracepoint(
            "syscalls",
            "sys_enter_execve",
            vec![],
            vec![selector().actions(&[Sigkill])],
        )],
    );
    let r = run(
        &[p],
        &[
            JAVA,
            r#"{"kind":"call","pid":100,"hook":"syscalls/sys_enter_execve"}"#,
        ],
    );
    assert_eq!(r[0].outcome, Outcome::Sigkill);
}

#[test]
fn rule3_a_hook_without_selectors_posts_every_call() {
    let p = policy("all", vec![lsm("file_open", vec![], vec![])]);
    let r = run(
        &[p],
        &[JAVA, r#"{"kind":"call","pid":100,"hook":"file_open"}"#],
    );
    assert!(r[0].posted);
    assert_eq!(r[0].decisions[0].selector, None);
    assert_eq!(r[0].decisions[0].actions, vec!["Post"]);
}

#[test]
fn rule4_first_matching_selector_wins() {
    let p = execve_policy(
        "order",
        vec![
            selector()
                .arg_strs(0, ArgOp::Equal, &["/bin/bash"])
                .actions(&[Sigkill]),
            selector()
                .arg_strs(0, ArgOp::Prefix, &["/bin/"])
                .actions(&[Override { error: -1 }]),
            selector().actions(&[Sigkill]),
        ],
    );
    let r = run(&[p], &[JAVA, &execve_call(100, "/bin/sh")]);
    assert_eq!(r[0].decisions[0].selector, Some(1));
    assert_eq!(r[0].outcome, Outcome::Deny);
    assert_eq!(r[0].errno, Some(-1));
}

#[test]
fn rule4_no_selector_matching_means_no_decision_and_no_post() {
    let r = run(
        &[kill_java()],
        &[
            r#"{"kind":"exec","pid":5,"ppid":1,"exe":"/usr/bin/bash"}"#,
            &execve_call(5, "/bin/sh"),
        ],
    );
    assert!(r[0].decisions.is_empty());
    assert!(!r[0].posted);
}

#[test]
fn rule5_filters_in_a_selector_are_anded() {
    let p = execve_policy(
        "and",
        vec![
            selector()
                .binaries(BinaryOp::In, &["/usr/bin/java"], false)
                .arg_strs(0, ArgOp::Equal, &["/bin/sh"])
                .actions(&[Sigkill]),
        ],
    );
    let r = run(
        std::slice::from_ref(&p),
        &[JAVA, &execve_call(100, "/bin/ls")],
    );
    assert_eq!(r[0].outcome, Outcome::Allow);
    let r = run(&[p], &[JAVA, &execve_call(100, "/bin/sh")]);
    assert_eq!(r[0].outcome, Outcome::Sigkill);
}

#[test]
fn rule6_not_equal_is_an_and_of_inequalities() {
    let p = execve_policy(
        "neq",
        vec![
            selector()
                .arg_strs(0, ArgOp::NotEqual, &["/bin/sh", "/bin/bash"])
                .actions(&[Sigkill]),
        ],
    );
    let lines = [
        JAVA,
        r#"{"kind":"fork","pid":101,"ppid":100}"#,
        &execve_call(100, "/bin/sh"),
        &execve_call(100, "/bin/bash"),
        &execve_call(101, "/bin/ls"),
    ];
    let r = run(&[p], &lines);
    let outcomes: Vec<Outcome> = r.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, [Outcome::Allow, Outcome::Allow, Outcome::Sigkill]);
}

#[test]
fn rule8_unresolved_binary_matches_neither_in_nor_not_in() {
    for op in [
        BinaryOp::In,
        BinaryOp::NotIn,
        BinaryOp::Prefix,
        BinaryOp::NotPrefix,
        BinaryOp::Postfix,
        BinaryOp::NotPostfix,
    ] {
        let p = execve_policy(
            "b",
            vec![
                selector()
                    .binaries(op, &["/usr/bin/java"], false)
                    .actions(&[Sigkill]),
            ],
        );
        let r = run(
            &[p],
            &[
                r#"{"kind":"exec","pid":7,"ppid":1,"exe":null}"#,
                &execve_call(7, "/bin/sh"),
            ],
        );
        assert!(
            r[0].decisions.is_empty(),
            "{op:?} matched an unresolved binary"
        );
    }
}

#[test]
fn rule7_the_resolved_exe_is_compared_not_the_exec_argument() {
    // A symlink /usr/bin/java → /usr/lib/jvm/…/java: the trace says the resolved path.
    let r = run(
        &[kill_java()],
        &[
            r#"{"kind":"exec","pid":100,"ppid":1,"exe":"/usr/lib/jvm/java-17/bin/java","args":["/usr/bin/java"]}"#,
            &execve_call(100, "/bin/sh"),
        ],
    );
    assert_eq!(r[0].outcome, Outcome::Allow);
}

#[test]
fn rule9_forked_child_keeps_parent_binary_until_exec() {
    let lines = [
        JAVA,
        r#"{"kind":"fork","pid":101,"ppid":100}"#,
        &execve_call(101, "/bin/sh"),
    ];
    let r = run(&[kill_java()], &lines);
    assert_eq!(r[0].outcome, Outcome::Sigkill);
}

#[test]
fn rule10_prefix_and_postfix_on_binaries() {
    let p = execve_policy(
        "fix",
        vec![
            selector()
                .binaries(BinaryOp::Prefix, &["/usr/lib/jvm/"], false)
                .actions(&[Sigkill]),
            selector()
                .binaries(BinaryOp::NotPostfix, &["/java", "/sshd"], false)
                .actions(&[Override { error: -13 }]),
        ],
    );
    let lines = [
        r#"{"kind":"proc","pid":10,"ppid":1,"exe":"/usr/lib/jvm/x/bin/java"}"#,
        r#"{"kind":"proc","pid":11,"ppid":1,"exe":"/usr/sbin/sshd"}"#,
        r#"{"kind":"proc","pid":12,"ppid":1,"exe":"/usr/bin/dash"}"#,
        &execve_call(10, "/x"),
        &execve_call(11, "/x"),
        &execve_call(12, "/x"),
    ];
    let r = run(&[p], &lines);
    let outcomes: Vec<Outcome> = r.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, [Outcome::Sigkill, Outcome::Allow, Outcome::Deny]);
    assert_eq!(r[2].errno, Some(-13));
}

fn follow(op: BinaryOp) -> Policy {
    execve_policy(
        "follow",
        vec![
            selector()
                .binaries(op, &["/usr/bin/java"], true)
                .actions(&[Sigkill]),
        ],
    )
}

#[test]
fn rule11_follow_children_in_extends_to_descendants_after_exec() {
    let lines = [
        JAVA,
        r#"{"kind":"exec","pid":101,"ppid":100,"exe":"/usr/bin/dash"}"#,
        r#"{"kind":"exec","pid":102,"ppid":101,"exe":"/usr/bin/curl"}"#,
        &execve_call(102, "/bin/sh"),
    ];
    let r = run(&[follow(BinaryOp::In)], &lines);
    assert_eq!(r[0].outcome, Outcome::Sigkill);
    let r = run(&[kill_java()], &lines);
    assert_eq!(
        r[0].outcome,
        Outcome::Allow,
        "without followChildren the grandchild is free"
    );
}

#[test]
fn rule11_follow_children_not_in_excludes_descendants() {
    let lines = [
        JAVA,
        r#"{"kind":"exec","pid":101,"ppid":100,"exe":"/usr/bin/dash"}"#,
        r#"{"kind":"proc","pid":50,"ppid":1,"exe":"/usr/sbin/sshd"}"#,
        &execve_call(101, "/bin/sh"),
        &execve_call(50, "/bin/sh"),
    ];
    let r = run(&[follow(BinaryOp::NotIn)], &lines);
    assert_eq!(r[0].outcome, Outcome::Allow);
    assert_eq!(r[1].outcome, Outcome::Sigkill);
}

#[test]
fn rule11_marks_do_not_flow_upwards_or_sideways() {
    let lines = [
        r#"{"kind":"proc","pid":10,"ppid":1,"exe":"/usr/bin/bash"}"#,
        r#"{"kind":"exec","pid":11,"ppid":10,"exe":"/usr/bin/java"}"#,
        r#"{"kind":"exec","pid":12,"ppid":10,"exe":"/usr/bin/dash"}"#,
        &execve_call(10, "/x"),
        &execve_call(12, "/x"),
    ];
    let r = run(&[follow(BinaryOp::In)], &lines);
    assert!(r.iter().all(|r| r.outcome == Outcome::Allow));
}

#[test]
fn rule11_proc_lines_inherit_marks_from_earlier_parents() {
    let lines = [
        r#"{"kind":"proc","pid":10,"ppid":1,"exe":"/usr/bin/java"}"#,
        r#"{"kind":"proc","pid":11,"ppid":10,"exe":"/usr/bin/dash"}"#,
        &execve_call(11, "/x"),
    ];
    let r = run(&[follow(BinaryOp::In)], &lines);
    assert_eq!(r[0].outcome, Outcome::Sigkill);
}

fn int_policy(op: ArgOp, values: &[i128]) -> Policy {
    policy(
        "ints",
        vec![kprobe(
            "sys_kill",
            vec![arg(1, ArgType::Int)],
            vec![
                selector()
                    .arg_ints(1, op, values)
                    .actions(&[Signal { sig: 10 }]),
            ],
        )],
    )
}

fn int_outcome(op: ArgOp, values: &[i128], v: i128) -> Outcome {
    let call = format!(r#"{{"kind":"call","pid":100,"hook":"sys_kill","args":{{"1":{v}}}}}"#);
    run(&[int_policy(op, values)], &[JAVA, &call])[0].outcome
}

#[test]
fn rule14_integer_operators() {
    use Outcome::{Allow, Signal};
    assert_eq!(int_outcome(ArgOp::Equal, &[9, 15], 15), Signal);
    assert_eq!(int_outcome(ArgOp::NotEqual, &[9, 15], 15), Allow);
    assert_eq!(int_outcome(ArgOp::GreaterThan, &[10, 3], 5), Signal);
    assert_eq!(int_outcome(ArgOp::GreaterThan, &[10], 10), Allow);
    assert_eq!(int_outcome(ArgOp::LessThan, &[0], -1), Signal);
    assert_eq!(int_outcome(ArgOp::LessThan, &[0], 0), Allow);
    assert_eq!(int_outcome(ArgOp::Mask, &[0x4, 0x10], 0x14), Signal);
    assert_eq!(int_outcome(ArgOp::Mask, &[0x4], 0x3), Allow);
    assert_eq!(int_outcome(ArgOp::Mask, &[i32::MIN as i128], -1), Signal);
}

#[test]
fn rule12_missing_argument_is_a_bad_line() {
    let e = run_err(
        &[int_policy(ArgOp::Equal, &[1])],
        &[
            JAVA,
            r#"{"kind":"call","pid":100,"hook":"sys_kill","args":[1]}"#,
        ],
    );
    assert_eq!(e.line, 2);
    assert!(
        matches!(e.kind, TraceErrorKind::MissingArg { index: 1, .. }),
        "{e}"
    );
}

#[test]
fn rule12_wrong_type_or_range_is_a_bad_line() {
    for args in [r#"{"1":"nine"}"#, r#"{"1":4294967296}"#] {
        let call = format!(r#"{{"kind":"call","pid":100,"hook":"sys_kill","args":{args}}}"#);
        let e = run_err(&[int_policy(ArgOp::Equal, &[1])], &[JAVA, &call]);
        assert!(matches!(e.kind, TraceErrorKind::ArgType { .. }), "{e}");
    }
}

fn pid_policy(op: PidOp, values: &[u32], follow: bool, ns: bool) -> Policy {
    execve_policy(
        "pids",
        vec![selector().pids(op, values, follow, ns).actions(&[Sigkill])],
    )
}

#[test]
fn rule16_match_pids_without_follow_forks() {
    let lines = [
        JAVA,
        r#"{"kind":"fork","pid":101,"ppid":100}"#,
        &execve_call(101, "/x"),
        &execve_call(100, "/x"),
    ];
    let r = run(&[pid_policy(PidOp::In, &[100], false, false)], &lines);
    assert_eq!(r[0].outcome, Outcome::Allow);
    assert_eq!(r[1].outcome, Outcome::Sigkill);
    let r = run(&[pid_policy(PidOp::NotIn, &[100], false, false)], &lines);
    assert_eq!(r[0].outcome, Outcome::Sigkill);
}

#[test]
fn rule17_follow_forks_reaches_descendants() {
    let lines = [
        JAVA,
        r#"{"kind":"fork","pid":101,"ppid":100}"#,
        r#"{"kind":"exec","pid":102,"ppid":101,"exe":"/usr/bin/dash"}"#,
        r#"{"kind":"exit","pid":101}"#,
        &execve_call(102, "/x"),
    ];
    let r = run(&[pid_policy(PidOp::In, &[100], true, false)], &lines);
    assert_eq!(
        r[0].outcome,
        Outcome::Sigkill,
        "an exited parent still anchors ancestry"
    );
    let r = run(&[pid_policy(PidOp::NotIn, &[100], true, false)], &lines);
    assert_eq!(r[0].outcome, Outcome::Allow);
}

#[test]
fn rule17_follow_forks_compares_the_oldest_known_parent_pid() {
    // pid 100's parent, 1, was never introduced; Tetragon compares it all the same.
    let r = run(
        &[pid_policy(PidOp::In, &[1], true, false)],
        &[JAVA, &execve_call(100, "/x")],
    );
    assert_eq!(r[0].outcome, Outcome::Sigkill);
}

#[test]
fn rule15_namespace_pid_from_call_process_or_pid() {
    let lines = [
        r#"{"kind":"exec","pid":4000,"ppid":1,"exe":"/usr/bin/java","nspid":1}"#,
        r#"{"kind":"call","pid":4000,"hook":"sys_execve","args":["/x"],"nspid":7}"#,
        &execve_call(4000, "/x"),
    ];
    let r = run(&[pid_policy(PidOp::In, &[1], false, true)], &lines);
    assert_eq!(r[0].outcome, Outcome::Allow, "the call's nspid wins");
    assert_eq!(r[1].outcome, Outcome::Sigkill, "else the process's");
    let lines = [
        r#"{"kind":"exec","pid":4000,"ppid":1,"exe":"/usr/bin/java"}"#,
        r#"{"kind":"call","pid":4000,"hook":"sys_execve","args":["/x"],"nspid":7}"#,
    ];
    let r = run(&[pid_policy(PidOp::In, &[7], false, true)], &lines);
    assert_eq!(r[0].outcome, Outcome::Sigkill);
}

#[test]
fn rule18_nopost_suppresses_the_event_sigkill_alone_posts() {
    let p = execve_policy("q", vec![selector().actions(&[Sigkill, NoPost])]);
    let r = run(&[p], &[JAVA, &execve_call(100, "/x")]);
    assert!(!r[0].posted);
    let r = run(&[kill_java()], &[JAVA, &execve_call(100, "/x")]);
    assert!(r[0].posted);
}

#[test]
fn rule18_posted_if_any_policy_posts() {
    let quiet = execve_policy("quiet", vec![selector().actions(&[NoPost])]);
    let loud = execve_policy("loud", vec![selector()]);
    let r = run(&[quiet, loud], &[JAVA, &execve_call(100, "/x")]);
    assert!(r[0].posted);
}

fn outcome_of(actions: &[ActionKind]) -> (Outcome, Option<i32>) {
    let p = execve_policy("a", vec![selector().actions(actions)]);
    let r = run(&[p], &[JAVA, &execve_call(100, "/x")]);
    (r[0].outcome, r[0].errno)
}

#[test]
fn rules19_to_21_actions_to_outcomes() {
    assert_eq!(outcome_of(&[Signal { sig: 9 }]), (Outcome::Sigkill, None));
    assert_eq!(outcome_of(&[Signal { sig: 15 }]), (Outcome::Signal, None));
    assert_eq!(
        outcome_of(&[Override { error: -1 }]),
        (Outcome::Deny, Some(-1))
    );
    assert_eq!(
        outcome_of(&[NotifyEnforcer {
            error: Some(-1),
            sig: None
        }]),
        (Outcome::Deny, Some(-1))
    );
    assert_eq!(
        outcome_of(&[NotifyEnforcer {
            error: None,
            sig: Some(9)
        }]),
        (Outcome::Sigkill, None)
    );
    assert_eq!(
        outcome_of(&[NotifyEnforcer {
            error: None,
            sig: None
        }]),
        (Outcome::Allow, None)
    );
    assert_eq!(
        outcome_of(&[Override { error: -13 }, Sigkill]),
        (Outcome::Sigkill, Some(-13))
    );
}

#[test]
fn rule22_strongest_effect_and_first_denying_policy_errno() {
    let a = execve_policy("a", vec![selector().actions(&[Signal { sig: 10 }])]);
    let b = execve_policy("b", vec![selector().actions(&[Override { error: -2 }])]);
    let c = execve_policy("c", vec![selector().actions(&[Override { error: -1 }])]);
    let r = run(&[a, b, c], &[JAVA, &execve_call(100, "/x")]);
    assert_eq!(r[0].outcome, Outcome::Deny);
    assert_eq!(r[0].errno, Some(-2));
}

#[test]
fn rule23_a_killed_process_is_gone() {
    let e = run_err(
        &[kill_java()],
        &[
            JAVA,
            &execve_call(100, "/bin/sh"),
            r#"{"kind":"exit","pid":100}"#,
        ],
    );
    assert_eq!(e.line, 3);
    assert_eq!(e.kind, TraceErrorKind::Killed { pid: 100, at: 2 });
    let e = run_err(
        &[kill_java()],
        &[
            JAVA,
            &execve_call(100, "/bin/sh"),
            r#"{"kind":"fork","pid":7,"ppid":100}"#,
        ],
    );
    assert_eq!(e.kind, TraceErrorKind::Killed { pid: 100, at: 2 });
}

#[test]
fn rule23_children_of_a_killed_process_live_on() {
    let r = run(
        &[kill_java()],
        &[
            JAVA,
            r#"{"kind":"exec","pid":101,"ppid":100,"exe":"/usr/bin/dash"}"#,
            &execve_call(100, "/bin/sh"),
            &execve_call(101, "/bin/ls"),
        ],
    );
    assert_eq!(r[1].outcome, Outcome::Allow);
}

#[test]
fn rule24_call_from_an_unknown_pid_is_a_bad_line() {
    let e = run_err(&[], &["", &execve_call(9, "/x")]);
    assert_eq!(e.line, 2, "blank lines are counted");
    assert_eq!(e.kind, TraceErrorKind::UnknownPid(9));
}

#[test]
fn rule24_pid_introduced_twice_is_a_bad_line() {
    let e = run_err(
        &[],
        &[JAVA, r#"{"kind":"proc","pid":100,"ppid":1,"exe":"/x"}"#],
    );
    assert_eq!(e.kind, TraceErrorKind::PidInUse(100));
}

#[test]
fn exec_of_a_live_pid_with_another_parent_is_a_bad_line() {
    let e = run_err(
        &[],
        &[JAVA, r#"{"kind":"exec","pid":100,"ppid":2,"exe":"/x"}"#],
    );
    assert!(matches!(e.kind, TraceErrorKind::ParentMismatch { .. }));
}
