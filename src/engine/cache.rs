//! Compiled scripts, kept: a recipe run many times (bulk work, `batch::run`, the daemon) is
//! parsed once per process, not once per run.
//!
//! Keyed by the exact source text and the limits that shape parsing, so an edited recipe is
//! compiled afresh; only successful compiles are kept, and the cache is bounded.

use rhai::{Engine, ParseError, AST};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Entries kept before the cache starts afresh (REPL lines and one-off scripts pass through too).
const MAX_ENTRIES: usize = 256;

type Key = (String, usize, usize, usize);

fn cache() -> &'static Mutex<HashMap<Key, Arc<AST>>> {
    static CACHE: OnceLock<Mutex<HashMap<Key, Arc<AST>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// `engine.compile(source)`, reusing an earlier compile of the same text.
pub fn compile_cached(engine: &Engine, source: &str) -> Result<Arc<AST>, ParseError> {
    // Every engine is built by `build_engine`, so only the limits checked while parsing differ.
    let key = (
        source.to_string(),
        engine.max_expr_depth(),
        engine.max_function_expr_depth(),
        engine.max_string_size(),
    );
    if let Some(ast) = cache().lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(ast.clone());
    }
    let ast = Arc::new(engine.compile(source)?);
    let mut kept = cache().lock().unwrap_or_else(|p| p.into_inner());
    if kept.len() >= MAX_ENTRIES {
        kept.clear();
    }
    kept.insert(key, ast.clone());
    Ok(ast)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_text_compiles_once() {
        let engine = Engine::new();
        let a = compile_cached(&engine, "let cache_test = 40; cache_test + 2").unwrap();
        let b = compile_cached(&engine, "let cache_test = 40; cache_test + 2").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(engine.eval_ast::<i64>(&b).unwrap(), 42);
        assert!(compile_cached(&engine, "let = ;").is_err());
    }
}
