//! Properties of the semantics that must hold for every policy set and trace.

use std::collections::HashSet;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use veto_policy::spec::{
    ActionKind, ArgOp, ArgType, ArgValues, BinaryOp, PidOp, Policy, Selector, limits,
};
use veto_sim::build::{SelectorBuild, arg, kprobe, policy, selector};
use veto_sim::engine::Verdict;
use veto_sim::generate::{self, BINARIES};
use veto_sim::{CallReport, Simulator, simulate};

fn run(policies: &[Policy], lines: &[String]) -> Vec<CallReport> {
    simulate(policies, &lines.join("\n")).expect("generated traces are valid")
}

fn run_verdicts(policies: &[Policy], lines: &[String]) -> Vec<Verdict> {
    let mut sim = Simulator::new(policies);
    lines
        .iter()
        .filter_map(|l| sim.step_line_verdict(l).unwrap())
        .map(|(_, v)| v)
        .collect()
}

/// Every selector of every hook, mutably.
fn selectors_mut(policies: &mut [Policy]) -> impl Iterator<Item = &mut Selector> {
    policies
        .iter_mut()
        .flat_map(|p| p.hooks.iter_mut())
        .flat_map(|h| h.selectors.iter_mut())
}

fn rotate<T>(v: &mut [T], k: usize) {
    if !v.is_empty() {
        let n = v.len();
        v.rotate_left(k % n);
        v.reverse();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// For a resolved binary, NotIn holds exactly when In does not (with or
    /// without followChildren), and so for NotPrefix and NotPostfix; for an
    /// unresolved one, neither form holds.
    #[test]
    fn negated_binary_operators_are_complements_on_resolved_binaries(
        (pos, neg, values, follow) in prop_oneof![
            (proptest::sample::subsequence(BINARIES, 1..=3), any::<bool>())
                .prop_map(|(v, f)| (BinaryOp::In, BinaryOp::NotIn, v, f)),
            proptest::sample::subsequence(generate::BINARY_PREFIXES, 1..=3)
                .prop_map(|v| (BinaryOp::Prefix, BinaryOp::NotPrefix, v, false)),
            proptest::sample::subsequence(generate::BINARY_POSTFIXES, 1..=3)
                .prop_map(|v| (BinaryOp::Postfix, BinaryOp::NotPostfix, v, false)),
        ],
        ops in generate::ops(),
    ) {
        let mk = |op| policy("b", vec![kprobe("sys_execve", vec![arg(0, ArgType::String)],
            vec![selector().binaries(op, &values, follow)])]);
        let (inp, notin) = (mk(pos), mk(neg));
        let lines = generate::materialise(std::slice::from_ref(&inp), &ops);
        let mut sim_in = Simulator::new(std::slice::from_ref(&inp));
        let mut sim_out = Simulator::new(std::slice::from_ref(&notin));
        for l in &lines {
            let resolved = caller_resolved(&sim_in, l);
            let a = sim_in.step_line(l).unwrap();
            let b = sim_out.step_line(l).unwrap();
            if let (Some(a), Some(b), Some(resolved)) = (a, b, resolved) {
                if a.hook != "sys_execve" { continue; }
                let (in_held, notin_held) = (!a.decisions.is_empty(), !b.decisions.is_empty());
                if resolved {
                    prop_assert!(in_held != notin_held, "line {}: In {in_held} NotIn {notin_held}", a.line);
                } else {
                    prop_assert!(!in_held && !notin_held, "line {}: unresolved matched", a.line);
                }
            }
        }
    }

    /// Equal and NotEqual on the same string values are complements.
    #[test]
    fn not_equal_is_not_equal(
        values in proptest::sample::subsequence(generate::STRING_VALUES, 1..=3),
        ops in generate::ops(),
    ) {
        let mk = |op| policy("a", vec![kprobe("sys_execve", vec![arg(0, ArgType::String)],
            vec![selector().arg_strs(0, op, &values)])]);
        let lines = generate::materialise(&[], &ops);
        let eq = run(&[mk(ArgOp::Equal)], &lines);
        let ne = run(&[mk(ArgOp::NotEqual)], &lines);
        for (a, b) in eq.iter().zip(&ne) {
            if a.hook == "sys_execve" {
                prop_assert!(a.decisions.is_empty() != b.decisions.is_empty(), "line {}", a.line);
            }
        }
    }

    /// matchPIDs NotIn holds exactly when In does not, with or without
    /// followForks and isNamespacePID.
    #[test]
    fn pid_not_in_is_not_in(
        values in proptest::sample::subsequence(generate::PIDS, 1..=3),
        follow in any::<bool>(),
        ns in any::<bool>(),
        ops in generate::ops(),
    ) {
        let mk = |op| policy("p", vec![kprobe("sys_execve", vec![arg(0, ArgType::String)],
            vec![selector().pids(op, &values, follow, ns)])]);
        let lines = generate::materialise(&[], &ops);
        let a = run(&[mk(PidOp::In)], &lines);
        let b = run(&[mk(PidOp::NotIn)], &lines);
        for (a, b) in a.iter().zip(&b) {
            if a.hook == "sys_execve" {
                prop_assert!(a.decisions.is_empty() != b.decisions.is_empty(), "line {}", a.line);
            }
        }
    }

    /// The order of the values in any list never changes a decision.
    #[test]
    fn value_order_never_matters(policies in generate::policies(), ops in generate::ops(), k in 0usize..7) {
        let lines = generate::materialise(&policies, &ops);
        let mut shuffled = policies.clone();
        for s in selectors_mut(&mut shuffled) {
            if let Some(b) = &mut s.match_binaries { rotate(&mut b.values, k); }
            for a in &mut s.match_args {
                match &mut a.values {
                    ArgValues::Strings(v) => rotate(v, k),
                    ArgValues::Ints(v) => rotate(v, k),
                }
            }
            for p in &mut s.match_pids { rotate(&mut p.values, k); }
        }
        prop_assert_eq!(run(&policies, &lines), run(&shuffled, &lines));
    }

    /// A selector that cannot match, inserted anywhere among a hook's
    /// selectors, changes no decision (only the index of the selectors after
    /// it moves up by one).
    #[test]
    fn an_unmatchable_selector_changes_nothing(
        policies in generate::policies(),
        ops in generate::ops(),
        target in any::<(usize, usize, usize)>(),
    ) {
        let lines = generate::materialise(&policies, &ops);
        let pi = target.0 % policies.len();
        let hi = target.1 % policies[pi].hooks.len();
        let hook = &policies[pi].hooks[hi];
        // A hook without selectors matches every call; its first selector
        // would change that, so "adding" means to a hook that has some.
        prop_assume!(!hook.selectors.is_empty() && hook.selectors.len() < limits::MAX_SELECTORS);
        let pos = target.2 % (hook.selectors.len() + 1);
        let mut more = policies.clone();
        more[pi].hooks[hi].selectors.insert(pos, selector()
            .binaries(BinaryOp::In, &["/nowhere/never-run"], true)
            .actions(&[ActionKind::Sigkill, ActionKind::Override { error: -7 }]));
        let before = run_verdicts(&policies, &lines);
        let after = run_verdicts(&more, &lines);
        prop_assert_eq!(before.len(), after.len());
        for (b, a) in before.iter().zip(&after) {
            let mut expected = b.clone();
            for m in &mut expected.matched {
                if (m.policy as usize, m.hook as usize) == (pi, hi)
                    && let Some(s) = &mut m.selector
                    && usize::from(*s) >= pos
                {
                    *s += 1;
                }
            }
            prop_assert_eq!(&expected, a);
        }
    }

    /// A selector's actions apply only when it is the first that matches:
    /// rewriting the actions of every selector that never matched first
    /// changes nothing.
    #[test]
    fn only_the_first_matching_selector_acts(policies in generate::policies(), ops in generate::ops()) {
        let lines = generate::materialise(&policies, &ops);
        let verdicts = run_verdicts(&policies, &lines);
        let used: HashSet<(u32, u32, u8)> = verdicts.iter()
            .flat_map(|v| v.matched.iter())
            .filter_map(|m| m.selector.map(|s| (m.policy, m.hook, s)))
            .collect();
        let mut rewritten = policies.clone();
        for (pi, p) in rewritten.iter_mut().enumerate() {
            for (hi, h) in p.hooks.iter_mut().enumerate() {
                for (si, s) in h.selectors.iter_mut().enumerate() {
                    if !used.contains(&(pi as u32, hi as u32, si as u8)) {
                        *s = s.clone().actions(&[ActionKind::Sigkill, ActionKind::Override { error: -99 }]);
                    }
                }
            }
        }
        prop_assert_eq!(run(&policies, &lines), run(&rewritten, &lines));
    }

    /// Splitting one policy's hooks into two policies changes nothing but the
    /// policy names in the decisions.
    #[test]
    fn splitting_a_policy_changes_nothing(policies in generate::policies(), ops in generate::ops(), cut in any::<(usize, usize)>()) {
        let pi = cut.0 % policies.len();
        prop_assume!(policies[pi].hooks.len() >= 2);
        let k = 1 + cut.1 % (policies[pi].hooks.len() - 1);
        let mut split = policies.clone();
        let tail = split[pi].hooks.split_off(k);
        let name = format!("{}-split", split[pi].name.value);
        split.insert(pi + 1, policy(&name, tail));
        let lines = generate::materialise(&policies, &ops);
        let whole = run(&policies, &lines);
        let mut parts = run(&split, &lines);
        for r in &mut parts {
            for d in &mut r.decisions {
                if let Some(base) = d.policy.strip_suffix("-split") {
                    d.policy = base.to_string();
                }
            }
        }
        prop_assert_eq!(whole, parts);
    }

    /// The simulator is deterministic and its JSON output round-trips the documented fields.
    #[test]
    fn reports_are_deterministic_and_well_formed(policies in generate::policies(), ops in generate::ops()) {
        let lines = generate::materialise(&policies, &ops);
        let a = run(&policies, &lines);
        prop_assert_eq!(&a, &run(&policies, &lines));
        for r in &a {
            let json = r.to_json();
            let mut at = 0;
            for key in ["line", "pid", "hook", "decisions", "outcome", "errno", "posted"] {
                let found = json[at..].find(&format!("\"{key}\":"));
                prop_assert!(found.is_some(), "{key} missing or out of order in {json}");
                at += found.unwrap();
            }
            // A deny always carries its value; a value never comes without a
            // deny, which only a kill can outrank.
            use veto_sim::Outcome::{Deny, Sigkill};
            prop_assert!(r.outcome != Deny || r.errno.is_some(), "line {}", r.line);
            prop_assert!(r.errno.is_none() || matches!(r.outcome, Deny | Sigkill), "line {}", r.line);
        }
    }
}

/// Hooks in the order a policy file lists them: kprobes, tracepoints, lsmhooks.
fn file_order(mut policies: Vec<Policy>) -> Vec<Policy> {
    use veto_policy::spec::HookPoint;
    for p in &mut policies {
        p.hooks.sort_by_key(|h| match h.point {
            HookPoint::Kprobe { .. } => 0,
            HookPoint::Tracepoint { .. } => 1,
            HookPoint::Lsm { .. } => 2,
        });
    }
    policies
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// A generated policy written as YAML and read back by the front end
    /// decides every call as the generated spec does: the generators stay
    /// within what the front end accepts, and the YAML of a failing case
    /// reproduces it.
    #[test]
    fn yaml_round_trip_through_the_front_end_changes_nothing(policies in generate::policies(), ops in generate::ops()) {
        let policies = file_order(policies);
        let mut reread = Vec::new();
        for p in &policies {
            let text = veto_sim::yaml::policy_yaml(p);
            match veto_policy::load_str(format!("{}.yaml", p.name.value), &text) {
                Ok(q) => reread.push(q),
                Err(d) => return Err(TestCaseError::fail(format!("{d}\n{text}"))),
            }
        }
        let lines = generate::materialise(&policies, &ops);
        prop_assert_eq!(run(&policies, &lines), run(&reread, &lines));
    }
}

/// Whether the caller of a call line runs a resolved binary (None: not a call).
fn caller_resolved(sim: &Simulator, line: &str) -> Option<bool> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    if v["kind"] != "call" {
        return None;
    }
    let pid = v["pid"].as_u64()? as u32;
    let r = sim.processes().live(pid).ok()?;
    Some(sim.processes().get(r).exe.is_some())
}
