//! Module ordering on a real Debian kernel whose modules are `.ko.xz` (trixie 6.12
//! cloud, fetched into the cache when missing): dependencies come from each
//! module's `.modinfo`, since the package ships no modules.dep.

use std::path::{Path, PathBuf};

use veto_vmtest::config::Matrix;
use veto_vmtest::fetch::Fetcher;
use veto_vmtest::lock::Lock;
use veto_vmtest::modules::{ModuleIndex, depends, modinfo};

fn modules_dir() -> PathBuf {
    veto_vmtest::host::ensure_host_packages().expect("host packages");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let matrix = Matrix::load(&repo.join("kernels.toml")).unwrap();
    let lock = Lock::load(&repo.join("kernels.lock")).unwrap();
    let k = matrix.kernels.iter().find(|k| k.name == "6.12").unwrap();
    let cache = std::env::var_os("VETO_VMTEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("target/vmtest-cache"));
    let files = Fetcher::new(&cache, ["trixie".to_string()].into(), &|_| {})
        .prepare(k, &lock)
        .unwrap();
    files.modules_dir.expect("6.12 ships modules")
}

#[test]
fn xz_modules_are_decompressed_and_ordered_after_their_dependencies() {
    let index = ModuleIndex::new(&modules_dir()).unwrap();
    let order = index.load_order(&["nf-nat".to_string()]).unwrap();
    let names: Vec<&str> = order.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names.last(), Some(&"nf_nat"), "{names:?}");
    let pos = |n: &str| names.iter().position(|m| *m == n);
    let conntrack = pos("nf_conntrack").expect("nf_nat depends on nf_conntrack");
    assert!(conntrack < names.len() - 1);
    for m in &order {
        // Every module handed to the guest is plain ELF whose own dependencies
        // were placed before it.
        assert_eq!(&m.bytes[..4], b"\x7fELF", "{}", m.name);
        let name = modinfo(&m.bytes)
            .unwrap()
            .into_iter()
            .find(|(k, _)| k == "name");
        assert_eq!(name.map(|(_, v)| v.replace('-', "_")), Some(m.name.clone()));
        for dep in depends(&m.bytes).unwrap() {
            let at = pos(&dep);
            assert!(
                at.is_none_or(|d| d < pos(&m.name).unwrap()),
                "{dep} after {}",
                m.name
            );
        }
    }
}

#[test]
fn an_unknown_module_is_named_with_who_wanted_it() {
    let index = ModuleIndex::new(&modules_dir()).unwrap();
    let e = index
        .load_order(&["no_such_module".to_string()])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("module no_such_module not found under "),
        "{e}"
    );
    assert!(e.ends_with("(needed by kernels.toml)"), "{e}");
}
