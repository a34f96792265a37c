//! The seam for differential testing: anything that can say what a set of
//! policies does over a trace — the kernel enforcer run for real, or the
//! userspace evaluation of the compiled tables in `common` — implements
//! [`Oracle`], and [`compare`] holds it to the simulator, call by call.

use veto_policy::spec::Policy;

use crate::report::{CallReport, Outcome};
use crate::trace::Event;

/// What another implementation observed for one call line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The trace line of the call.
    pub line: usize,
    /// The outcome.
    pub outcome: Outcome,
    /// The call's return value where the caller survived and was denied.
    pub errno: Option<i32>,
    /// Whether an event was posted.
    pub posted: bool,
    /// Per policy (load order), the selector that matched, when the
    /// implementation can tell (`None`: not observable, not compared).
    pub selectors: Option<Vec<(String, Option<usize>)>>,
}

/// Another implementation of the semantics.
pub trait Oracle {
    /// A short name for reports ("kernel", "common-matcher").
    fn name(&self) -> &str;

    /// Runs `policies` over `trace` (its lines in order, numbered from 1) and
    /// returns one observation per call line, or why it could not run.
    fn observe(&mut self, policies: &[Policy], trace: &[Event]) -> Result<Vec<Observed>, String>;
}

/// One disagreement between the simulator and an oracle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disagreement {
    /// The trace line.
    pub line: usize,
    /// What differs, in words.
    pub what: String,
}

/// Compares an oracle's observations with the simulator's reports.
pub fn compare(expected: &[CallReport], observed: &[Observed]) -> Vec<Disagreement> {
    let mut out = Vec::new();
    if expected.len() != observed.len() {
        out.push(Disagreement {
            line: 0,
            what: format!(
                "the simulator decided {} calls, the oracle observed {}",
                expected.len(),
                observed.len()
            ),
        });
    }
    for (e, o) in expected.iter().zip(observed) {
        let mut diff = |what: String| out.push(Disagreement { line: e.line, what });
        if e.line != o.line {
            diff(format!("observation is for line {}", o.line));
            continue;
        }
        if e.outcome != o.outcome {
            diff(format!(
                "outcome: simulator {:?}, oracle {:?}",
                e.outcome, o.outcome
            ));
        }
        // The return value is only observable when the caller survives.
        if e.outcome == Outcome::Deny && e.errno != o.errno {
            diff(format!(
                "errno: simulator {:?}, oracle {:?}",
                e.errno, o.errno
            ));
        }
        if e.posted != o.posted {
            diff(format!(
                "posted: simulator {}, oracle {}",
                e.posted, o.posted
            ));
        }
        if let Some(sel) = &o.selectors {
            let mine: Vec<(String, Option<usize>)> = e
                .decisions
                .iter()
                .map(|d| (d.policy.clone(), d.selector))
                .collect();
            if &mine != sel {
                diff(format!("selectors: simulator {mine:?}, oracle {sel:?}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Decision;

    fn report(outcome: Outcome, errno: Option<i32>) -> CallReport {
        CallReport {
            line: 3,
            pid: 100,
            hook: "sys_execve".into(),
            decisions: vec![Decision {
                policy: "p".into(),
                selector: Some(1),
                actions: vec!["Override"],
            }],
            outcome,
            errno,
            posted: true,
        }
    }

    fn seen(outcome: Outcome, errno: Option<i32>) -> Observed {
        Observed {
            line: 3,
            outcome,
            errno,
            posted: true,
            selectors: None,
        }
    }

    #[test]
    fn agreement_yields_nothing() {
        let e = [report(Outcome::Deny, Some(-1))];
        assert!(compare(&e, &[seen(Outcome::Deny, Some(-1))]).is_empty());
    }

    #[test]
    fn a_different_outcome_is_one_disagreement_on_its_line() {
        let e = [report(Outcome::Sigkill, None)];
        let d = compare(&e, &[seen(Outcome::Allow, None)]);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].line, 3);
    }

    #[test]
    fn errno_is_compared_only_where_the_caller_survives_a_deny() {
        let e = [report(Outcome::Sigkill, Some(-1))];
        assert!(compare(&e, &[seen(Outcome::Sigkill, None)]).is_empty());
        let e = [report(Outcome::Deny, Some(-1))];
        assert_eq!(compare(&e, &[seen(Outcome::Deny, Some(-13))]).len(), 1);
    }

    #[test]
    fn selectors_are_compared_when_observed() {
        let e = [report(Outcome::Deny, Some(-1))];
        let mut o = seen(Outcome::Deny, Some(-1));
        o.selectors = Some(vec![("p".into(), Some(0))]);
        assert_eq!(compare(&e, &[o]).len(), 1);
    }

    #[test]
    fn a_missing_observation_is_reported() {
        let e = [report(Outcome::Deny, Some(-1))];
        assert_eq!(compare(&e, &[]).len(), 1);
    }
}
