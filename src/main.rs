//! The `btw` binary: everything lives in the library; this only turns its outcome into an exit code.

fn main() {
    std::process::exit(btw::app::main());
}
