// Tidy: the mechanical part of STYLE — module docs, file length, no stray debugging or ignores.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn files(sub: &str) -> Vec<PathBuf> {
    let mut v = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join(sub), &mut v);
    assert!(
        !v.is_empty(),
        "no files under {sub}: the checks would pass vacuously"
    );
    v
}

#[test]
fn every_source_file_starts_with_a_module_doc() {
    for f in files("src").into_iter().chain(files("bench")) {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            text.starts_with("//!"),
            "{} must start with a //! doc line",
            f.display()
        );
    }
}

#[test]
fn source_files_stay_small() {
    for f in files("src") {
        let n = std::fs::read_to_string(&f).unwrap().lines().count();
        assert!(
            n <= 1200,
            "{} has {n} lines (split it along an existing seam)",
            f.display()
        );
    }
}

#[test]
fn no_debug_leftovers_or_ignored_tests() {
    let needles = [
        ["dbg", "!("].concat(),
        ["#[", "ignore]"].concat(),
        ["#[", "should_panic"].concat(),
        ["TO", "DO"].concat(),
        ["todo", "!("].concat(),
        ["unimplemented", "!("].concat(),
    ];
    for f in files("src").into_iter().chain(files("tests")) {
        let text = std::fs::read_to_string(&f).unwrap();
        for n in &needles {
            assert!(!text.contains(n.as_str()), "{} contains {n}", f.display());
        }
    }
}
