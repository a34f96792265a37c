//! Guest side of the named scenarios. `veto-guest-scenario NAME [ARGS]` exits 0 only
//! when the expected outcome really happened, 77 (reason on the first line) when the
//! kernel cannot do what the scenario needs, anything else on failure.

mod enforce_exec_sh;

fn main() {
    let mut args = std::env::args().skip(1);
    let code = match args.next().as_deref() {
        Some("enforce-exec-sh") => enforce_exec_sh::run(args.collect()),
        Some(other) => {
            eprintln!("veto-guest-scenario: unknown scenario {other:?}");
            2
        }
        None => {
            eprintln!("usage: veto-guest-scenario NAME [ARGS]");
            2
        }
    };
    std::process::exit(code);
}
