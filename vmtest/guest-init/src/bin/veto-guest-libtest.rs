//! Runs one test of a Rust libtest binary in the guest and turns libtest's answer
//! into the guest protocol: exit 0 for a pass, [`EXIT_UNSUPPORTED`] after one reason
//! line for an ignored or self-skipped test (or one needing a program this guest
//! lacks), exit 1 after a last line with the reason for a failure.
//!
//! Usage: `veto-guest-libtest [--needs PROGRAM]... -- BINARY TEST_NAME`

use std::io::Write;
use std::path::Path;
use std::process::Command;

use veto_guest::libtest::{Verdict, judge};
use veto_guest::protocol::EXIT_UNSUPPORTED;

fn on_path(program: &str) -> bool {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .any(|d| Path::new(d).join(program).is_file())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(split) = args.iter().position(|a| a == "--") else {
        eprintln!("usage: veto-guest-libtest [--needs PROGRAM]... -- BINARY TEST_NAME");
        std::process::exit(2);
    };
    let (opts, rest) = (&args[..split], &args[split + 1..]);
    let [binary, name] = rest else {
        eprintln!("usage: veto-guest-libtest [--needs PROGRAM]... -- BINARY TEST_NAME");
        std::process::exit(2);
    };
    for pair in opts.chunks(2) {
        if let [flag, program] = pair
            && flag == "--needs"
            && !on_path(program)
        {
            println!(
                "needs the program `{program}` at run time, which the guest image does not hold"
            );
            std::process::exit(EXIT_UNSUPPORTED);
        }
    }
    let out = match Command::new(binary)
        .args(["--exact", name, "--test-threads=1", "--nocapture"])
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            println!("FAIL: cannot start {binary}: {e}");
            std::process::exit(1);
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let verdict = judge(name, out.status.code(), &stdout, &stderr);
    let mut o = std::io::stdout().lock();
    let code = match &verdict {
        Verdict::Pass => 0,
        Verdict::Unsupported(why) => {
            let _ = writeln!(o, "{why}");
            EXIT_UNSUPPORTED
        }
        Verdict::Fail(_) => 1,
    };
    let _ = o.write_all(stdout.as_bytes());
    let _ = std::io::stderr().write_all(stderr.as_bytes());
    if let Verdict::Fail(why) = &verdict {
        let _ = writeln!(o, "FAIL: {why}");
    }
    let _ = o.flush();
    std::process::exit(code);
}
