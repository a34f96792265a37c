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
