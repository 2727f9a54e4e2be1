//! Group commit for the ledger's hot path: writes from many concurrent runs are applied by one
//! thread, many to a transaction, and each caller still waits until its own write is committed.
//!
//! Every write is its own savepoint inside the batch, so one failing write fails alone.
//! SQLite pays per transaction far more than per statement; under concurrency this turns dozens
//! of commits into one, without weakening "recorded before the call is sent".

use rusqlite::Connection;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};

/// A write to apply; it returns how many rows it changed.
pub(super) type WriteOp = Box<dyn FnOnce(&Connection) -> rusqlite::Result<usize> + Send>;

struct Job {
    op: WriteOp,
    done: SyncSender<Result<usize, String>>,
}

/// The queue into the writer thread. Dropping the last clone ends the thread.
#[derive(Clone)]
pub(super) struct Writer {
    tx: Sender<Job>,
}

/// Writes applied in one transaction at most.
const MAX_BATCH: usize = 256;

impl Writer {
    pub fn start(conn: Arc<Mutex<Connection>>) -> Writer {
        let (tx, rx) = mpsc::channel::<Job>();
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
            .send(Job { op, done })
            .map_err(|_| "the store's writer has stopped".to_string())?;
        wait.recv()
            .map_err(|_| "the store's writer stopped before the write was committed".to_string())?
    }
}

fn run(conn: Arc<Mutex<Connection>>, rx: Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
        let replies = apply(&mut guard, batch);
        drop(guard);
        for (done, result) in replies {
            let _ = done.send(result);
        }
    }
}

type Reply = (SyncSender<Result<usize, String>>, Result<usize, String>);

fn apply(conn: &mut Connection, batch: Vec<Job>) -> Vec<Reply> {
    let mut tx = match conn.transaction() {
        Ok(tx) => tx,
        Err(e) => {
            return batch
                .into_iter()
                .map(|j| (j.done, Err(format!("cannot begin a transaction: {e}"))))
                .collect();
        }
    };
    let mut replies = Vec::with_capacity(batch.len());
    for job in batch {
        let result = match tx.savepoint() {
            Ok(sp) => match (job.op)(&sp) {
                Ok(n) => sp.commit().map(|_| n).map_err(|e| e.to_string()),
                // Dropping the savepoint rolls this write back; the others stand.
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        };
        replies.push((job.done, result));
    }
    if let Err(e) = tx.commit() {
        let why = format!("commit failed: {e}");
        return replies
            .into_iter()
            .map(|(done, _)| (done, Err(why.clone())))
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
}
