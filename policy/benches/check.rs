//! How many policies per second the front end validates: the whole Tetragon example
//! corpus (accepted and rejected files alike, as `veto policy check` sees them) and
//! the two seed policies. Criterion prints the throughput (elements = policies) and
//! writes its JSON estimates under target/criterion/.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            yaml_files(&p, out);
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            out.push(p);
        }
    }
}

fn load(dir: &str) -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(dir);
    let mut files = Vec::new();
    yaml_files(&root, &mut files);
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    for (name, dir) in [("corpus", "tetragon-examples"), ("seeds", "seed-policies")] {
        let files = load(dir);
        let accepted = files
            .iter()
            .filter(|(p, t)| veto_policy::load_str(p, t).is_ok())
            .count();
        println!(
            "{name}: {} policies ({accepted} accepted, {} rejected)",
            files.len(),
            files.len() - accepted
        );
        let mut group = c.benchmark_group("policy_check");
        group.throughput(Throughput::Elements(files.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                for (p, t) in &files {
                    let _ = black_box(veto_policy::load_str(p, black_box(t)));
                }
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
