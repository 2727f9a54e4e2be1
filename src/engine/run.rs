//! One way to assemble and evaluate a run: the script, what the run needs from its surroundings
//! ([`RunContext`]), its [`Runtime`], and the evaluation with its failure classified. The runner
//! (`btw run`, the daemon), `batch::run` items and the REPL all build their runtimes here; the
//! runner adds leases, run records and the time limit around it.

use super::failure::{classify, Failure, Location};
use super::{build_engine, compile_cached, convert, Cancel, EngineOptions, Output, Runtime};
use crate::api::BtClient;
use crate::config::{Limits, Profile, Settings};
use crate::store::{EventHub, Store};
use rhai::{Dynamic, Engine, Scope};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A script to run or check: its name for messages, its text, and the folder its imports may use.
#[derive(Clone, Debug)]
pub struct Script {
    pub name: String,
    pub source: String,
    pub dir: Option<PathBuf>,
    /// The file's absolute path, recorded so `--resume` finds it from any folder.
    pub path: Option<PathBuf>,
}

impl Script {
    pub fn from_file(path: &Path) -> Result<Script, Failure> {
        let source =
            super::limits::read_script_file(path).map_err(|message| Failure::Usage { message })?;
        Ok(Script {
            name: path.display().to_string(),
            path: std::fs::canonicalize(path).ok(),
            source,
            dir: path.parent().map(|p| {
                if p.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    p.to_path_buf()
                }
            }),
        })
    }

    pub fn inline(name: &str, source: &str) -> Script {
        Script {
            name: name.to_string(),
            source: source.to_string(),
            dir: None,
            path: None,
        }
    }
}

impl Script {
    /// The script's header (`//!` lines): its name, parameters and trigger.
    pub fn header(&self) -> Result<crate::recipe::Header, Failure> {
        crate::recipe::parse_header(&self.source).map_err(|e| Failure::Usage {
            message: format!("{}:{}: {}", self.name, e.line, e.message),
        })
    }

    /// The parameters the script declares `secret`: hidden wherever its parameters are shown.
    pub fn secret_params(&self) -> Vec<String> {
        crate::recipe::parse_header(&self.source)
            .map(|h| h.params.secret_names())
            .unwrap_or_default()
    }
}

/// Everything one run needs from its surroundings.
#[derive(Clone)]
pub struct RunContext {
    pub client: BtClient,
    pub profile: Profile,
    pub cug: String,
    pub billing_account: String,
    pub limits: Limits,
    pub out: Arc<dyn Output>,
    pub cancel: Cancel,
    /// Poll interval override for `order::wait` (tests speed it up).
    pub poll_interval: Option<Duration>,
    /// The store for the ledger and run records; without one, nothing is recorded.
    pub store: Option<Store>,
    /// The run's lease, held by the caller (the daemon): the runner then takes none, fences
    /// the run's writes by it and leaves recording the end to the caller. None: the runner
    /// takes the lease itself (with a store).
    pub fence: Option<crate::store::Fence>,
    /// Re-run this run id: steps its ledger has as done return their recorded results.
    pub resume: Option<String>,
    /// Notifications received by this process, for `order::wait` and `events::wait`.
    pub events: Option<EventHub>,
    /// The listener feeding `events`, registered on the run's first mutating call or wait.
    pub notifications: Option<crate::callbacks::OnDemand>,
    /// Parameters the run's origin adds beyond the recipe's declaration (a trigger's
    /// `order_id`, …): they count as declared.
    pub supplied: &'static [&'static str],
    /// The run's share of the daemon's capacity, given back while it waits (see [`WaitSlot`]);
    /// none: nothing to give back (`btw run`, the REPL, `batch::run` items).
    pub slot: Option<Arc<dyn super::WaitSlot>>,
    /// Whether the runner leaves taking the lease and recording the start of a new run to the
    /// run's first use of the store ([`super::Begin`]): a run that makes no BT call, schedules
    /// nothing and reads no stored event then never opens the store, and is not recorded.
    pub defer_start: bool,
    /// The run's deferred start, shared with the runs it starts (`batch::run` items); set by
    /// the runner.
    pub begin: Option<Arc<super::Begin>>,
}

impl RunContext {
    /// A context for `client` on `profile` with default limits: no store, no notifications,
    /// not resuming, the engine's own poll interval; the `with_*` methods set the rest.
    pub fn new(client: BtClient, profile: Profile, out: Arc<dyn Output>) -> RunContext {
        RunContext {
            client,
            profile,
            cug: String::new(),
            billing_account: String::new(),
            limits: Limits::default(),
            out,
            cancel: Cancel::default(),
            poll_interval: None,
            store: None,
            fence: None,
            resume: None,
            events: None,
            notifications: None,
            supplied: &[],
            slot: None,
            defer_start: false,
            begin: None,
        }
    }

    /// A context with the settings' profile, account and limits.
    pub fn for_settings(client: BtClient, settings: &Settings, out: Arc<dyn Output>) -> RunContext {
        RunContext::new(client, settings.profile, out)
            .with_account(&settings.cug, &settings.billing_account)
            .with_limits(settings.limits.clone())
    }

    pub fn with_account(mut self, cug: &str, billing_account: &str) -> RunContext {
        self.cug = cug.to_string();
        self.billing_account = billing_account.to_string();
        self
    }

    pub fn with_limits(mut self, limits: Limits) -> RunContext {
        self.limits = limits;
        self
    }

    pub fn with_cancel(mut self, cancel: Cancel) -> RunContext {
        self.cancel = cancel;
        self
    }

    pub fn with_store(mut self, store: Option<Store>) -> RunContext {
        self.store = store;
        self
    }

    pub fn with_events(mut self, events: Option<EventHub>) -> RunContext {
        self.events = events;
        self
    }

    /// The listener to register on the run's first mutating call or wait.
    pub fn with_notifications(
        mut self,
        notifications: Option<crate::callbacks::OnDemand>,
    ) -> RunContext {
        self.notifications = notifications;
        self
    }

    /// Leaves the lease and the start record of a new run to its first use of the store
    /// ([`RunContext::defer_start`]).
    pub fn with_deferred_start(mut self, defer: bool) -> RunContext {
        self.defer_start = defer;
        self
    }

    pub fn with_resume(mut self, run_id: Option<String>) -> RunContext {
        self.resume = run_id;
        self
    }

    pub fn with_poll_interval(mut self, every: Duration) -> RunContext {
        self.poll_interval = Some(every);
        self
    }
}

/// The engine for a runtime: limits, output and cancel from it, imports from `module_dirs`,
/// and the runtime attached so native functions reach BT.
pub fn engine_for(rt: Arc<Runtime>, module_dirs: Vec<PathBuf>) -> Engine {
    let mut engine = build_engine(
        &EngineOptions {
            limits: rt.limits.clone(),
            module_dirs,
            // The prompt lists and completes every function.
            full_library: rt.interactive,
        },
        rt.out.clone(),
        rt.cancel.clone(),
    );
    super::attach(&mut engine, rt);
    engine
}

/// Evaluates `script` with `params` in the runtime `rt` (on the calling, blocking thread): the
/// one evaluation every run, `batch::run` item included, goes through, so failures are
/// classified the same everywhere.
pub fn evaluate(
    rt: Runtime,
    script: &Script,
    params: Map<String, Value>,
) -> Result<Value, Failure> {
    let engine = engine_for(Arc::new(rt), script.dir.clone().into_iter().collect());
    // Compiled once per process and source text: bulk runs of one recipe parse it once.
    let ast = compile_cached(&engine, &script.source).map_err(|e| Failure::Compile {
        message: e.err_type().to_string(),
        location: Location::of(script, None, e.position()),
    })?;
    let mut scope = Scope::new();
    scope.push_constant("params", convert::to_dynamic(&Value::Object(params)));
    let value = engine
        .eval_ast_with_scope::<Dynamic>(&mut scope, &ast)
        .map_err(|e| classify(&engine, script, &e))?;
    convert::to_json(&value).map_err(|e| Failure::Script {
        message: format!("the script's result cannot be reported: {e}"),
        location: None,
        value: None,
    })
}
