//! `veto policy …`: work with policy files without a kernel.
//!
//! `veto policy check FILE…` validates the files as one set (all valid or the set is
//! refused), prints every error as `FILE:LINE:COL: reason`, and on success prints
//! each hook's plan: where veto attaches it, its selectors and actions, and what it
//! needs from the kernel. Diagnostics go to stderr in both output formats; with
//! `-o json` stdout carries one JSON document with the plans and the diagnostics.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use serde::Serialize;
use veto_policy::plan::{self, HookPlan, PolicyPlan};
use veto_policy::spec::{ArgValues, Hook, Selector};
use veto_policy::{Diagnostic, Policy};

/// Output format of a command (`-o/--output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum OutputFormat {
    /// For people.
    #[default]
    Text,
    /// One JSON document, for scripts.
    Json,
}

/// `veto policy` subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate policy files and print the plan per hook (no root, no kernel).
    ///
    /// Exit status 0 when every file is valid (warnings allowed), 1 otherwise.
    Check {
        /// Policy files, checked as one set (duplicate policy names are an error).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Output format.
        #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Text)]
        output: OutputFormat,
    },
}

/// Runs a `veto policy` subcommand; returns the exit code.
pub fn run(cmd: PolicyCommand) -> anyhow::Result<i32> {
    match cmd {
        PolicyCommand::Check { files, output } => Ok(check(&files, output)),
    }
}

/// The JSON document of `veto policy check -o json`.
#[derive(Serialize)]
struct CheckReport<'a> {
    /// True when every file is valid.
    valid: bool,
    /// One plan per policy (empty when the set is refused).
    policies: Vec<PolicyPlan>,
    /// Errors, in file order then source order.
    errors: &'a [Diagnostic],
    /// Warnings (the set still loads).
    warnings: &'a [Diagnostic],
}

fn check(files: &[PathBuf], output: OutputFormat) -> i32 {
    let (policies, errors, warnings) = match veto_policy::check_files(files) {
        Ok(loaded) => (loaded.policies, Vec::new(), loaded.warnings),
        Err(diags) => (Vec::new(), diags.0, Vec::new()),
    };
    for d in errors.iter().chain(&warnings) {
        eprintln!("{d}");
    }
    let valid = errors.is_empty();
    let plans: Vec<PolicyPlan> = policies.iter().map(plan::plan).collect();
    match output {
        OutputFormat::Text => {
            if valid {
                print!("{}", render_text(&policies, &plans));
            } else {
                eprintln!(
                    "{} error{}; nothing was loaded",
                    errors.len(),
                    if errors.len() == 1 { "" } else { "s" }
                );
            }
        }
        OutputFormat::Json => {
            let report = CheckReport {
                valid,
                policies: plans,
                errors: &errors,
                warnings: &warnings,
            };
            // Serializing plain data into a String cannot fail.
            println!(
                "{}",
                serde_json::to_string_pretty(&report).expect("plan serializes")
            );
        }
    }
    if valid { 0 } else { 1 }
}

/// The readable plan of a valid set.
fn render_text(policies: &[Policy], plans: &[PolicyPlan]) -> String {
    let mut out = String::new();
    for (policy, plan) in policies.iter().zip(plans) {
        let n = plan.hooks.len();
        let _ = writeln!(
            out,
            "{}: policy \"{}\" is valid, {n} hook{}",
            plan.file.display(),
            plan.policy,
            if n == 1 { "" } else { "s" }
        );
        for (hook, hp) in policy.hooks.iter().zip(&plan.hooks) {
            render_hook(&mut out, hook, hp);
        }
        let needs: Vec<_> = plan.needs().iter().map(|n| n.describe()).collect();
        let _ = writeln!(out, "  policy needs: {}", needs.join(", "));
    }
    out
}

fn render_hook(out: &mut String, hook: &Hook, hp: &HookPlan) {
    let _ = writeln!(
        out,
        "  hook {} (line {}, col {})",
        hp.hook, hp.span.line, hp.span.col
    );
    let _ = writeln!(out, "    attach: {}", hp.attach);
    let _ = writeln!(out, "    why:    {}", hp.reason);
    let needs: Vec<_> = hp.needs.iter().map(|n| n.describe()).collect();
    let _ = writeln!(out, "    needs:  {}", needs.join(", "));
    if hook.selectors.is_empty() {
        let _ = writeln!(out, "    selectors: none: every call matches and is posted");
    }
    for (i, sel) in hook.selectors.iter().enumerate() {
        render_selector(out, hook, i + 1, sel);
    }
    if hp.enforcement.is_empty() {
        let _ = writeln!(out, "    enforcement: none (the hook only reports)");
    }
    for e in &hp.enforcement {
        let _ = writeln!(
            out,
            "    enforcement: {} -> {} at {}",
            e.action, e.effect, e.at
        );
    }
    if let Some(gap) = &hp.compat_gap {
        let _ = writeln!(out, "    compat gap: {gap}");
    }
    for note in &hp.notes {
        let _ = writeln!(out, "    note: {note}");
    }
}

fn quoted(values: impl IntoIterator<Item = String>) -> String {
    values
        .into_iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn render_selector(out: &mut String, hook: &Hook, n: usize, sel: &Selector) {
    let _ = writeln!(out, "    selector {n} (line {}): all of", sel.span.line);
    if let Some(mb) = &sel.match_binaries {
        let _ = writeln!(
            out,
            "      matchBinaries {:?} [{}]{}",
            mb.op,
            quoted(mb.values.iter().map(|v| v.value.clone())),
            if mb.follow_children {
                " followChildren"
            } else {
                ""
            }
        );
    }
    for ma in &sel.match_args {
        let ty = hook.arg(ma.index).map(|a| a.ty.name()).unwrap_or("?");
        let values = match &ma.values {
            ArgValues::Strings(v) => quoted(v.iter().map(|s| s.value.clone())),
            ArgValues::Ints(v) => v
                .iter()
                .map(|i| i.value.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        };
        let _ = writeln!(
            out,
            "      matchArgs arg {} ({ty}) {:?} [{values}]",
            ma.index, ma.op
        );
    }
    for mp in &sel.match_pids {
        let pids: Vec<_> = mp.values.iter().map(|p| p.value.to_string()).collect();
        let _ = writeln!(
            out,
            "      matchPIDs {:?} [{}]{}{}",
            mp.op,
            pids.join(", "),
            if mp.follow_forks { " followForks" } else { "" },
            if mp.is_namespace_pid {
                " isNamespacePID"
            } else {
                ""
            }
        );
    }
    let actions: Vec<String> = if sel.actions.is_empty() {
        vec!["Post (default)".to_string()]
    } else {
        sel.actions
            .iter()
            .map(|a| describe_action(&a.kind))
            .collect()
    };
    let _ = writeln!(out, "      then: {}", actions.join(", "));
}

fn describe_action(a: &veto_policy::spec::ActionKind) -> String {
    use veto_policy::spec::ActionKind::*;
    match *a {
        Signal { sig } => format!("Signal argSig={sig}"),
        Override { error } => format!("Override argError={error}"),
        NotifyEnforcer { error, sig } => {
            let mut s = "NotifyEnforcer".to_string();
            if let Some(e) = error {
                let _ = write!(s, " argError={e}");
            }
            if let Some(g) = sig {
                let _ = write!(s, " argSig={g}");
            }
            s
        }
        _ => a.name().to_string(),
    }
}
