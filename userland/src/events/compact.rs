//! Tetragon-style one-line output, with the action and policy on the line.

use super::{ArgValue, Event};

fn cmd(binary: &str, args: &str) -> String {
    if args.is_empty() {
        binary.to_string()
    } else {
        format!("{binary} {args}")
    }
}

/// One event as a compact line.
pub fn line(ev: &Event, node: &str) -> String {
    match ev {
        Event::Exec { process: p, .. } => {
            format!("🚀 process {node} {}", cmd(&p.binary, &p.arguments))
        }
        Event::Exit {
            process: p, status, ..
        } => {
            let how = status
                .signal_name()
                .unwrap_or_else(|| status.code.to_string());
            format!("💥 exit    {node} {} {how}", cmd(&p.binary, &p.arguments))
        }
        Event::Hook { report: r, .. } => {
            let icon = match r.action {
                "KPROBE_ACTION_SIGKILL" => "💀",
                "KPROBE_ACTION_SIGNAL" => "📶",
                _ => "🔎",
            };
            let what = r
                .function_name
                .clone()
                .unwrap_or_else(|| format!("{}/{}", r.subsys, r.event));
            let args: Vec<String> = r
                .args
                .iter()
                .map(|(_, _, v)| match v {
                    ArgValue::Str(s) => s.clone(),
                    ArgValue::Int(i) => i.to_string(),
                    ArgValue::Uint(u) => u.to_string(),
                    ArgValue::Unreadable => "<unreadable>".into(),
                })
                .collect();
            let exe = r.process.exe.as_deref().unwrap_or("<unresolved>");
            let action = r.action.trim_start_matches("KPROBE_ACTION_");
            format!(
                "{icon} syscall {node} {exe} {what} {} [{action} by {}]",
                args.join(" "),
                r.policy
            )
        }
    }
}
