//! `btw bench`: the performance harness (see [`crate::bench`]).

use super::{code, Outcome};
use crate::cli::BenchArgs;

pub(super) async fn command(args: BenchArgs) -> Outcome {
    Ok(code(crate::bench::main(args).await))
}
