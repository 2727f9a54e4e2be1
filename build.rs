//! Link settings for the `btw` binary: packed relative relocations on Linux with glibc.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    // The binary is position-independent with ~70k relative relocations: as RELA entries they are
    // 1.6 MB that the loader reads, and pages it writes, at every start; packed (DT_RELR) they are
    // 26 KB and cost ~1 ms less CPU per run (BENCHMARKS.md). Needs GNU ld 2.38+ (or lld/mold) to
    // link and glibc 2.36+ to run.
    if target.ends_with("linux-gnu") {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
