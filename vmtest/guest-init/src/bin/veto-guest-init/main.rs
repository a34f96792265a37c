//! PID 1 of a vmtest guest: set the machine up, run the manifest's tests, report each
//! result on the results serial port, then leave through isa-debug-exit.
//!
//! PID 1 must never return: if it did the kernel would panic, which QEMU reports like a
//! clean poweroff. Every error is therefore reported and the init still reaches
//! [`exit_qemu`]; the host decides what the missing pieces mean.

mod exit;
mod run;
mod setup;

use std::fs;
use std::time::Instant;

use veto_guest::protocol::{Event, MANIFEST_PATH, Manifest};

fn main() {
    let uptime_s = setup::uptime();
    let mount_errors = setup::mount_all();
    let mut out = run::Results::open();
    out.send(&Event::Init {
        uptime_s,
        release: setup::release(),
    });

    let manifest: Manifest = match fs::read(MANIFEST_PATH)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(m) => m,
        Err(e) => {
            // Without a manifest there is nothing to run; the host sees no done marker.
            eprintln!("veto-guest-init: cannot read {MANIFEST_PATH}: {e}");
            exit::exit_qemu(1)
        }
    };

    if let Err(e) = setup::loopback_up() {
        eprintln!("veto-guest-init: loopback: {e}");
    }
    let started = Instant::now();
    for module in &manifest.modules {
        if let Err(error) = setup::load_module(module) {
            out.send(&Event::ModuleError {
                module: module.clone(),
                error,
            });
        }
    }
    let mut mount_errors = mount_errors;
    if manifest.host_root
        && let Err(e) = setup::mount_host_root()
    {
        mount_errors.push(e);
    }
    out.send(&Event::Ready {
        modules_s: started.elapsed().as_secs_f64(),
        mount_errors,
    });

    for test in &manifest.tests {
        eprintln!("veto-guest-init: running {}", test.name);
        let event = run::run_test(test);
        out.send(&event);
    }
    out.send(&Event::Done {
        tests: manifest.tests.len(),
    });
    out.flush();
    exit::exit_qemu(veto_guest::protocol::DONE_EXIT_VALUE)
}
