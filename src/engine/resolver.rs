//! `import` for scripts: only the shipped `stdlib/` and the recipe folders, never `..` or absolute paths.

use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position, Scope, Shared};
use std::path::PathBuf;

/// Modules shipped inside the binary, so recipes work from any directory.
pub const STDLIB: &[(&str, &str)] = &[
    ("journey", include_str!("../../stdlib/journey.rhai")),
    ("company", include_str!("../../stdlib/company.rhai")),
];

/// Resolves `import "name"`: first the shipped stdlib, then `name.rhai` in each allowed folder.
#[derive(Clone, Debug, Default)]
pub struct RecipeResolver {
    dirs: Vec<PathBuf>,
}

impl RecipeResolver {
    pub fn new(dirs: Vec<PathBuf>) -> Self {
        RecipeResolver { dirs }
    }
}

/// A module name is one or more plain segments: letters, digits, `_` and `-`, separated by `/`.
fn valid_name(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 200
        && path.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
}

impl ModuleResolver for RecipeResolver {
    fn resolve(
        &self,
        engine: &Engine,
        _source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        let name = path.strip_suffix(".rhai").unwrap_or(path);
        if !valid_name(name) {
            // Not wrapped as an error *in* the module: nothing of it was read, and the place to
            // show is the importing script's line.
            return Err(EvalAltResult::ErrorRuntime(
                format!(
                    "import {path:?} refused: modules are named like \"journey\" or \"team/helpers\" and load only from stdlib/ and the recipes folder (no .., no absolute paths)"
                )
                .into(),
                pos,
            )
            .into());
        }
        let stdlib = STDLIB.iter().find(|(n, _)| *n == name);
        if let Some(m) = stdlib.and_then(|(n, _)| stdlib_cache().get(n).cloned()) {
            return Ok(m);
        }
        let text = if let Some((_, src)) = stdlib {
            src.to_string()
        } else {
            let found = self
                .dirs
                .iter()
                .map(|d| (d, d.join(format!("{name}.rhai"))))
                .find(|(_, p)| p.is_file());
            if let Some(reason) = found
                .as_ref()
                .and_then(|(d, p)| super::limits::link_leaving(p, d))
            {
                return Err(
                    EvalAltResult::ErrorModuleNotFound(format!("{path} ({reason})"), pos).into(),
                );
            }
            match found.map(|(_, p)| p) {
                Some(p) => super::limits::read_script_file(&p).map_err(|e| {
                    Box::new(EvalAltResult::ErrorModuleNotFound(
                        format!("{path} ({e})"),
                        pos,
                    ))
                })?,
                None => {
                    return Err(EvalAltResult::ErrorModuleNotFound(path.to_string(), pos).into())
                }
            }
        };
        let mut ast = engine
            .compile(&text)
            .map_err(|e| EvalAltResult::ErrorInModule(path.to_string(), e.into(), pos))?;
        ast.set_source(name);
        let module: Shared<Module> = Module::eval_ast_as_new(Scope::new(), &ast, engine)
            .map_err(|e| EvalAltResult::ErrorInModule(path.to_string(), e, pos))?
            .into();
        if let Some((n, _)) = stdlib {
            // Shipped modules only define functions: evaluated once, shared by every run.
            let _ = stdlib_cache().insert(n, module.clone());
        }
        Ok(module)
    }
}

/// The shipped modules, once evaluated.
fn stdlib_cache(
) -> std::sync::MutexGuard<'static, std::collections::HashMap<&'static str, Shared<Module>>> {
    static CACHE: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<&'static str, Shared<Module>>>,
    > = std::sync::OnceLock::new();
    CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape() {
        for bad in [
            "../x",
            "/etc/passwd",
            "a/../b",
            "a\\b",
            "",
            "./x",
            "a//b",
            "x y",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
        for good in ["journey", "team/helpers", "a-b_c1"] {
            assert!(valid_name(good), "{good}");
        }
    }
}
