//! Finds the eBPF object to embed in `veto`.
//!
//! `cargo xtask build` builds it to `target/bpf/…/enforcer-ebpf` and passes the path
//! in `VETO_EBPF_OBJECT`. When neither that variable nor the default path names an
//! existing file, the crate still compiles (so `cargo check`, clippy and the other
//! commands work on a machine without the eBPF toolchain) and `veto run` says to
//! run `cargo xtask build`.

use std::path::PathBuf;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(veto_ebpf)");
    println!("cargo::rerun-if-env-changed=VETO_EBPF_OBJECT");
    let path = std::env::var_os("VETO_EBPF_OBJECT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target/bpf/bpfel-unknown-none/release/enforcer-ebpf")
        });
    println!("cargo::rerun-if-changed={}", path.display());
    if path.is_file() {
        println!("cargo::rustc-cfg=veto_ebpf");
        println!("cargo::rustc-env=VETO_EBPF_OBJECT={}", path.display());
    }
}
