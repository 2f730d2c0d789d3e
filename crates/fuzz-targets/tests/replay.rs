//! Every committed seed and every saved crash, through its target, on every test run:
//! what a fuzzer once found stays fixed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use backchannel_fuzz_targets::TARGETS;

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn every_seed_and_saved_crash_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    for (name, target) in TARGETS {
        let seeds = files(&root.join("seeds").join(name));
        assert!(
            !seeds.is_empty(),
            "fuzz/seeds/{name} is empty: run make-seeds"
        );
        for path in seeds
            .iter()
            .chain(files(&root.join("regressions").join(name)).iter())
        {
            let bytes = std::fs::read(path).unwrap();
            target(&bytes);
        }
    }
}
