//! Group commit for the ledger's hot path: writes from many concurrent runs are applied by one
//! thread, many to a transaction, and each caller still waits until its own write is committed.
//!
//! Every write is its own savepoint inside the batch, so one failing write fails alone.
//! SQLite pays per transaction far more than per statement; under concurrency this turns dozens
//! of commits into one, without weakening "recorded before the call is sent".

use super::exec::SqliteExec;
use crate::store::exec::Write;
use rusqlite::Connection;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};

/// A write to apply; it returns how many rows it changed.
pub(super) type WriteOp = Box<dyn FnOnce(&Connection) -> Result<usize, String> + Send>;

/// Where a write's outcome goes: to a caller waiting for its commit, or to the log.
enum Reply {
    Waiting(SyncSender<Result<usize, String>>),
    /// Queued without waiting (a read's record): a failure can only be logged.
    Queued(&'static str),
}

enum Msg {
    Write(WriteOp, Reply),
    /// Apply what came before, then end the thread and release the connection.
    Stop(SyncSender<()>),
}

/// The queue into the writer thread. Dropping the last clone, or [`Writer::stop`], ends it.
#[derive(Clone)]
pub(super) struct Writer {
    tx: Sender<Msg>,
}

/// Writes applied in one transaction at most.
const MAX_BATCH: usize = 256;

impl Writer {
    pub fn start(conn: Arc<Mutex<Connection>>) -> Writer {
        let (tx, rx) = mpsc::channel::<Msg>();
        std::thread::Builder::new()
            .name("btw-store-writer".into())
            .spawn(move || run(conn, rx))
            .expect("start the store's writer thread");
        Writer { tx }
    }

    /// Applies `op` and returns once it is committed (or failed).
    pub fn write(&self, op: WriteOp) -> Result<usize, String> {
        let (done, wait) = mpsc::sync_channel(1);
        self.tx
            .send(Msg::Write(op, Reply::Waiting(done)))
            .map_err(|_| "the store's writer has stopped".to_string())?;
        wait.recv()
            .map_err(|_| "the store's writer stopped before the write was committed".to_string())?
    }

    /// Queues `op` without waiting for its commit. Writes are applied in the order they are
    /// queued, so it is durable no later than the next [`Writer::write`] returns.
    pub fn queue(&self, op: WriteOp, what: &'static str) -> Result<(), String> {
        self.tx
            .send(Msg::Write(op, Reply::Queued(what)))
            .map_err(|_| "the store's writer has stopped".to_string())
    }

    /// Applies everything queued so far, then ends the thread (its hold on the connection
    /// with it). Later writes fail with "the store's writer has stopped".
    pub fn stop(&self) {
        let (done, wait) = mpsc::sync_channel(1);
        if self.tx.send(Msg::Stop(done)).is_ok() {
            let _ = wait.recv();
        }
    }
}

/// A shared statement as a write the writer thread applies.
pub(super) fn shared(w: Write) -> WriteOp {
    Box::new(move |conn| {
        w.apply(&mut SqliteExec::new(conn))
            .map(|n| n as usize)
            .map_err(|e| e.0)
    })
}

fn run(conn: Arc<Mutex<Connection>>, rx: Receiver<Msg>) {
    let mut stop = None;
    while let Ok(first) = rx.recv() {
        let mut batch = Vec::new();
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Write(op, reply) => batch.push((op, reply)),
                Msg::Stop(done) => {
                    stop = Some(done);
                    break;
                }
            }
            if batch.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            let replies = apply(&mut guard, batch);
            drop(guard);
            for (reply, result) in replies {
                answer(reply, result);
            }
        }
        if stop.is_some() {
            break;
        }
    }
    // The connection's last holder may be this thread: release it before saying so.
    drop(conn);
    if let Some(done) = stop {
        let _ = done.send(());
    }
}

fn answer(reply: Reply, result: Result<usize, String>) {
    match (reply, result) {
        (Reply::Waiting(done), result) => {
            let _ = done.send(result);
        }
        (Reply::Queued(what), Err(e)) => {
            tracing::warn!("the ledger could not record {what}: {e}");
        }
        (Reply::Queued(_), Ok(_)) => {}
    }
}

fn apply(
    conn: &mut Connection,
    batch: Vec<(WriteOp, Reply)>,
) -> Vec<(Reply, Result<usize, String>)> {
    let mut tx = match conn.transaction() {
        Ok(tx) => tx,
        Err(e) => {
            return batch
                .into_iter()
                .map(|(_, reply)| (reply, Err(format!("cannot begin a transaction: {e}"))))
                .collect();
        }
    };
    let mut replies = Vec::with_capacity(batch.len());
    for (op, reply) in batch {
        let result = match tx.savepoint() {
            Ok(sp) => match op(&sp) {
                Ok(n) => sp.commit().map(|_| n).map_err(|e| e.to_string()),
                // Dropping the savepoint rolls this write back; the others stand.
                Err(e) => Err(e),
            },
            Err(e) => Err(e.to_string()),
        };
        replies.push((reply, result));
    }
    if let Err(e) = tx.commit() {
        let why = format!("commit failed: {e}");
        return replies
            .into_iter()
            .map(|(reply, _)| (reply, Err(why.clone())))
            .collect();
    }
    replies
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_writes_are_all_committed_and_a_failure_stays_alone() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY)")
            .unwrap();
        let conn = Arc::new(Mutex::new(conn));
        let w = Writer::start(conn.clone());
        let handles: Vec<_> = (0..64)
            .map(|i| {
                let w = w.clone();
                std::thread::spawn(move || {
                    w.write(Box::new(move |c: &Connection| {
                        c.execute("INSERT INTO t (k) VALUES (?1)", [i % 63])
                            .map_err(|e| e.to_string())
                    }))
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        // 0 and 63 collide: exactly one of them fails, everything else is in.
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
        let n: i64 = conn
            .lock()
            .unwrap()
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 63);
    }

    #[test]
    fn queued_writes_are_applied_in_order_before_the_next_waited_one_returns() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
            .unwrap();
        let conn = Arc::new(Mutex::new(conn));
        let w = Writer::start(conn.clone());
        for i in 0..100 {
            w.queue(
                Box::new(move |c: &Connection| {
                    c.execute("INSERT INTO t (k, v) VALUES (?1, 'read')", [i])
                        .map_err(|e| e.to_string())
                }),
                "a test read",
            )
            .unwrap();
        }
        // A queued write that fails is logged, and does not hold back the ones after it.
        w.queue(
            Box::new(|c: &Connection| {
                c.execute("INSERT INTO t (k, v) VALUES (0, 'dup')", [])
                    .map_err(|e| e.to_string())
            }),
            "a duplicate",
        )
        .unwrap();
        w.write(Box::new(|c: &Connection| {
            c.execute("INSERT INTO t (k, v) VALUES (100, 'write')", [])
                .map_err(|e| e.to_string())
        }))
        .unwrap();
        let n: i64 = conn
            .lock()
            .unwrap()
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 101);
        w.stop();
        assert!(w.write(Box::new(|_| Ok(0))).is_err());
        // The thread let go of the connection: this is its last holder.
        assert_eq!(Arc::strong_count(&conn), 1);
    }
}
