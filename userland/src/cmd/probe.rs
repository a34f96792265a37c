//! `veto probe`: the running kernel's capabilities in plain words, for people
//! (`-o text`, one line per capability) or scripts (`-o json`).

use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::probe::{self, Capabilities, NeedStatus};

/// Output formats of `veto probe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProbeOutput {
    /// One line per capability.
    Text,
    /// One JSON object.
    Json,
}

/// Arguments of `veto probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: ProbeOutput,
}

/// The JSON document: every capability, then what policy needs amount to.
#[derive(Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    capabilities: &'a Capabilities,
    policy_needs: Vec<NeedStatus>,
}

/// Runs `veto probe`.
pub fn run(args: ProbeArgs) -> anyhow::Result<i32> {
    let caps = probe::probe();
    match args.output {
        ProbeOutput::Json => {
            let report = Report {
                capabilities: &caps,
                policy_needs: caps.need_statuses(),
            };
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        ProbeOutput::Text => print!("{}", render_text(&caps)),
    }
    Ok(0)
}

/// The text report: capabilities, then a summary of what policies can use.
pub fn render_text(caps: &Capabilities) -> String {
    let lines = caps.lines();
    let needs = caps.need_statuses();
    let width = lines
        .iter()
        .map(|(label, _)| label.len())
        .chain(needs.iter().map(|s| s.describe.len() + 2))
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (label, value) in lines {
        out.push_str(&format!("{label:<width$} {value}\n"));
    }
    out.push_str("\npolicies on this kernel can use:\n");
    for s in needs {
        let value = match (s.kernel, s.implemented, &s.detail) {
            (true, true, _) => "yes".to_owned(),
            (true, false, _) => "no (the kernel has it; veto does not implement it yet)".to_owned(),
            (false, _, Some(d)) => format!("no (kernel lacks it: {d})"),
            (false, _, None) => "no (kernel lacks it)".to_owned(),
        };
        out.push_str(&format!("  {:<w$} {value}\n", s.describe, w = width - 2));
    }
    out
}
