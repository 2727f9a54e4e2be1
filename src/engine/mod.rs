//! The Rhai engine: one setup (modules, limits, print and log routing) shared by every way of running scripts.
//!
//! Native functions reach the BT client through the engine's *tag*: a [`Runtime`] set once per
//! run. The engine itself carries no connection, so `btw check`, `btw defs` and REPL help build
//! the same engine without one.

pub(crate) mod bindings;
mod cache;
pub(crate) mod convert;
mod failure;
pub mod limits;
mod output;
pub(crate) mod progress;
mod resolver;
mod run;

pub use cache::compile_cached;
pub use failure::{check, classify, compile, exit, Failure, Location};
pub use output::{LogLevel, Output, StdOutput, VecOutput};
pub use resolver::RecipeResolver;
pub use run::{engine_for, evaluate, RunContext, Script};

use crate::api::BtClient;
use crate::config::{Limits, Profile};
use crate::store::{EventHub, Store};
use rhai::{Dynamic, Engine};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Cancels a run from outside: Ctrl-C, the run's timeout, daemon shutdown.
#[derive(Clone, Debug)]
pub struct Cancel {
    flag: Arc<AtomicBool>,
    timed_out: Arc<AtomicBool>,
    lease_lost: Arc<AtomicBool>,
    /// Why the store stopped answering mid-run, when it did (see [`Cancel::lose_store`]).
    store_lost: Arc<std::sync::Mutex<Option<String>>>,
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Cancel {
    fn default() -> Self {
        let (tx, _) = watch::channel(false);
        Cancel {
            flag: Arc::new(AtomicBool::new(false)),
            timed_out: Arc::new(AtomicBool::new(false)),
            lease_lost: Arc::new(AtomicBool::new(false)),
            store_lost: Arc::default(),
            tx: Arc::new(tx),
        }
    }
}

impl Cancel {
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.tx.send_replace(true);
    }
    /// Cancels because the run's time limit passed (reported as a limit, not an interruption).
    pub fn time_out(&self) {
        self.timed_out.store(true, Ordering::SeqCst);
        self.cancel();
    }
    pub fn is_timed_out(&self) -> bool {
        self.timed_out.load(Ordering::SeqCst)
    }
    /// Cancels because the run's lease is gone (another process took the run over): the run
    /// stops at once, and whoever runs it writes nothing more for it.
    pub fn lose_lease(&self) {
        self.lease_lost.store(true, Ordering::SeqCst);
        self.cancel();
    }
    pub fn is_lease_lost(&self) -> bool {
        self.lease_lost.load(Ordering::SeqCst)
    }
    /// Cancels because the store could not record a step (PostgreSQL restarting, a full disk):
    /// the run stops at once, unfinished, rather than go on unrecorded or end `failed` for
    /// the store's sake. Its ledger holds what it did, so resuming it (the daemon does, once
    /// the store answers; `btw run --resume` by hand) sends no BT call twice.
    pub fn lose_store(&self, why: String) {
        *self.store_lost.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
        self.cancel();
    }
    /// Why the store stopped answering, if the run was stopped for it.
    pub fn store_lost(&self) -> Option<String> {
        self.store_lost
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
    /// Re-arms a run stopped for the store ([`Cancel::lose_store`]) to resume it: clears that
    /// and the cancel, but never a lost lease.
    pub fn rearm_after_store(&self) {
        *self.store_lost.lock().unwrap_or_else(|p| p.into_inner()) = None;
        if !self.is_lease_lost() {
            self.flag.store(false, Ordering::SeqCst);
            self.tx.send_replace(false);
        }
    }
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
    /// Resets a cancelled flag (the REPL keeps one per session and re-arms it after Ctrl-C).
    pub fn reset(&self) {
        self.flag.store(false, Ordering::SeqCst);
        self.timed_out.store(false, Ordering::SeqCst);
        self.lease_lost.store(false, Ordering::SeqCst);
        *self.store_lost.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.tx.send_replace(false);
    }
    /// Resolves once cancelled.
    pub async fn cancelled(&self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|c| *c).await;
    }
}

/// A run's slot among the runs the daemon lets do script work at once. A wait (`order::wait`,
/// `events::wait`, `time::sleep`, `time::sleep_until`) gives it back and takes one again before
/// the script goes on, so slots bound script work, not waiting: a run waiting an hour for BT
/// costs a parked thread, not a slot. The daemon sets it; the engine knows nothing of its slots.
pub trait WaitSlot: Send + Sync {
    /// Gives the slot back: the run is about to wait.
    fn release(&self);
    /// Takes a slot again, waiting for one while all are busy: the wait is over.
    fn reacquire(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>>;
}

/// What a script's native functions need while it runs.
pub struct Runtime {
    pub client: BtClient,
    pub handle: tokio::runtime::Handle,
    pub profile: Profile,
    pub cug: String,
    pub billing_account: String,
    pub out: Arc<dyn Output>,
    pub cancel: Cancel,
    /// How often `order::wait` polls.
    pub poll_interval: Duration,
    /// The run's id: the ledger's key and the prefix of generated `externalId`s.
    pub run_id: String,
    /// The ledger of mutating calls; without one, calls are made but not recorded.
    pub ledger: Option<Store>,
    /// The lease the run's writes are fenced by (a `batch::run` item's: its parent's).
    pub fence: Option<crate::store::Fence>,
    /// The run's lease and start record, when they wait for its first use of the store; the
    /// fence then comes from here.
    pub begin: Option<Arc<Begin>>,
    /// Order notifications received by this process's callback listener; without them,
    /// waits poll BT.
    pub events: Option<EventHub>,
    /// The listener feeding `events`, registered on the run's first mutating call or wait;
    /// none: `events` is fed already (or not at all).
    pub notifications: Option<crate::callbacks::OnDemand>,
    /// The run's limits, for the recipes it starts itself (`batch::run`).
    pub limits: Limits,
    /// Folders `batch::run` finds recipes in (the script's own); none: the current folder.
    pub dirs: Vec<PathBuf>,
    /// The running script's folder: `schedule::at/cron` resolve relative recipe paths against it.
    pub script_dir: Option<PathBuf>,
    /// Mutating calls made so far in this run (the ledger's step numbers).
    pub(crate) step: std::sync::atomic::AtomicU64,
    /// `btw::unique_suffix` calls so far: with the run id, the seed of the next suffix.
    pub(crate) suffixes: std::sync::atomic::AtomicU64,
    /// How many `batch::run` calls this run is nested in (0: a top-level run).
    pub(crate) batch_depth: usize,
    /// Whether raw mutating requests (`bt::post`, …) may be sent: in the REPL only, as a
    /// recipe's ledger cannot make them exactly-once.
    pub interactive: bool,
    /// The run's slot, given back while it waits (see [`WaitSlot`]).
    pub slot: Option<Arc<dyn WaitSlot>>,
}

impl Runtime {
    /// The runtime of run `run_id` in `ctx`, its BT calls on `handle`, for a script in
    /// `script_dir` (its imports, `batch::run` recipes and `schedule::at` paths resolve there).
    /// The one place a runtime is assembled: runs, `batch::run` items ([`Runtime::child`]) and
    /// the REPL all come through here.
    pub fn new(
        ctx: &RunContext,
        handle: tokio::runtime::Handle,
        run_id: String,
        script_dir: Option<PathBuf>,
    ) -> Self {
        let poll_interval = ctx
            .poll_interval
            .unwrap_or(if ctx.profile == Profile::Sandbox {
                Duration::from_millis(250)
            } else {
                Duration::from_secs(5)
            });
        Runtime {
            client: run_clock(ctx, &run_id),
            handle,
            profile: ctx.profile,
            cug: ctx.cug.clone(),
            billing_account: ctx.billing_account.clone(),
            out: ctx.out.clone(),
            cancel: ctx.cancel.clone(),
            poll_interval,
            run_id,
            ledger: ctx.store.clone(),
            fence: ctx.fence.clone(),
            begin: ctx.begin.clone(),
            events: ctx.events.clone(),
            notifications: ctx.notifications.clone(),
            limits: ctx.limits.clone(),
            dirs: script_dir.clone().into_iter().collect(),
            script_dir,
            step: Default::default(),
            suffixes: Default::default(),
            batch_depth: 0,
            interactive: false,
            slot: ctx.slot.clone(),
        }
    }

    /// What this runtime was made from, for the runs it starts itself.
    pub fn context(&self) -> RunContext {
        RunContext {
            client: self.client.clone(),
            profile: self.profile,
            cug: self.cug.clone(),
            billing_account: self.billing_account.clone(),
            limits: self.limits.clone(),
            out: self.out.clone(),
            cancel: self.cancel.clone(),
            poll_interval: Some(self.poll_interval),
            store: self.ledger.clone(),
            fence: self.fence.clone(),
            defer_start: false,
            begin: self.begin.clone(),
            resume: None,
            events: self.events.clone(),
            notifications: self.notifications.clone(),
            supplied: &[],
            // The runs this one starts (`batch::run` items) work inside its slot: if each gave
            // it back on its own waits, the one slot would be released and taken many times over.
            slot: None,
        }
    }

    /// A run started by this one (a `batch::run` item): the same connection, ledger, cancel and
    /// limits, its own run id and steps, one level deeper.
    pub fn child(&self, run_id: String, script_dir: PathBuf) -> Runtime {
        let mut rt = Runtime::new(
            &self.context(),
            self.handle.clone(),
            run_id,
            Some(script_dir),
        );
        rt.batch_depth = self.batch_depth + 1;
        rt
    }

    /// Runs `script` as a run started by this one ([`Runtime::child`]), through the same
    /// evaluation and failure classification as every run: the script surface starts runs
    /// without building engines itself.
    pub(crate) fn run_child(
        &self,
        run_id: String,
        script: &Script,
        params: serde_json::Map<String, serde_json::Value>,
    ) -> Result<serde_json::Value, Failure> {
        let dir = script.dir.clone().unwrap_or_else(|| PathBuf::from("."));
        run::evaluate(self.child(run_id, dir), script, params)
    }

    /// Registers the notification listener if the run has not yet: before its first mutating
    /// call, so no notification about what it changes is missed.
    pub(crate) fn before_mutating(&self) {
        if let Some(n) = &self.notifications {
            if !n.is_registered() {
                self.handle.block_on(n.ensure());
            }
        }
    }

    /// The notifications a wait can count on (registering the listener first, when this is
    /// the run's first need of it); none: the wait polls.
    pub(crate) fn live_events(&self) -> Option<&EventHub> {
        let hub = self.events.as_ref()?;
        match &self.notifications {
            Some(n) if !n.is_registered() => self.handle.block_on(n.ensure()).then_some(hub),
            _ => Some(hub),
        }
    }

    /// Runs `wait` with the run's slot given back, and takes a slot again before the script
    /// goes on (at once without a slot: `btw run`).
    pub(crate) fn waiting<T>(&self, wait: impl FnOnce() -> T) -> T {
        let Some(slot) = &self.slot else {
            return wait();
        };
        slot.release();
        let out = wait();
        self.handle.block_on(slot.reacquire());
        out
    }

    /// The next step number of this run. Deterministic: a resumed run numbers its calls the same.
    pub(crate) fn next_step(&self) -> u64 {
        self.step.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The lease the run's writes are fenced by: with a deferred start, taken now (and the
    /// run's start recorded) when this is the run's first use of the store. `Err`: the run
    /// could not be recorded, so nothing it does may be.
    pub(crate) fn write_fence(&self) -> Result<Option<&crate::store::Fence>, String> {
        match &self.begin {
            Some(b) => b.fence().map(Some),
            None => Ok(self.fence.as_ref()),
        }
    }

    /// Where the ledger keeps step `step` of this run (starting the run's records if they
    /// wait for this first use).
    pub(crate) fn ledger_step(
        &self,
        step: u64,
        operation: crate::api::Operation,
    ) -> Result<crate::ledger::Step<'_>, String> {
        let fence = match self.ledger {
            Some(_) => self.write_fence()?,
            None => None,
        };
        Ok(crate::ledger::Step {
            store: self.ledger.as_ref(),
            fence,
            run_id: &self.run_id,
            step,
            operation,
            // A deferred start is a new run's (and its `batch::run` items'): nothing recorded.
            fresh: self.begin.is_some(),
        })
    }

    /// Ten hex digits that name step `step` of this run: the same on every attempt and on
    /// resume (so a resumed step makes the same request), different for every run and step.
    pub(crate) fn step_token(&self, step: u64) -> String {
        crate::store::recipe_hash(&format!("{}:{step}", self.run_id))[..10].to_string()
    }

    /// The external id of a create made at `step`: the same on every attempt and on resume, so BT
    /// can be asked whether it already has it.
    pub fn external_id(&self, step: u64) -> String {
        format!("btw-{}-{step}", self.run_id)
    }
}

/// The client a run calls BT with: on the sandbox, on a clock of the run's own (named by its
/// run id, so a resumed run finds its time again), unless the context already puts it on one
/// (a `batch::run` item shares its parent's; a scheduled job runs on the clock it was scheduled
/// on). Elsewhere the context's client as it is.
fn run_clock(ctx: &RunContext, run_id: &str) -> BtClient {
    if ctx.profile == Profile::Sandbox && ctx.client.clock().is_none() {
        ctx.client.on_clock(&clock_id(run_id))
    } else {
        ctx.client.clone()
    }
}

/// A sandbox clock id for run `run_id`: the characters the sandbox accepts, at most 64.
pub fn clock_id(run_id: &str) -> String {
    let id: String = run_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._:-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if id.is_empty() {
        "run".to_string()
    } else {
        id
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("profile", &self.profile)
            .field("cug", &self.cug)
            .field("run_id", &self.run_id)
            .finish_non_exhaustive()
    }
}

/// A run's lease and start record, taken on the run's first use of the store (its first BT
/// call, a job it schedules) instead of before it starts, when the runner defers them
/// ([`RunContext::defer_start`]).
pub struct Begin {
    take: std::sync::Mutex<Option<TakeLease>>,
    fence: std::sync::OnceLock<Result<crate::store::Fence, String>>,
}

type TakeLease = Box<dyn FnOnce() -> Result<crate::store::Fence, String> + Send>;

impl Begin {
    /// `take` takes the lease and records the start, once, on a blocking thread.
    pub fn new(
        take: impl FnOnce() -> Result<crate::store::Fence, String> + Send + 'static,
    ) -> Begin {
        Begin {
            take: std::sync::Mutex::new(Some(Box::new(take))),
            fence: std::sync::OnceLock::new(),
        }
    }

    /// The run's fence, taking the lease now if this is the first ask; its failure stays.
    pub fn fence(&self) -> Result<&crate::store::Fence, String> {
        self.fence
            .get_or_init(|| {
                let take = self.take.lock().unwrap_or_else(|p| p.into_inner()).take();
                take.map_or_else(|| Err("the run's start was not recorded".into()), |t| t())
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The fence, if the run has begun (its start recorded under its lease).
    pub fn begun(&self) -> Option<&crate::store::Fence> {
        self.fence.get().and_then(|r| r.as_ref().ok())
    }
}

/// Why a run was stopped from outside the script.
pub const CANCELLED: &str = "cancelled";
pub const TIMED_OUT: &str = "run timed out";

/// Options for building an engine.
#[derive(Clone, Debug, Default)]
pub struct EngineOptions {
    pub limits: Limits,
    /// Folders `import` may load modules from, besides the shipped `stdlib/`.
    pub module_dirs: Vec<PathBuf>,
    /// Rhai's whole standard library registered up front, so that every function shows in
    /// signatures and definitions (the prompt, `btw defs`); otherwise a run looks each one up
    /// when it is first called, which spares a process most of the library's set-up.
    pub full_library: bool,
}

/// Builds the engine every run uses. `out` receives `print`, `debug` and `log::*`;
/// `cancel` and the limits' timeout stop a running script at its next operation.
pub fn build_engine(opts: &EngineOptions, out: Arc<dyn Output>, cancel: Cancel) -> Engine {
    // `Engine::new()`, less its default resolver and print (both replaced below), with the
    // standard library built once per process and shared, not rebuilt for every run.
    let mut engine = Engine::new_raw();
    engine.set_max_strings_interned(256);
    engine.register_global_module(standard_package(opts.full_library));
    let l = &opts.limits;
    engine.set_max_operations(l.max_operations);
    engine.set_max_call_levels(l.max_call_depth);
    engine.set_max_expr_depths(l.max_expr_depth, l.max_expr_depth);
    engine.set_max_string_size(l.max_string_size);
    engine.set_max_array_size(l.max_array_size);
    engine.set_max_map_size(l.max_map_size);
    engine.set_max_modules(64);
    // `eval` would run text the checker never saw, outside every static check.
    engine.disable_symbol("eval");
    engine.set_module_resolver(RecipeResolver::new(opts.module_dirs.clone()));

    let deadline =
        (l.timeout_secs > 0).then(|| Instant::now() + Duration::from_secs(l.timeout_secs));
    engine.on_progress(move |_ops| {
        if cancel.is_cancelled() {
            return Some(Dynamic::from(CANCELLED));
        }
        match deadline {
            Some(d) if Instant::now() >= d => Some(Dynamic::from(TIMED_OUT)),
            _ => None,
        }
    });
    let print_out = out.clone();
    engine.on_print(move |s| print_out.print(s));
    let debug_out = out;
    engine.on_debug(move |s, _src, pos| {
        debug_out.log(LogLevel::Debug, &format!("{pos:?}: {s}"));
    });
    bindings::register_all(&mut engine);
    engine
}

/// Rhai's standard package, built once per process in each form: `full`, every function
/// registered with its metadata (what signatures and definitions list); otherwise the functions
/// of its plugin modules are looked up when first called, which is most of the library's
/// set-up left undone by a run that calls few of them.
pub(crate) fn standard_package(full: bool) -> rhai::Shared<rhai::Module> {
    use rhai::packages::{Package, StandardPackage};
    type Std = std::sync::OnceLock<rhai::Shared<rhai::Module>>;
    static FULL: Std = std::sync::OnceLock::new();
    static LAZY: Std = std::sync::OnceLock::new();
    if full {
        FULL.get_or_init(|| StandardPackage::new().as_shared_module())
    } else {
        LAZY.get_or_init(|| StandardPackage::new_lazy().as_shared_module())
    }
    .clone()
}

/// Attaches a runtime to an engine, so native functions can call BT.
pub fn attach(engine: &mut Engine, rt: Arc<Runtime>) {
    engine.set_default_tag(Dynamic::from(rt));
}
